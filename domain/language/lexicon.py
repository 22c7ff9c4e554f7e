"""A glossary of French health-insurance sales: the words that name one concept in calls.

Word vectors of a general-purpose model put "compagnie" and "assureur" at 0.38, "lunettes" and
"optique" at 0.30: too far to be found, while antonyms ("refuser" / "accepter") sit close. A quality
team's glossary is domain knowledge, like a scorecard: each group lists, as folded lemmas (lower case,
no accents, `domain.language.utterances.fold`), the words people use for one thing in these calls.
It is written from the trade (health-insurance brokerage, French regulation), not from any corpus,
and it is deliberately narrow: a word that names several things ("numéro", "mois", "document") is in
no group, and so is every word that only means it inside a phrase ("maison de retraite").
Acronyms of the trade are filed with what calls say for them: "MGO" is the mandatory group cover an
employer provides ("mutuelle d'entreprise", "contrat collectif"), the right to a copy of a recording is
the data-protection right of access ("accès").

Specificity: a word's weight in a control point grows with its rarity in French (`wordfreq`'s Zipf
frequency, shipped with the package): "droit" or "appel" prove little, "carence" or "ORIAS" a lot.
"""

from __future__ import annotations

import functools

from wordfreq import zipf_frequency

_GROUPS = """
assureur compagnie mutuelle complementaire organisme assurance assure
actuel actuellement moment present maintenant
anciennete depuis longtemps
enregistrer enregistrement enregistre
appel conversation echange entretien communication
conservation conserver garder archiver
copie exemplaire acces acceder
opposition opposer objection refuser refus
courtier courtage cabinet intermediaire
orias registre immatriculation immatriculer immatricule
naissance naitre
adresse domicile habiter
telephone portable
email mail courriel
regime salarie independant retraite profession metier
foyer famille conjoint enfant epouse epoux couple
ehpad etablissement
renouvellement renouveler reconduction reconduire
resiliation resilier chatel
preavis
justificatif attestation
retractation retracter renoncer renonciation
cotisation tarif prix
hausse augmentation augmenter
prelevement prelever
css cmu ame
portabilite
mgo collectif employeur entreprise
besoin priorite
budget moyens
optique lunette verre monture lentille vue
dentaire dent dentiste prothese couronne implant orthodontie
hospitalisation hopital clinique hospitaliser
depassement honoraire optam
osteopathe osteopathie acupuncture naturopathe chiropracteur
auditif audition auditive audioprothese
pharmacie medicament ordonnance
remboursement rembourser rembourse garantie couvrir prise_en_charge
montant somme
mensuel mensuellement mensualite
duree delai
identite nom prenom
madelin deduction deductible
exclusion exclure exclu
plafond plafonner plafonne
carence
franchise
comprendre comprehension compris
signature signer
accord accepter consentement consentir
souscrire souscription adhesion adherer
conseiller conseillere
devis simulation estimation
"""

SPECIFICITY_TOP = 6.0
KNOWN_ZIPF = 3.0
"""A folded word at least this frequent in French (Zipf scale) is a word in its own right."""
SPECIFICITY_SPAN = 1.5
SPECIFICITY_MIN = 0.4
SPECIFICITY_MAX = 2.0


def _groups() -> dict[str, frozenset[str]]:
    index: dict[str, set[str]] = {}
    for line in _GROUPS.strip().splitlines():
        words = line.split()
        group = set(words)
        for word in words:
            index.setdefault(word, set()).update(group)
    return {word: frozenset(group) for word, group in index.items()}


GLOSSARY: dict[str, frozenset[str]] = _groups()


def synonyms(lemma: str, other: str) -> bool:
    """Whether two folded lemmas name the same thing in the glossary."""
    group = GLOSSARY.get(lemma)
    return group is not None and other in group and other != lemma


def distinct(lemma: str, other: str) -> bool:
    """Whether the glossary puts two folded lemmas in different groups: two things of the trade, however
    close their word vectors ("résilier" / "souscrire", "carence" / "franchise" sit near each other)."""
    group = GLOSSARY.get(lemma)
    return group is not None and other in GLOSSARY and other not in group and other != lemma


@functools.lru_cache(maxsize=16384)
def specificity(word: str) -> float:
    """Weight of a word by its rarity in French: 0.4 for "droit", up to 2.0 for "orias"."""
    zipf = zipf_frequency(word, "fr")
    return min(SPECIFICITY_MAX, max(SPECIFICITY_MIN, (SPECIFICITY_TOP - zipf) / SPECIFICITY_SPAN))


@functools.lru_cache(maxsize=16384)
def known_word(word: str) -> bool:
    """Whether a folded word is a common French word ("cotisation"), not a recogniser's slip
    ("complementanre", "resili"): a near spelling of a known word is that word, not a misheard other."""
    return zipf_frequency(word, "fr") >= KNOWN_ZIPF
