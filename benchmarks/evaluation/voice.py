"""The people, numbers and noise of a call: template fields, numbers spoken in words, neutral talk and
the recogniser's errors. Nothing here carries a control point: neutral talk and call frames never name
the advisor, the firm, a guarantee or a right.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Mapping

UNITS = [
    "zéro",
    "un",
    "deux",
    "trois",
    "quatre",
    "cinq",
    "six",
    "sept",
    "huit",
    "neuf",
    "dix",
    "onze",
    "douze",
    "treize",
    "quatorze",
    "quinze",
    "seize",
    "dix-sept",
    "dix-huit",
    "dix-neuf",
]
TENS = {2: "vingt", 3: "trente", 4: "quarante", 5: "cinquante", 6: "soixante", 8: "quatre-vingt"}


def _below_hundred(n: int) -> str:
    if n < 20:
        return UNITS[n]
    tens, unit = divmod(n, 10)
    if tens in (7, 9):  # soixante-dix, quatre-vingt-dix: the teens ride on the lower ten
        base = TENS[tens - 1]
        joiner = " et " if tens == 7 and unit == 1 else "-"
        return base + joiner + UNITS[10 + unit]
    word = TENS[tens]
    if unit == 0:
        return word + ("s" if tens == 8 else "")
    if unit == 1 and tens != 8:
        return word + " et un"
    return word + "-" + UNITS[unit]


def _below_thousand(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    if hundreds == 0:
        return _below_hundred(rest)
    head = "cent" if hundreds == 1 else UNITS[hundreds] + " cent" + ("s" if rest == 0 else "")
    return head if rest == 0 else f"{head} {_below_hundred(rest)}"


def number_words(n: int) -> str:
    """A non-negative integer below a million as French words: 1280 -> "mille deux cent quatre-vingts"."""
    if not 0 <= n < 1_000_000:
        raise ValueError(f"number out of range: {n}")
    thousands, rest = divmod(n, 1000)
    if thousands == 0:
        return _below_thousand(rest)
    head = "mille" if thousands == 1 else _below_thousand(thousands).removesuffix("s") + " mille"
    return head if rest == 0 else f"{head} {_below_thousand(rest)}"


def digits_grouped(n: int) -> str:
    """1200 -> "1 200", as recognisers often print amounts."""
    return f"{n:,}".replace(",", " ")


def amount(n: int, unit: str = "euros") -> tuple[str, ...]:
    """Renderings of an amount: digits, grouped digits, words, the euro sign."""
    words = number_words(n)
    return (f"{n} {unit}", f"{digits_grouped(n)} {unit}", f"{words} {unit}", f"{words} {unit}") + (
        (f"{n}€", f"{n} €") if unit == "euros" else ()
    )


def duration(n: int, unit: str) -> tuple[str, ...]:
    word = number_words(n) if n != 1 else ("une" if unit in ("semaine", "année") else "un")
    plural = unit if n == 1 or unit.endswith("s") else unit + "s"
    return (f"{n} {plural}", f"{word} {plural}", f"{word} {plural}")


FEMALE_FIRST = [
    "Julie",
    "Sandrine",
    "Nadia",
    "Camille",
    "Sophie",
    "Laetitia",
    "Inès",
    "Aurélie",
    "Karima",
    "Céline",
    "Mélanie",
    "Fatou",
]
MALE_FIRST = [
    "Thomas",
    "Karim",
    "Julien",
    "Mehdi",
    "Nicolas",
    "Sébastien",
    "Yanis",
    "Romain",
    "Antoine",
    "Didier",
    "Bruno",
    "Kevin",
]
CLIENT_FEMALE = [
    "Monique",
    "Josiane",
    "Christine",
    "Chantal",
    "Martine",
    "Brigitte",
    "Danielle",
    "Sylvie",
    "Odile",
    "Yvette",
    "Nathalie",
]
CLIENT_MALE = [
    "Gérard",
    "Alain",
    "Bernard",
    "Jean-Pierre",
    "Michel",
    "Daniel",
    "Patrick",
    "Jacques",
    "Christian",
    "René",
    "Serge",
]
LAST = [
    "Martin",
    "Bernard",
    "Dubois",
    "Lefèvre",
    "Moreau",
    "Garnier",
    "Faure",
    "Roux",
    "Fontaine",
    "Chevalier",
    "Mercier",
    "Boyer",
    "Blanchard",
    "Gauthier",
    "Perrin",
    "Morel",
    "Lemaire",
    "Renaud",
    "Brunet",
    "Benali",
    "Diallo",
    "Nguyen",
    "Da Silva",
    "Haddad",
    "Lambert",
    "Colin",
    "Vidal",
]
FIRMS = (
    "Cabinet Lemaire Courtage", "Azur Courtage", "Horizon Assurances Conseil", "Hexagone Courtage Santé",
    "Cabinet Vidal et Associés", "Atlantique Courtage",
)  # fmt: skip
CURRENT_INSURERS = (
    "Harmonie Mutuelle", "la MGEN", "Malakoff Humanis", "la MAAF", "AG2R", "Groupama", "la Mutuelle Générale",
    "Swiss Life", "Axa", "la MACIF", "Generali", "Allianz", "la mutuelle de la Poste", "Ociane",
)  # fmt: skip
NEW_INSURERS = ("April", "Néoliane", "Alptis", "Apivia", "Solly Azar", "Entoria", "Zenioo", "Malakoff")
GAMMES = ("Santé Sérénité", "Essentiel Plus", "Vitalité", "Santé Pro", "Confort Senior", "Harmonie Famille")
LEVELS = ("niveau trois", "niveau 2", "le niveau quatre", "l'option Confort", "l'option Premium", "le palier 3")
CITIES = (
    ("Limoges", "87000"), ("Perpignan", "66000"), ("Angers", "49000"), ("Roubaix", "59100"), ("Nîmes", "30000"),
    ("Besançon", "25000"), ("Vannes", "56000"), ("Saint-Étienne", "42000"), ("Pau", "64000"), ("Colmar", "68000"),
)  # fmt: skip
STREETS = ("rue des Lilas", "avenue Jean Jaurès", "chemin des Vignes", "rue Victor Hugo", "allée des Tilleuls")
MONTHS = [
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
]
MAIL_HOSTS = ("gmail.com", "orange.fr", "free.fr", "hotmail.fr", "laposte.net", "sfr.fr")


def _strip_accents(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")


def _pairs(digits: str) -> list[str]:
    return [digits[i : i + 2] for i in range(0, len(digits), 2)]


def _spoken_pairs(digits: str) -> str:
    return " ".join(("zéro " + UNITS[int(p[1])]) if p[0] == "0" else number_words(int(p)) for p in _pairs(digits))


Fields = dict[str, tuple[str, ...]]


def draw_fields(rng: random.Random, scorecard: str, facts: Mapping[str, bool]) -> Fields:
    """Every template field of one fiche, each with its equivalent renderings (words or digits...)."""
    woman = rng.random() < 0.55
    client_first = rng.choice(CLIENT_FEMALE if woman else CLIENT_MALE)
    client_last = rng.choice(LAST)
    agent_woman = rng.random() < 0.5
    agent_first = rng.choice(FEMALE_FIRST if agent_woman else MALE_FIRST)
    agent_last = rng.choice([n for n in LAST if n != client_last])
    if scorecard == "nca18":
        firm: tuple[str, ...] = ("Net Courtage Assurance", "Net Courtage Assurance", "NCA", "N C A")
    else:
        firm = (rng.choice(FIRMS),)
    orias = "".join(str(rng.randrange(10)) for _ in range(8))
    orias_renderings = (
        orias,
        " ".join(_pairs(orias)),
        _spoken_pairs(orias),
        " ".join(UNITS[int(d)] for d in orias),
    )
    city, postcode = rng.choice(CITIES)
    street_number = rng.randrange(2, 120)
    phone = "06" + "".join(str(rng.randrange(10)) for _ in range(8))
    mail_name = _strip_accents(f"{client_first}.{client_last}").lower().replace(" ", "")
    host = rng.choice(MAIL_HOSTS)
    birth_year = rng.randrange(1940, 1990)
    birth_day = rng.randrange(1, 29)
    birth_month = rng.randrange(12)
    price = rng.randrange(38, 190)
    old_price = price + rng.randrange(-15, 40)
    increase = rng.randrange(4, 25)
    years = rng.randrange(1, 16)
    fees = rng.choice((10, 15, 20, 25, 30))
    budget = rng.choice((50, 60, 70, 80, 100, 120, 150))
    quote = rng.choice((450, 800, 1200, 1500, 2400, 3200, 650))
    refund = quote * rng.choice((40, 50, 60, 70)) // 100
    effect_month = rng.randrange(12)
    ceiling = rng.choice((150, 200, 300, 400, 500))
    waiting = rng.choice((3, 6))
    independent = facts.get("independent", False)
    fields: Fields = {
        "civ": ("madame",) if woman else ("monsieur",),
        "Civ": ("Madame",) if woman else ("Monsieur",),
        "e": ("e",) if woman else ("",),  # agreement of the client's participles
        "spouse": ("mon mari",) if woman else ("ma femme",),
        "ae": ("e",) if agent_woman else ("",),  # agreement of the agent's
        "client_first": (client_first,),
        "client_last": (client_last,),
        "agent_first": (agent_first,),
        "agent_last": (agent_last,),
        "conseiller": ("conseillère",) if agent_woman else ("conseiller",),
        "firm": firm,
        "orias": orias_renderings,
        "insurer": (rng.choice(CURRENT_INSURERS),),
        "other_insurer": (rng.choice(CURRENT_INSURERS),),
        "new_insurer": (rng.choice(NEW_INSURERS),),
        "gamme": (rng.choice(GAMMES),),
        "level": (rng.choice(LEVELS),),
        "price": amount(price),
        "price_year": amount(price * 12),
        "old_price": amount(max(old_price, 25)),
        "increase": amount(increase),
        "years": duration(years, "an"),
        "fees": amount(fees),
        "budget": amount(budget),
        "quote": amount(quote),
        "refund": amount(refund),
        "ceiling": amount(ceiling),
        "waiting": duration(waiting, "mois"),
        "cooling": ("quatorze jours", "14 jours", "deux semaines", "quatorze jours calendaires", "14 jours"),
        "two_years": ("deux ans", "2 ans", "deux années", "vingt-quatre mois"),
        "notice": ("un mois", "1 mois", "deux mois", "trente jours"),
        "effect_date": (f"1er {MONTHS[effect_month]}", f"premier {MONTHS[effect_month]}"),
        "birth": (
            f"{'1er' if birth_day == 1 else birth_day} {MONTHS[birth_month]} {birth_year}",
            f"{number_words(birth_day)} {MONTHS[birth_month]} {number_words(birth_year)}",
            f"{birth_day:02d}/{birth_month + 1:02d}/{birth_year}",
            f"{number_words(birth_day)} {MONTHS[birth_month]} {number_words(birth_year % 100)}",
        ),
        "address": (
            f"{street_number} {rng.choice(STREETS)} à {city}",
            f"{number_words(street_number)} {rng.choice(STREETS)}, {postcode} {city}",
        ),
        "city": (city,),
        "postcode": (postcode, " ".join(_pairs(postcode[:2])) + " " + number_words(int(postcode[2:]))),
        "phone": (" ".join(_pairs(phone)), _spoken_pairs(phone), phone),
        "email": (f"{mail_name}@{host}", f"{mail_name.replace('.', ' point ')} arobase {host.replace('.', ' point ')}"),
        "regime_reply": (
            ("je suis artisan, à mon compte", "je suis auto-entrepreneur", "je suis kiné en libéral")
            if independent
            else ("je suis salarié{e}", "je suis à la retraite", "je suis retraité{e} depuis deux ans", "fonctionnaire")
        ),
        "household_reply": (
            "je suis tout{e} seul{e}",
            "on est deux, avec mon conjoint",
            "avec {spouse} et les deux enfants",
            "moi et ma fille qui est encore à la maison",
        ),
        "ehpad_reply": (
            ("oui, je suis en maison de retraite depuis l'an dernier", "oui, en ehpad, à la résidence des Tilleuls")
            if facts.get("ehpad")
            else ("non non, je suis chez moi", "non, j'habite toujours ma maison", "ah non, pas encore !")
        ),
        "css_reply": (
            ("oui j'ai la complémentaire solidaire", "oui, j'ai la CSS, l'ancienne CMU")
            if facts.get("css")
            else ("non, rien de tout ça", "non non", "non je paye ma mutuelle moi-même")
        ),
        "quote_reply": (
            ("oui, j'ai un devis du dentiste", "oui, l'opticien m'a fait un devis")
            if facts.get("has_quote")
            else ("non, pas pour l'instant", "non, rien en cours")
        ),
        "insurer_reply": (
            ("oui, chez {insurer}", "je suis chez {insurer} depuis {years}", "oui, {insurer}")
            if facts.get("has_insurer", True)
            else ("non, plus rien depuis que j'ai quitté mon travail", "non, j'ai rien en ce moment")
        ),
        "contract_type": (("responsable",) if facts.get("responsible", True) else ("non responsable",)),
    }
    return fields


FIELD = re.compile(r"\{(\w+)\}")


def fill(template: str, fields: Fields, rng: random.Random) -> str:
    """Fields replaced, each occurrence drawing one of its renderings (nested fields filled too)."""
    text = template
    for _ in range(3):
        if "{" not in text:
            break
        text = FIELD.sub(lambda m: rng.choice(fields[m.group(1)]), text)
    if "{" in text:
        raise ValueError(f"unfilled field in {template!r}")
    return text


# Talk that carries no control point: holds, line trouble, small talk, screens that load.
NEUTRAL = (
    "A: excusez-moi, je vous mets en attente une petite seconde | C: oui oui allez-y",
    "C: attendez, je baisse la télé | A: je vous en prie",
    "A: vous m'entendez bien ? | C: oui, ça grésille un peu mais ça va",
    "A: alors, mon écran met un peu de temps à charger | C: ah ces ordinateurs, c'est pareil chez moi",
    "C: il fait beau chez vous ? | A: un peu gris ce matin | C: ici il pleut depuis trois jours",
    "A: je relis mes notes deux secondes | C: hm hm",
    "C: excusez-moi, j'ai un autre appel, vous pouvez patienter ? | A: bien sûr, je reste en ligne",
    "A: vous êtes toujours là ? | C: oui oui je suis là",
    "C: pardon, c'est le chien qui aboie | A: ah ça ne me gêne pas du tout",
    "A: ça a coupé un instant, vous disiez ? | C: non rien, je cherchais mes lunettes de lecture",
    "C: vous êtes où vous, à Paris ? | A: non, on est en province | C: ah c'est bien",
    "A: pardon, il y a du bruit dans le plateau | C: c'est pas grave",
    "C: attendez je prends un stylo | A: prenez votre temps",
    "A: très bien | C: voilà",
    "C: je vous entends mal, vous pouvez parler plus fort ? | A: c'est mieux comme ça ? | C: oui c'est mieux",
    "A: le système rame un peu aujourd'hui | C: ah ben ça arrive",
    "C: ma fille m'avait dit que vous alliez rappeler | A: eh oui, me voilà",
    "A: bon | C: oui",
)

# What a listener says while the other talks on; between two agent turns it keeps them apart.
BACKCHANNEL = ("C: hm hm", "C: oui", "C: d'accord", "C: ah oui", "C: je vois", "C: oui oui", "C: mm", "C: ok")
OUTBOUND_OPEN = (
    "A: allô ? | C: oui allô ?",
    "A: allô, {agent_hello} {civ} {client_last} ? | C: oui c'est moi",
    "C: allô ? | A: {agent_hello} {civ} {client_last} ? | C: oui, c'est moi-même",
    "A: {Civ} {client_last} ? | C: oui, c'est à quel sujet ?",
)
CALLBACK_OPEN = (
    "A: {agent_hello} {civ} {client_last}, je vous rappelle comme convenu | C: ah oui, je vous attendais",
    "A: c'est encore moi, on s'est eu ce matin | C: ah oui, allez-y",
    "C: allô ? | A: oui, c'est pour la suite de notre échange de tout à l'heure | C: ah très bien",
)
INBOUND_CLIENT = (
    "C: oui {client_hello}, je vous appelle parce que j'ai reçu un message",
    "C: {client_hello}, c'est {civ} {client_last}, on s'est parlé hier",
    "C: oui {client_hello}, je rappelle suite à votre mail",
    "C: allô, {client_hello}, vous m'avez laissé un message sur mon répondeur",
)
CLOSE = (
    "A: je vous souhaite une bonne fin de journée | C: merci, vous aussi, au revoir",
    "A: bonne journée {civ} {client_last} | C: au revoir",
    "C: bon, merci beaucoup | A: je vous en prie, au revoir",
    "A: bonne soirée | C: merci, bonne soirée à vous aussi",
)


ACCENTS = str.maketrans("éèêëàâîïôûùç", "eeeeaaiiouuc")
HOMOPHONES = {
    "à": "a", "a": "à", "et": "est", "est": "et", "ces": "ses", "ses": "ces", "où": "ou", "ou": "où",
    "c'est": "s'est", "quand": "quant", "leur": "leurs", "on": "ont", "vers": "vert",
    "prix": "pris", "peu": "peut", "sans": "cent", "ça": "sa", "mais": "mes",
}  # fmt: skip
HESITATIONS = ("euh", "euh", "hum", "ben", "bah")


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    edit = rng.randrange(3)
    if edit == 0:
        return word[:i] + rng.choice("aeioustrnl") + word[i + 1 :]
    if edit == 1:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def asr_noise(text: str, rng: random.Random) -> str:
    """What a recogniser makes of a clean line: hesitations, lost accents and casing, homophones, the odd
    misheard letter on a long word, words split or merged, punctuation dropped or added."""
    words = text.split()
    out: list[str] = []
    lowercase = rng.random() < 0.4
    strip_punctuation = rng.random() < 0.3
    for spoken in words:
        word = spoken
        if rng.random() < 0.035:
            out.append(rng.choice(HESITATIONS))
        bare = word.strip(",.?!;:").lower()
        if bare in HOMOPHONES and rng.random() < 0.08:
            word = word.lower().replace(bare, HOMOPHONES[bare], 1)
        letters = sum(c.isalpha() for c in word)
        if letters >= 7 and word.isalpha() and rng.random() < 0.02:
            word = _typo(word, rng)
        if rng.random() < 0.06:
            word = word.translate(ACCENTS)
        if letters >= 9 and word.isalpha() and rng.random() < 0.01:
            cut = rng.randrange(3, len(word) - 3)
            out.extend((word[:cut], word[cut:]))
            continue
        if out and len(bare) <= 3 and len(out[-1]) <= 3 and out[-1].isalpha() and rng.random() < 0.02:
            out[-1] = out[-1] + word
            continue
        if rng.random() < 0.006:
            out.append(word)  # a stutter
        out.append(word)
    line = " ".join(out)
    if lowercase:
        line = line.lower()
    if strip_punctuation:
        line = re.sub(r"[,.?!;]", "", line)
    elif rng.random() < 0.15:
        line = line.rstrip(".?!") + rng.choice((".", ",", " ?", ""))
    return line
