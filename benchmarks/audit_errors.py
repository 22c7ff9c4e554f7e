"""The auditor's errors on the DEVELOPMENT half, by failure class: what an author tuning it may read.

`audit_quality.py` scores the test half and prints no item; this prints the dev half's disagreements
per kind of family said for a point (a paraphrase missed, a distractor taken for the act: the client's
words, hearsay, negation, refusal, a question, a conditional, a deferral, a filler...), the families
that fail most, and the points that made a compliant fiche REJET. It refuses the test half.

    .venv/bin/python benchmarks/audit_errors.py --scorecard nca18 --examples 3
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from audit_quality import NOT_ASSESSABLE, SCORECARDS, load_scorecard, true_steps, with_roles
from evaluation.corpus import LabelledFiche, build_corpus, load_bank

from domain.audits.auditor import TranscriptMode
from domain.audits.evaluation import Agreement
from domain.audits.gating import GatedStep, GatingRules, gate_step
from domain.audits.heuristic import HeuristicAuditor
from domain.audits.review import review_flag
from domain.audits.schema import Conformity, Level, PointStatus
from domain.audits.scorecard import ScorecardSpec
from domain.audits.scoring import compute_compliance

SPLIT = "dev"


@dataclass
class Tally:
    outcome: Counter[tuple[str, bool]] = field(default_factory=Counter)
    by_family: Counter[str] = field(default_factory=Counter)
    by_rule: Counter[tuple[str, str]] = field(default_factory=Counter)
    shown: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    culprits: Counter[str] = field(default_factory=Counter)
    pooled: Agreement = field(default_factory=Agreement)
    rejections: Agreement = field(default_factory=Agreement)
    critical: Agreement = field(default_factory=Agreement)
    flagged: int = 0  # compliant fiches falsely REJET and flagged needs_review
    flagged_due: int = 0  # fiches rightly REJET and flagged needs_review


async def audit(auditor: HeuristicAuditor, scorecard: ScorecardSpec, fiche: LabelledFiche) -> list[GatedStep]:
    timeline = with_roles(fiche)
    gated = []
    for spec in scorecard.steps:
        analysis = await auditor.analyze_step(scorecard, spec, timeline, mode=TranscriptMode.PROMPT)
        gated.append(gate_step(spec, analysis.output, timeline, GatingRules(), assessments=analysis.assessments))
    return gated


def tally_points(tally: Tally, scorecard: ScorecardSpec, fiche: LabelledFiche, steps: list[GatedStep], *,
                 kinds: dict[str, str], examples: int) -> list[str]:  # fmt: skip
    """Counts each assessable point's verdict; the critical points falsely missed."""
    false_points = []
    for step in steps:
        for point in step.points:
            if point.rule == NOT_ASSESSABLE:
                continue
            key = (step.position, point.index)
            family = fiche.families.get(key, "")
            kind = kinds.get(family, "silence")
            truth = fiche.labels[key] != "absent"
            said = point.statut is not PointStatus.ABSENT
            tally.outcome[kind, truth == said] += 1
            tally.pooled += Agreement.of([(truth, said)])
            if truth == said:
                continue
            tally.by_family[f"{key[0]}.{key[1]} {family or '(nothing said)'}"] += 1
            tally.by_rule[kind, point.rule or ""] += 1
            if truth and step.is_critical:
                false_points.append(f"{key[0]}.{key[1]}")
            if len(tally.shown[kind]) < examples:
                quotes = " / ".join(c.texte for c in point.citations)
                tally.shown[kind].append(
                    f"  {key[0]}.{key[1]} «{scorecard.step(key[0]).control_points[key[1] - 1][:60]}» "
                    f"family {family}: {point.statut} rule={point.rule} conf={point.confidence} "
                    f"quotes: {quotes[:160]}"
                )
    return false_points


def tally_levels(tally: Tally, scorecard: ScorecardSpec, fiche: LabelledFiche, steps: list[GatedStep],
                 false_points: list[str]) -> None:  # fmt: skip
    truths = true_steps(scorecard, fiche.labels)
    by_position = {s.position: s for s in steps}
    for true in (t for t in truths if t.is_critical):
        failed = by_position[true.position].conforme is not Conformity.CONFORME
        tally.critical += Agreement.of([(true.conforme != Conformity.CONFORME, failed)])
    truth_level = compute_compliance(truths, scorecard).niveau
    audited = compute_compliance(steps, scorecard).niveau
    tally.rejections += Agreement.of([(truth_level is Level.REJET, audited is Level.REJET)])
    if truth_level is Level.REJET and audited is Level.REJET:
        tally.flagged_due += review_flag(steps).needs_review
    if truth_level is not Level.REJET and audited is Level.REJET:
        tally.flagged += review_flag(steps).needs_review
        failed_steps = [f"step {s.position}" for s in steps if s.is_critical and s.conforme is not Conformity.CONFORME]
        tally.culprits.update(false_points or failed_steps)


def render(name: str, fiches: int, tally: Tally) -> list[str]:
    rejections = tally.rejections
    negatives = rejections.false_positive + rejections.true_negative
    lines = [
        f"== {name} / dev half, {fiches} fiches: kappa {tally.pooled.kappa:.3f} (agreement "
        f"{tally.pooled.accuracy:.3f}), false REJET {rejections.false_positive}/{negatives} "
        f"({rejections.false_positive / max(1, negatives):.3f}, {tally.flagged} of them flagged needs_review), "
        f"critical recall {tally.critical.recall:.3f}; REJET due and found {rejections.true_positive}, "
        f"{tally.flagged_due} of them flagged needs_review ==",
        "-- verdicts per kind of family said --",
    ]
    for kind in sorted({k for k, _ in tally.outcome}):
        right, wrong = tally.outcome[kind, True], tally.outcome[kind, False]
        lines.append(f"{kind:<20} right {right:>4} wrong {wrong:>4} ({wrong / (right + wrong):.0%})")
    lines.append("-- wrong verdicts per kind and deciding rule --")
    lines += [f"{kind:<20} {rule:<22} {n}" for (kind, rule), n in tally.by_rule.most_common()]
    lines.append("-- families wrong most often --")
    lines += [f"{n:>4} {family}" for family, n in tally.by_family.most_common(25)]
    lines.append("-- critical points falsely missed on compliant fiches made REJET --")
    lines += [f"{n:>4} {point}" for point, n in tally.culprits.most_common(15)]
    for kind, items in sorted(tally.shown.items()):
        lines.append(f"-- examples: {kind} --")
        lines += items
    return lines


async def analyse(name: str, fiches: int, examples: int) -> list[str]:
    scorecard = load_scorecard(SCORECARDS[name])
    kinds = {f.id: str(f.kind) for families in load_bank(name, SPLIT).values() for f in families}  # type: ignore[arg-type]
    auditor = HeuristicAuditor()
    tally = Tally()
    for fiche in build_corpus(name, SPLIT, fiches):  # type: ignore[arg-type]
        steps = await audit(auditor, scorecard, fiche)
        false_points = tally_points(tally, scorecard, fiche, steps, kinds=kinds, examples=examples)
        tally_levels(tally, scorecard, fiche, steps, false_points)
    return render(name, fiches, tally)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scorecard", choices=(*SCORECARDS, "all"), default="all")
    parser.add_argument("--fiches", type=int, default=60)
    parser.add_argument("--examples", type=int, default=2)
    args = parser.parse_args()
    for name in SCORECARDS:
        if args.scorecard in ("all", name) and SCORECARDS[name].exists():
            print("\n".join(await analyse(name, args.fiches, args.examples)))


if __name__ == "__main__":
    asyncio.run(main())
