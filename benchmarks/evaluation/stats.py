"""Counts of the corpus, per scorecard and half: families by kind, phrasings, and what a generated
corpus holds (labels, compliant fiches, distractors). Prints no phrasing, so it is safe on the test half.

    PYTHONPATH=benchmarks .venv/bin/python -m evaluation.stats [--fiches 200]
"""

from __future__ import annotations

import argparse
from collections import Counter

from .corpus import build_corpus, load_bank
from .model import DISTRACTOR_KINDS
from .scorecards import PLANS, ScorecardName


def describe(scorecard: ScorecardName, split: str, fiches: int) -> list[str]:
    plan = PLANS[scorecard]
    bank = load_bank(scorecard, "dev" if split == "dev" else "test")
    kinds: Counter[str] = Counter()
    phrasings = 0
    for families in bank.values():
        for family in families:
            kinds[family.kind] += 1
            phrasings += len(family.phrasings)
    per_point = [sum(f.kind == "present" for f in bank.get(f"{s}.{i}", ())) for s, i in plan.points]
    distractors = {kind: n for kind, n in sorted(kinds.items()) if kind in DISTRACTOR_KINDS}
    corpus = build_corpus(scorecard, "dev" if split == "dev" else "test", fiches)
    labels = Counter(label for fiche in corpus for label in fiche.labels.values())
    compliant = sum(
        all(f.labels[key] != "absent" for key in plan.points if key[0] in plan.critical_steps) for f in corpus
    )
    absent = [(f, key) for f in corpus for key, label in f.labels.items() if label == "absent"]
    carried = sum(key in f.families for f, key in absent)
    calls = sum(len(f.timeline.recordings) for f in corpus)
    return [
        f"{scorecard}/{split}: {len(plan.points)} control points, {kinds['present']} paraphrase families "
        f"({min(per_point)}-{max(per_point)} per point), {sum(distractors.values())} distractor families "
        f"{distractors}, {kinds['counter']} counter, {kinds['setup']} setup; {phrasings} phrasings",
        f"  {fiches} fiches, {calls} calls: labels {dict(sorted(labels.items()))}, compliant {compliant} "
        f"({compliant / fiches:.0%}), absent points with a distractor or counter {carried}/{len(absent)}",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fiches", type=int, default=200)
    args = parser.parse_args()
    for scorecard in ("demo", "nca18"):
        for split in ("dev", "test"):
            print("\n".join(describe(scorecard, split, args.fiches)))


if __name__ == "__main__":
    main()
