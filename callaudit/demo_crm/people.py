"""French names, places and jobs the synthetic prospects and agents are drawn from.

Lists are long enough that a day of a thousand fiches reads like real traffic, and plain enough
that no value collides with the words the call segments are recognised by (see `segments`).
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass

FEMALE_FIRST_NAMES = (
    "Léa", "Emma", "Chloé", "Camille", "Manon", "Sarah", "Julie", "Laura", "Marion", "Pauline",
    "Inès", "Claire", "Sophie", "Nathalie", "Isabelle", "Sandrine", "Céline", "Valérie", "Christine",
    "Martine", "Monique", "Françoise", "Catherine", "Sylvie", "Brigitte", "Nicole", "Josiane",
    "Danielle", "Hélène", "Agnès", "Élodie", "Aurélie", "Mélanie", "Karine", "Odile", "Yvette",
)  # fmt: skip
MALE_FIRST_NAMES = (
    "Hugo", "Lucas", "Louis", "Thomas", "Nicolas", "Julien", "Maxime", "Antoine", "Kevin", "Romain",
    "Paul", "Pierre", "Jean", "Michel", "Philippe", "Alain", "Patrick", "Bernard", "Daniel", "Gérard",
    "Christian", "Jacques", "Éric", "Laurent", "Stéphane", "Frédéric", "Olivier", "Thierry", "Pascal",
    "Didier", "Yannick", "Rachid", "Mehdi", "Karim", "Denis", "Hervé",
)  # fmt: skip
LAST_NAMES = (
    "MARTIN", "BERNARD", "THOMAS", "PETIT", "ROBERT", "RICHARD", "DURAND", "DUBOIS", "MOREAU",
    "LAURENT", "SIMON", "MICHEL", "LEFEBVRE", "LEROY", "ROUX", "DAVID", "BERTRAND", "MOREL",
    "FOURNIER", "GIRARD", "BONNET", "DUPONT", "LAMBERT", "FONTAINE", "ROUSSEAU", "VINCENT",
    "MULLER", "LEFEVRE", "FAURE", "ANDRE", "MERCIER", "BLANC", "GUERIN", "BOYER", "GARNIER",
    "CHEVALIER", "FRANCOIS", "LEGRAND", "GAUTHIER", "GARCIA", "PERRIN", "ROBIN", "CLEMENT",
    "MORIN", "NICOLAS", "HENRY", "ROUSSEL", "MATHIEU", "GAUTIER", "MASSON", "MARCHAND", "DUVAL",
    "DENIS", "DUMONT", "MARIE", "LEMAIRE", "NOEL", "MEYER", "DUFOUR", "MEUNIER", "BRUN", "BLANCHARD",
    "GIRAUD", "JOLY", "RIVIERE", "LUCAS", "BRUNET", "GAILLARD", "BARBIER", "ARNAUD", "MARTINEZ",
    "GERARD", "ROCHE", "RENARD", "SCHMITT", "ROY", "LEROUX", "COLIN", "VIDAL", "CARON", "PICARD",
    "ROGER", "FABRE", "AUBERT", "LEMOINE", "RENAUD", "DUMAS", "LACROIX", "OLIVIER", "PHILIPPE",
    "BOURGEOIS", "PIERRE", "BENOIT", "REY", "LECLERC", "PAYET", "ROLLAND", "LECLERCQ", "GUILLAUME",
)  # fmt: skip
CITIES = (
    ("PARIS", "75011"), ("PARIS", "75018"), ("MARSEILLE", "13008"), ("LYON", "69003"),
    ("TOULOUSE", "31200"), ("NICE", "06000"), ("NANTES", "44000"), ("MONTPELLIER", "34000"),
    ("STRASBOURG", "67000"), ("BORDEAUX", "33000"), ("LILLE", "59000"), ("RENNES", "35000"),
    ("REIMS", "51100"), ("TOULON", "83000"), ("GRENOBLE", "38000"), ("DIJON", "21000"),
    ("ANGERS", "49000"), ("NIMES", "30900"), ("CLERMONT-FERRAND", "63000"), ("LE MANS", "72000"),
    ("AMIENS", "80000"), ("TOURS", "37000"), ("LIMOGES", "87000"), ("PERPIGNAN", "66000"),
    ("METZ", "57000"), ("BESANCON", "25000"), ("ORLEANS", "45000"), ("ROUEN", "76000"),
    ("MULHOUSE", "68100"), ("CAEN", "14000"), ("NANCY", "54000"), ("AVIGNON", "84000"),
    ("POITIERS", "86000"), ("PAU", "64000"), ("LA ROCHELLE", "17000"), ("BEZIERS", "34500"),
)  # fmt: skip
STREETS = (
    "rue de la République", "rue Victor Hugo", "avenue Jean Jaurès", "rue Pasteur", "rue des Lilas",
    "boulevard Gambetta", "rue du Moulin", "allée des Tilleuls", "chemin des Vignes", "rue de la Gare",
    "place de l'Église", "rue des Écoles", "avenue de la Libération", "rue du Stade", "impasse des Roses",
)  # fmt: skip
PROFESSIONS = (
    ("retraité", 6, "Retraité"), ("retraitée", 6, "Retraité"), ("infirmière", 4, "Profession intermédiaire"),
    ("artisan plombier", 2, "Artisan, commerçant"), ("commerçante", 2, "Artisan, commerçant"),
    ("employé de bureau", 5, "Employé"), ("aide-soignante", 5, "Employé"), ("chauffeur", 7, "Ouvrier"),
    ("professeur des écoles", 4, "Profession intermédiaire"), ("cadre commercial", 3, "Cadre"),
    ("sans emploi", 8, "Sans activité professionnelle"), ("agricultrice", 1, "Agriculteur exploitant"),
)  # fmt: skip
FAMILY_SITUATIONS = ((1, "Célibataire"), (2, "Marié(e)"), (3, "Pacsé(e)"), (4, "Divorcé(e)"), (5, "Veuf(ve)"))
REGIMES = (("1", "Régime Général"), ("2", "Travailleurs Non Salariés"), ("3", "Alsace-Moselle"), ("4", "Agricole"))


@dataclass(frozen=True)
class Person:
    """A named person: `civilite` 1 = Monsieur, 2 = Madame, as the CRM codes it."""

    civilite: int
    prenom: str
    nom: str

    @property
    def civilite_text(self) -> str:
        return "Monsieur" if self.civilite == 1 else "Madame"

    @property
    def display(self) -> str:
        """`Léa SIMON`: how the CRM shows users in comments, mails and attributions."""
        return f"{self.prenom} {self.nom}"

    @property
    def addressed(self) -> str:
        """`madame Simon`: how an agent addresses the person on the phone."""
        return f"{self.civilite_text.lower()} {self.nom.capitalize()}"


def draw_person(rng: random.Random, civilite: int | None = None) -> Person:
    civ = civilite if civilite is not None else rng.choice((1, 2))
    first = rng.choice(MALE_FIRST_NAMES if civ == 1 else FEMALE_FIRST_NAMES)
    return Person(civilite=civ, prenom=first, nom=rng.choice(LAST_NAMES))


def ascii_slug(text: str) -> str:
    """`Léa` -> `lea`: for e-mail addresses and logins."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if ch.isalnum() and ch.isascii()).lower()


def mobile_number(rng: random.Random) -> str:
    """A French mobile number as the CRM stores it: `06…` or `07…`, ten digits."""
    return rng.choice(("06", "07")) + "".join(rng.choice("0123456789") for _ in range(8))


def landline_number(rng: random.Random) -> str:
    return rng.choice(("01", "02", "03", "04", "05")) + "".join(rng.choice("0123456789") for _ in range(8))


def international(number: str) -> str:
    """`0640584584` -> `33640584584`: the telephony provider's format."""
    return "33" + number[1:]
