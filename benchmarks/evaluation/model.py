"""Families of exchanges and the small notation the data modules write them in.

A phrasing is written as one string of lines separated by `|`, each line starting with `A:` (the
agent) or `C:` (the client): `"A: vous êtes chez qui en ce moment ? | C: chez Harmonie"`. Templates
name fields in braces (`{client_last}`, `{price}`), filled per fiche by `voice.Fields`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Role = Literal["agent", "client"]
Line = tuple[Role, str]

# partial: the act half done (the advisor's first name without the surname or the role).
DistractorKind = Literal[
    "client_says", "hearsay", "negation", "refusal", "question_unanswered", "conditional", "deferral", "filler",
    "partial",
]  # fmt: skip
DISTRACTOR_KINDS: frozenset[str] = frozenset(
    {"client_says", "hearsay", "negation", "refusal", "question_unanswered", "conditional", "deferral", "filler",
     "partial"}
)  # fmt: skip
# present: the act is done; counter: evidence of the opposite, said when a point that is about a
# behaviour (no pressure, respecting a refusal) is absent; setup: lines that make a fact of the call hold.
Kind = Literal[
    "present", "counter", "setup",
    "client_says", "hearsay", "negation", "refusal", "question_unanswered", "conditional", "deferral", "filler",
    "partial",
]  # fmt: skip

ROLES: dict[str, Role] = {"A": "agent", "C": "client"}


@dataclass(frozen=True)
class Family:
    """One way of doing (or seeming to do) a control point's act, with its concrete phrasings."""

    id: str  # "<scorecard>/<point or @fact>/<name>", unique across both halves
    kind: Kind
    phrasings: tuple[tuple[Line, ...], ...]
    when: str | None = None  # fact expression ("ehpad", "!responsible&independent") the family needs
    order: float | None = None  # where in the call, in step positions; None = the point's step

    @property
    def is_distractor(self) -> bool:
        return self.kind in DISTRACTOR_KINDS


@dataclass(frozen=True)
class Draft:
    """A family as written in a data module, before it gets its scorecard-qualified id."""

    kind: Kind
    name: str
    phrasings: tuple[str, ...]
    when: str | None = None
    order: float | None = None


def parse_phrasing(text: str) -> tuple[Line, ...]:
    lines: list[Line] = []
    for raw in text.split("|"):
        part = raw.strip()
        prefix, sep, body = part.partition(":")
        if not sep or prefix.strip() not in ROLES or not body.strip():
            raise ValueError(f"a line must read 'A: ...' or 'C: ...', got {part!r}")
        lines.append((ROLES[prefix.strip()], body.strip()))
    return tuple(lines)


def P(name: str, *phrasings: str, when: str | None = None, order: float | None = None) -> Draft:
    """A paraphrase family: the point is done."""
    return Draft("present", name, phrasings, when, order)


def D(kind: DistractorKind, name: str, *phrasings: str, when: str | None = None) -> Draft:
    """A distractor family: the point's words without its act."""
    return Draft(kind, name, phrasings, when)


def C(name: str, *phrasings: str, when: str | None = None, order: float | None = None) -> Draft:
    """Counter-evidence of a behaviour point (pressure, ignoring a refusal)."""
    return Draft("counter", name, phrasings, when, order)


def S(name: str, *phrasings: str, when: str | None = None) -> Draft:
    """Lines that make a fact of the call hold (the client lives in an EHPAD)."""
    return Draft("setup", name, phrasings, when)


def families(scorecard: str, drafts: dict[str, list[Draft]]) -> dict[str, tuple[Family, ...]]:
    """Data-module drafts keyed by point ("2.1") or fact ("@ehpad") -> families with their ids."""
    out: dict[str, tuple[Family, ...]] = {}
    for key, items in drafts.items():
        built = []
        for draft in items:
            if not draft.phrasings:
                raise ValueError(f"{scorecard}/{key}/{draft.name}: a family needs phrasings")
            phrasings = tuple(parse_phrasing(p) for p in draft.phrasings)
            built.append(Family(f"{scorecard}/{key}/{draft.name}", draft.kind, phrasings, draft.when, draft.order))
        out[key] = tuple(built)
    return out


def holds(expression: str | None, facts: dict[str, bool]) -> bool:
    """`a&!b` over the fiche's facts; None always holds."""
    if expression is None:
        return True
    for raw in expression.split("&"):
        term = raw.strip()
        negated = term.startswith("!")
        name = term.lstrip("!")
        if name not in facts:
            raise KeyError(f"unknown fact {name!r} in {expression!r}")
        if facts[name] == negated:
            return False
    return True
