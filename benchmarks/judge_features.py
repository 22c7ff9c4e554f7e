"""Features of a (control point, fiche) pair for a learned present / absent judge (an experiment).

The rule-based judge (`domain.audits.heuristic.judge`) says PRESENT when one utterance of the right
speaker, said as a fact, matches `PRESENT_MIN` of the point's term weight. `train_judge.py` asks
whether a model weighing the same evidence does better, from these features, generic over scorecards
(nothing is keyed by scorecard, step or point):

- the point: act kind (ask / inform), conditional, about an absence, whose words count, term count;
- the best utterance that counts (right speaker, as a fact): matched share of the point's terms,
  share matched exactly, sentence-vector similarity with the point, question, hedged, a client's
  agreement to the agent's question, position in the call; how many utterances count;
- the best utterance that does not count: matched share when said by the wrong speaker, and when
  negated, reported, deferred, asked or a filler;
- word-vector coverage: for each of the point's own terms its nearest unblocked word in an utterance,
  averaged by term weight, best over the utterances that count, and that utterance's similarity;
- rivals: how much better the utterance says this point than the scorecard's other points (an
  utterance that says another point better is that point's evidence).

It did not beat the rules (`docs/decisions.md` 46), so the product does not use it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from domain.audits.points import PointKind, PointQuery
from domain.audits.scorecard import SpeakerRule
from domain.language.utterances import ParsedTimeline, Utterance

FEATURES: tuple[str, ...] = (
    "ask",
    "conditional",
    "negative",
    "speaker_client",
    "speaker_any",
    "own_terms",
    "best_strength",
    "best_exact_share",
    "best_cosine",
    "best_question",
    "best_hedged",
    "best_answer",
    "best_position",
    "counted",
    "wrong_speaker_strength",
    "not_as_fact_strength",
    "coverage",
    "coverage_cosine",
    "any_match",
    "best_margin",
    "best_is_top",
    "cosine_margin",
)
STRENGTH_CAP = 2.0


def _cosine(a: np.ndarray | None, b: np.ndarray | None) -> float:
    return float(a @ b) if a is not None and b is not None else 0.0


def _coverage(query: PointQuery, utterance: Utterance) -> float:
    """Weighted mean over the point's own terms of the nearest unblocked word's vector similarity."""
    terms = [t for t in query.terms if t.own and t.vector is not None]
    pairs = zip(utterance.vectors, utterance.blocked, strict=True)
    words = [v for v, blocked in pairs if v is not None and not blocked]
    if not terms or not words:
        return 0.0
    similarities = np.clip(np.stack(words) @ np.stack([t.vector for t in terms]).T, 0.0, 1.0).max(axis=0)  # type: ignore[misc]
    weights = np.array([t.weight for t in terms])
    return float(similarities @ weights / weights.sum()) if weights.sum() > 0 else 0.0


@dataclass(frozen=True)
class PointEvidence:
    """The features of a point over a fiche, and the utterance that would be cited."""

    features: np.ndarray
    cited: Utterance | None


@dataclass(frozen=True)
class Rivals:
    """What the scorecard's other points make of each utterance: an utterance that says another point
    better is that point's evidence more than this one's."""

    strengths: dict[int, dict[tuple[int, int], float]]  # id(utterance): {(step, point): matched strength}
    cosines: dict[tuple[int, int], dict[int, float]]  # (step, point): {id(utterance): sentence similarity}

    def best_other(self, key: tuple[int, int], utterance: Utterance) -> float:
        return max((v for k, v in self.strengths.get(id(utterance), {}).items() if k != key), default=0.0)

    def best_other_cosine(self, key: tuple[int, int], utterance: Utterance) -> float:
        return max((c.get(id(utterance), 0.0) for k, c in self.cosines.items() if k != key), default=0.0)


def rivals(queries: Sequence[PointQuery], parsed: ParsedTimeline) -> Rivals:
    from domain.audits.heuristic import candidates

    strengths: dict[int, dict[tuple[int, int], float]] = {}
    cosines: dict[tuple[int, int], dict[int, float]] = {}
    for query in queries:
        key = (query.step_position, query.index)
        counted, _ = candidates(query, parsed)
        for match in counted:
            per = strengths.setdefault(id(match.utterance), {})
            per[key] = max(per.get(key, 0.0), match.strength)
        cosines[key] = {id(u): _cosine(query.vector, u.vector) for u in parsed.utterances}
    return Rivals(strengths, cosines)


def point_features(query: PointQuery, parsed: ParsedTimeline, others: Rivals) -> PointEvidence:
    from domain.audits.heuristic import Rule, as_fact, candidates, role_fits

    key = (query.step_position, query.index)
    counted, near = candidates(query, parsed)
    best = max(counted, key=lambda m: m.strength, default=None)
    total = max(1, len(parsed.utterances) - 1)
    order = {id(u): i for i, u in enumerate(parsed.utterances)}

    def strongest(rule: Rule) -> float:
        return min(STRENGTH_CAP, max((m.strength for m in near if m.rule is rule), default=0.0))

    eligible = [
        u for u in parsed.utterances if role_fits(query.speaker, u.role) and as_fact(query, u) and not u.negated
    ]
    coverages = [(_coverage(query, u), u) for u in eligible]
    coverage, covered = max(coverages, key=lambda c: c[0], default=(0.0, None))
    own = [t for t in query.terms if t.own]
    exact = 0.0
    if best is not None and best.matched:
        said = set(best.utterance.lemmas) | set(best.utterance.surfaces)
        exact = sum(lemma in said for lemma in best.matched) / len(best.matched)
    values = [
        query.kind is PointKind.ASK,
        query.conditional,
        query.negative,
        query.speaker is SpeakerRule.CLIENT,
        query.speaker is SpeakerRule.ANY,
        min(len(own), 6) / 6,
        min(STRENGTH_CAP, best.strength) if best else 0.0,
        exact,
        _cosine(query.vector, best.utterance.vector) if best else 0.0,
        best.utterance.question if best else False,
        best.hedged if best else False,
        best.rule is Rule.ANSWER if best else False,
        order.get(id(best.utterance), 0) / total if best else 0.0,
        min(len(counted), 10) / 10,
        strongest(Rule.WRONG_SPEAKER_ONLY),
        strongest(Rule.NOT_AS_FACT_ONLY),
        coverage,
        _cosine(query.vector, covered.vector) if covered is not None else 0.0,
        bool(counted or near),
        max(
            (min(STRENGTH_CAP, m.strength) - min(STRENGTH_CAP, others.best_other(key, m.utterance)) for m in counted),
            default=-1.0,
        ),
        best is not None and best.strength >= others.best_other(key, best.utterance),
        max((_cosine(query.vector, u.vector) - others.best_other_cosine(key, u) for u in eligible), default=-1.0),
    ]
    cited = best.utterance if best is not None else covered
    return PointEvidence(np.array(values, dtype=np.float64), cited)


def scorecard_evidence(queries: Sequence[PointQuery], parsed: ParsedTimeline) -> dict[tuple[int, int], PointEvidence]:
    """Every point's features over one fiche (the points of the whole scorecard, as rivals of each other)."""
    others = rivals(queries, parsed)
    return {(q.step_position, q.index): point_features(q, parsed, others) for q in queries}
