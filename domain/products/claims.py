"""Amounts and durations said in a call, checked against the plan's values: deterministic, offline.

A *claim* is a number with its unit (percent, euros, months, or "aucun" for a waiting period) said by
the agent in the same clause (text between punctuation) as one topic word: hospitalisation, dental,
optical, routine care, waiting period, the premium. Numbers are read the way evidence matching reads
them (`domain.audits.matching.tokenise`: "cent cinquante pour cent" -> `150 pour 100`); euros may
carry cents ("42,10 euros", "42 euros 10"). A claim is *confirmed* when the expected value for the
topic (the plan's coverage field; for the premium, what the fiche says was sold) has the same unit
and amount, *contradicted* when the unit matches and the amount differs; anything else is not a
claim we can check. What cannot be checked without a model (needs adequacy, exclusions, the
wording of guarantees) is listed as not verifiable offline.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any, Literal

from domain.audits.gating import GatedPoint, GatedStep, LocatedCitation
from domain.audits.matching import tokenise
from domain.audits.schema import Conformity, Level, PointStatus
from domain.audits.scorecard import StepSpec
from domain.audits.timeline import Timeline
from domain.products.facts import COVERAGE_LABELS, ProductFacts

Unit = Literal["pct", "eur", "mois"]

PRICE = "cotisation"
"""The premium is not a plan value: it is checked against what the fiche says was sold."""

#: Topic -> (the plan's coverage field, or `PRICE`; the words that name it, folded).
TOPICS: dict[str, tuple[str, frozenset[str]]] = {
    "hospitalisation": ("hospitalisation", frozenset({"hospitalisation", "hopital", "hospi", "hospitalier"})),
    "dentaire": ("dentaire", frozenset({"dentaire", "dentaires", "dents"})),
    "optique": ("optique", frozenset({"optique", "lunettes"})),
    "soins": ("medecines", frozenset({"consultations", "courants", "medecin", "generaliste"})),
    # "attente" alone is a hold ("je vous mets en attente"): only "délai d'attente" names the waiting period
    "carence": ("delai_attente", frozenset({"carence", "carences"})),
    "cotisation": (PRICE, frozenset({"cotisation", "cotisations", "mensualite"})),
    # named so that "vingt euros de frais de dossier" after a premium is not read as the premium
    "frais": ("frais_dossier", frozenset({"dossier"})),
}
LABELS: dict[str, str] = {**COVERAGE_LABELS, PRICE: "Cotisation mensuelle"}
_SENTENCE = re.compile(r"[.!?]+")
_PERCENT = re.compile(r"\s*\bpourcent\b")
_CLAUSE = re.compile(r"(?:[;:]|(?<!\d),|,(?!\d))+|\s-\s|\bet\b")  # "42,10 euros" stays one clause
_UNITS: dict[str, Unit] = {"pourcent": "pct", "euros": "eur", "euro": "eur", "mois": "mois"}
_NOTICES: dict[str, tuple[str, ...]] = {
    "rétractation": ("retractation",),
    "contrat responsable": ("contrat responsable", "responsable"),
}
NOT_VERIFIABLE_OFFLINE = (
    "adéquation aux besoins exprimés, exclusions et conditions rédigées : non vérifiables hors ligne "
    "(auditeur heuristique, sans modèle)"
)


@dataclass(frozen=True)
class Claim:
    topic: str
    amount: float
    unit: Unit
    quote: str
    recording_index: int
    chunk_index: int
    start: float


@dataclass(frozen=True)
class ClaimCheck:
    claim: Claim
    expected: str | None  # the plan's value as written
    verdict: Literal["confirmed", "contradicted"]

    def as_json(self) -> dict[str, Any]:
        c = self.claim
        return {
            "topic": c.topic,
            "said": f"{c.amount:g} {c.unit}",
            "expected": self.expected,
            "verdict": self.verdict,
            "quote": c.quote,
            "recording_index": c.recording_index,
            "chunk_index": c.chunk_index,
            "start": c.start,
        }


@dataclass(frozen=True)
class ProductCheck:
    checks: tuple[ClaimCheck, ...]
    notices: dict[str, bool]
    unverifiable: tuple[str, ...]

    @property
    def contradictions(self) -> tuple[ClaimCheck, ...]:
        return tuple(c for c in self.checks if c.verdict == "contradicted")

    def as_json(self) -> dict[str, Any]:
        return {
            "checks": [c.as_json() for c in self.checks],
            "legal_notices": self.notices,
            "not_verifiable_offline": list(self.unverifiable),
        }


def _amounts(tokens: list[str]) -> list[tuple[float, Unit]]:
    """`150 pour 100` -> (150, pct); `42 10 euros` / `42 euros 10` -> (42.1, eur); `3 mois` -> (3, mois)."""
    found: list[tuple[float, Unit]] = []
    i = 0
    while i < len(tokens) - 1:
        if not tokens[i].isdigit():
            i += 1
            continue
        amount, at = float(tokens[i]), i + 1
        if _cents(tokens, at) and at + 1 < len(tokens) and tokens[at + 1] in ("euro", "euros"):
            amount, at = amount + int(tokens[at]) / 100, at + 1
        word = tokens[at]
        if word == "pour" and at + 1 < len(tokens) and tokens[at + 1] == "100":
            word, at = "pourcent", at + 1
        unit = _UNITS.get(word)
        if unit is None:
            i += 1
            continue
        if unit == "eur" and amount.is_integer() and _cents(tokens, at + 1):
            amount, at = amount + int(tokens[at + 1]) / 100, at + 1
        found.append((round(amount, 2), unit))
        i = at + 1
    return found


def _cents(tokens: list[str], at: int) -> bool:
    return at < len(tokens) and tokens[at].isdigit() and len(tokens[at]) == 2


def plan_value(text: str | None) -> tuple[float, Unit] | None:
    """`"150 %"` -> (150, pct); `"250 €/an"` -> (250, eur); `"3 mois"` -> (3, mois); `"Aucun"` -> (0, mois)."""
    if not text:
        return None
    tokens = tokenise(text.replace("%", " pourcent ").replace("€", " euros "))
    if tokens[:1] == ["aucun"]:
        return 0.0, "mois"
    amounts = _amounts(tokens)
    return amounts[0] if amounts and tokens[0].isdigit() else None


def expected_value(facts: ProductFacts, topic: str) -> str | None:
    """What the topic should be, as written: the plan's coverage field, or the premium sold."""
    field = TOPICS[topic][0]
    if field == PRICE:
        sold = facts.sold.get("cotisation")
        return f"{sold} €" if sold else None
    return facts.coverage.get(field)


def _topics(tokens: list[str]) -> set[str]:
    found = {topic for topic, (_, words) in TOPICS.items() if any(t in words for t in tokens)}
    if "attente" in tokens and "delai" in tokens:
        found.add("carence")
    return found


def _clause_claims(tokens: list[str]) -> list[tuple[str, float, Unit]]:
    """Durations go to the waiting period when the clause names it; other amounts to the one topic the
    clause names (two in one clause: which number goes with which would be a guess)."""
    topics = _topics(tokens)
    if "carence" in topics and any(t in ("aucun", "aucune", "pas", "rien") for t in tokens):
        return [("carence", 0.0, "mois")]
    others = sorted(topics - {"carence"})
    claims: list[tuple[str, float, Unit]] = []
    for amount, unit in _amounts(tokens):
        if unit == "mois" and "carence" in topics:
            claims.append(("carence", amount, unit))
        elif unit != "mois" and len(others) == 1:
            claims.append((others[0], amount, unit))
    return claims


def claims_in(timeline: Timeline) -> list[Claim]:
    """Every checkable claim the agent (or an unidentified speaker, never the client) makes.

    A clause that names no topic continues the previous clause of its sentence ("côté carence, aucune").
    """
    found: list[Claim] = []
    for chunk in timeline.chunks():
        if chunk.role == "client":
            continue
        text = chunk.text.replace("%", " pourcent ").replace("€", " euros ")
        for sentence in _SENTENCE.split(text):
            context: list[str] = []
            for clause in _CLAUSE.split(sentence):
                tokens = tokenise(clause)
                here = _topics(tokens)
                if not here:
                    tokens = [*context, *tokens]
                elif "carence" in _topics(context) and "carence" not in here:  # "carence, 3 mois sur le dentaire"
                    tokens = ["carence", *tokens]
                if here:
                    context = ["carence"] if "carence" in here else [t for t in tokens if _topics([t])]
                for topic, amount, unit in _clause_claims(tokens):
                    quote = " ".join(_PERCENT.sub(" %", clause).split())
                    found.append(
                        Claim(topic, amount, unit, quote, chunk.recording_index, chunk.chunk_index, chunk.start)
                    )
    return found


def check_claims(timeline: Timeline, facts: ProductFacts, *, offline: bool) -> ProductCheck:
    """Every checkable claim against the plan; with `offline` (no model read the call), what was left
    unchecked is listed as not verifiable offline."""
    checks = []
    for claim in claims_in(timeline):
        written = expected_value(facts, claim.topic)
        expected = plan_value(written)
        if expected is None or expected[1] != claim.unit:
            continue
        same = abs(expected[0] - claim.amount) < 0.005
        checks.append(ClaimCheck(claim, written, "confirmed" if same else "contradicted"))
    said = " ".join(" ".join(tokenise(c.text)) for c in timeline.chunks() if c.role != "client")
    notes = " ".join(tokenise(" ".join(facts.legal_notes)))
    notices = {
        name: any(word in said for word in words)
        for name, words in _NOTICES.items()
        if any(word in notes for word in words)
    }
    unchecked = [
        LABELS[TOPICS[topic][0]]
        for topic in TOPICS
        if expected_value(facts, topic) and not any(c.claim.topic == topic for c in checks)
    ]
    unverifiable = [*(f"{label} : non annoncé dans l'appel" for label in unchecked), NOT_VERIFIABLE_OFFLINE]
    return ProductCheck(tuple(checks), notices, tuple(unverifiable) if offline else ())


def step_topics(step: StepSpec) -> frozenset[str]:
    """The claim topics a step's own text names (name, description, prompt, control points, keywords)."""
    text = " ".join([step.name, step.description, step.prompt, *step.control_points, *step.keywords])
    return frozenset(_topics(tokenise(text)))


def for_step(check: ProductCheck, step: StepSpec) -> ProductCheck:
    """The check as it bears on one step: the claims of the topics the step names ("Cotisation et frais"
    answers for the premium, not for a dental rate), or every claim when it names none."""
    topics = step_topics(step)
    if not topics:
        return check
    return dataclasses.replace(check, checks=tuple(c for c in check.checks if c.claim.topic in topics))


def _describe(check: ClaimCheck) -> str:
    source = "fiche" if TOPICS[check.claim.topic][0] == PRICE else "catalogue"
    return f"{LABELS[TOPICS[check.claim.topic][0]]} : annoncé « {check.claim.quote} », {source} {check.expected}"


def _cites(citation: LocatedCitation, check: ClaimCheck) -> bool:
    """Whether a kept citation quotes the contradicted claim: its chunk, and the amount among its words."""
    claim = check.claim
    return (
        citation.recording_index == claim.recording_index
        and citation.chunk_index <= claim.chunk_index <= citation.last_chunk_index
        and f"{claim.amount:g}".split(".", 1)[0] in tokenise(citation.matched_text)
    )


def _point(point: GatedPoint, contradictions: tuple[ClaimCheck, ...]) -> GatedPoint:
    """A point whose evidence is a contradicted statement is not met by it: PRESENT becomes PARTIEL."""
    cited = [c for c in contradictions if any(_cites(citation, c) for citation in point.citations)]
    if not cited:
        return point
    notes = " ".join(f"[Vérification produit] la citation contredit le tableau : {_describe(c)}." for c in cited)
    return dataclasses.replace(
        point,
        statut=PointStatus.PARTIEL if point.statut == PointStatus.PRESENT else point.statut,
        commentaire=f"{point.commentaire} {notes}".strip(),
    )


def apply_check(step: GatedStep, check: ProductCheck) -> GatedStep:
    """A stated value contradicting the plan makes the step NON_CONFORME with score 0, saying which value;
    a control point citing that statement as its evidence is lowered too, whichever auditor cited it."""
    lines = [f"[Vérification produit] {_describe(c)}" for c in check.contradictions]
    lines += [
        f"[Vérification produit] mention légale non entendue : {name}"
        for name, heard in check.notices.items()
        if not heard
    ]
    if not lines:
        return step
    comment = "\n".join([step.commentaire_global, *lines]) if step.commentaire_global else "\n".join(lines)
    if not check.contradictions:
        return dataclasses.replace(step, commentaire_global=comment)
    return dataclasses.replace(
        step,
        conforme=Conformity.NON_CONFORME,
        score=0,
        niveau_conformite=Level.INSUFFISANT,
        commentaire_global=comment,
        points=tuple(_point(point, check.contradictions) for point in step.points),
    )
