"""Which catalogue plan a fiche sold (reference §7.9): exact names first, then fuzzy, or no match.

The CRM names the product by labels (`groupe_nom`, `gamme_nom`, `formule_nom`), typed by people:
accents, case, abbreviations and spacing vary. Exact matching compares labels case-insensitively
(a plan by its `libelle` or `libelle_alternatif`, within its range, within its insurer). Fuzzy
matching compares normalised labels (lower case, no accents, punctuation as spaces): 1 when equal,
0.92 when one contains the other, else the normalised Levenshtein similarity (rapidfuzz); it picks
the best insurer (>= 0.6), then the best range of that insurer (>= 0.6), then the best plan of that
range (>= 0.65, the better of its two labels). Nothing good enough is a result (`none`), not an error.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rapidfuzz.distance import Levenshtein

Strategy = Literal["exact", "fuzzy", "none"]

GROUPE_THRESHOLD = 0.6
GAMME_THRESHOLD = 0.6
FORMULE_THRESHOLD = 0.65
CONTAINED_SCORE = 0.92


@dataclass(frozen=True)
class SoldProduct:
    """What the fiche says was sold (`elements_souscription.produit`)."""

    groupe: str | None
    gamme: str | None
    formule: str | None

    @property
    def complete(self) -> bool:
        return all(name and name.strip() for name in (self.groupe, self.gamme, self.formule))

    def as_json(self) -> dict[str, str | None]:
        return {"groupe_nom": self.groupe, "gamme_nom": self.gamme, "formule_nom": self.formule}


@dataclass(frozen=True)
class PlanNames:
    """One plan of the catalogue, by the labels matching looks at."""

    formule_id: int
    groupe: str
    gamme: str
    formule: str
    formule_alt: str | None = None


@dataclass(frozen=True)
class ProductMatch:
    strategy: Strategy
    formule_id: int | None = None
    scores: dict[str, float] = field(default_factory=dict)
    picked: dict[str, str] = field(default_factory=dict)
    reason: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "scores": self.scores, "picked": self.picked, "reason": self.reason}


def normalise(label: str) -> str:
    """`"Sénior  Plus!"` -> `"senior plus"`."""
    decomposed = unicodedata.normalize("NFD", label.casefold())
    letters = "".join(c if c.isalnum() else " " for c in decomposed if not unicodedata.combining(c))
    return " ".join(letters.split())


def similarity(a: str, b: str) -> float:
    left, right = normalise(a), normalise(b)
    if not left or not right:
        return 0.0
    if left == right:
        return 1.0
    if left in right or right in left:
        return CONTAINED_SCORE
    return float(Levenshtein.normalized_similarity(left, right))


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and " ".join(a.casefold().split()) == " ".join(b.casefold().split())


def _best(scores: Sequence[float], threshold: float) -> tuple[int | None, float]:
    """The index of the highest score (the first on ties) when it reaches `threshold`, and that score."""
    if not scores:
        return None, 0.0
    index = max(range(len(scores)), key=lambda i: (scores[i], -i))
    best = round(scores[index], 4)
    return (index if best >= threshold else None), best


def link_product(sold: SoldProduct, plans: Sequence[PlanNames]) -> ProductMatch:
    if not sold.complete:
        return ProductMatch("none", reason="the fiche names no complete product (groupe, gamme, formule)")
    for plan in plans:
        if (
            _same(plan.groupe, sold.groupe)
            and _same(plan.gamme, sold.gamme)
            and (_same(plan.formule, sold.formule) or _same(plan.formule_alt, sold.formule))
        ):
            return ProductMatch(
                "exact",
                plan.formule_id,
                {"groupe": 1.0, "gamme": 1.0, "formule": 1.0},
                {"groupe": plan.groupe, "gamme": plan.gamme, "formule": plan.formule},
            )
    said_groupe, said_gamme, said_formule = sold.groupe or "", sold.gamme or "", sold.formule or ""
    groupe_names = list(dict.fromkeys(p.groupe for p in plans))
    at, groupe_score = _best([similarity(name, said_groupe) for name in groupe_names], GROUPE_THRESHOLD)
    scores = {"groupe": groupe_score}
    if at is None:
        return ProductMatch("none", scores=scores, reason=f"no insurer resembles {said_groupe!r}")
    groupe = groupe_names[at]
    in_groupe = [p for p in plans if p.groupe == groupe]
    gamme_names = list(dict.fromkeys(p.gamme for p in in_groupe))
    at, gamme_score = _best([similarity(name, said_gamme) for name in gamme_names], GAMME_THRESHOLD)
    scores["gamme"] = gamme_score
    if at is None:
        return ProductMatch("none", scores=scores, reason=f"no range of {groupe} resembles {said_gamme!r}")
    gamme = gamme_names[at]

    def plan_score(plan: PlanNames) -> float:
        alt = similarity(plan.formule_alt, said_formule) if plan.formule_alt else 0.0
        return max(similarity(plan.formule, said_formule), alt)

    in_gamme = [p for p in in_groupe if p.gamme == gamme]
    at, formule_score = _best([plan_score(p) for p in in_gamme], FORMULE_THRESHOLD)
    scores["formule"] = formule_score
    if at is None:
        return ProductMatch("none", scores=scores, reason=f"no plan of {groupe} {gamme} resembles {said_formule!r}")
    picked = in_gamme[at]
    return ProductMatch(
        "fuzzy", picked.formule_id, scores, {"groupe": picked.groupe, "gamme": picked.gamme, "formule": picked.formule}
    )
