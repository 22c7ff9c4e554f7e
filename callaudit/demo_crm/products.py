"""The brokerage and the (fictional) health-insurance products its agents sell.

Insurer, range and formula names are invented so the demo never states facts about real products;
the structure (insurer "groupe" -> "gamme" -> "formule", guarantee levels, a monthly premium that
grows with age) is the one the gateway's `elements_souscription.produit` and `tarification` carry
and the one the product-verification step matches on.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

FIRM_NAME = "Santéo Courtage"
ORIAS_NUMBER = "21004587"
ORIAS_SPOKEN = "21 004 587"
CRM_HOST = "https://crm.example.invalid"


@dataclass(frozen=True)
class Formula:
    """One formula of a range; `level` 1..4 drives the guarantees and the base premium."""

    groupe: str
    gamme: str
    nom: str
    level: int

    @property
    def hospitalisation_pct(self) -> int:
        return (100, 150, 200, 300)[self.level - 1]

    @property
    def dentaire_pct(self) -> int:
        return (100, 125, 200, 300)[self.level - 1]

    @property
    def optique_eur(self) -> int:
        return (100, 150, 250, 400)[self.level - 1]

    @property
    def soins_courants_pct(self) -> int:
        return (100, 100, 125, 150)[self.level - 1]

    @property
    def waiting_period(self) -> str:
        """The plan's waiting period before dental prosthesis cover (the catalogue's `delai_attente`)."""
        return ("Aucun", "3 mois", "3 mois", "6 mois")[self.level - 1]

    @property
    def base_monthly_eur(self) -> float:
        return 14.0 + 11.5 * self.level

    def guarantees(self) -> dict[str, str]:
        """The guarantee table, keyed by the CRM's category labels."""
        return {
            "Hospitalisation": f"{self.hospitalisation_pct} %",
            "Soins courants": f"{self.soins_courants_pct} %",
            "Dentaire": f"{self.dentaire_pct} %",
            "Optique": f"{self.optique_eur} €/an",
        }


def _range(groupe: str, gamme: str, names: tuple[str, ...]) -> tuple[Formula, ...]:
    return tuple(Formula(groupe, gamme, name, level) for level, name in enumerate(names, start=1))


FORMULAS: tuple[Formula, ...] = (
    *_range("MUTALYS", "Essentiel Santé", ("HOSPI", "E2", "E3", "E4")),
    *_range("MUTALYS", "Sénior Plus", ("S1", "S2", "S3", "S4")),
    *_range("AXEO SANTE", "Vitalia", ("V1", "V2", "V3", "V4")),
    *_range("PREVALIA", "Confort", ("Eco", "Médium", "Confort", "Premium")),
    *_range("HELIOS MUTUELLE", "Horizon", ("H1", "H2", "H3", "H4")),
)

UNLISTED_FORMULAS: tuple[Formula, ...] = _range("OCEANE PREVOYANCE", "Littoral", ("L1", "L2", "L3", "L4"))
"""Sold by some agents but absent from the demo catalogue: the "product not in the catalogue" fault."""

PRODUCT_FAULTS = ("unlisted_product", "wrong_hospitalisation", "wrong_dentaire", "wrong_waiting_period")
"""Labelled product faults a fiche may carry (`SimulatorConfig.product_fault_rate`)."""


@dataclass(frozen=True)
class ProductFault:
    """What is wrong with a fiche's product: `unlisted_product` (the fiche sells a plan the catalogue
    does not hold), or a wrong promise: the agent states `said` for `topic` where the plan has `plan`."""

    kind: str
    topic: str | None = None  # the catalogue's coverage field the promise is about
    plan: str | None = None
    said: str | None = None

    def as_json(self) -> dict[str, str | None]:
        return {"kind": self.kind, "topic": self.topic, "plan": self.plan, "said": self.said}


def draw_product_fault(rng: random.Random, formula: Formula) -> ProductFault:
    kind = rng.choice(PRODUCT_FAULTS)
    if kind == "unlisted_product":
        return ProductFault(kind)
    topic, plan, choices = {
        "wrong_hospitalisation": (
            "hospitalisation",
            f"{formula.hospitalisation_pct} %",
            ("100 %", "150 %", "200 %", "300 %"),
        ),
        "wrong_dentaire": ("dentaire", f"{formula.dentaire_pct} %", ("100 %", "125 %", "200 %", "300 %")),
        "wrong_waiting_period": ("delai_attente", formula.waiting_period, ("Aucun", "3 mois", "6 mois")),
    }[kind]
    return ProductFault(kind, topic, plan, rng.choice([value for value in choices if value != plan]))


FORMER_INSURERS = (
    ("Mutuelle des Tilleuls", "MTL"),
    ("Alliance Mutuelle du Centre", "AMC"),
    ("Assurances du Levant", "ADL"),
    ("Mutuelle Arc-en-Ciel", "MAC"),
    ("Caisse Solidaire Santé", "CSS2"),
)


def age_factor(age: int) -> float:
    """Premiums in French individual health cover roughly double between 40 and 70."""
    if age < 30:
        return 0.7
    if age < 45:
        return 0.9
    if age < 60:
        return 1.2
    if age < 70:
        return 1.6
    return 2.0


def euros_fr(amount: float) -> str:
    """`23.64` -> `23,64`: how amounts are written in French."""
    return f"{amount:.2f}".replace(".", ",")
