"""Benchmark: how well the auditor's verdicts agree with labels it was not written against.

The corpus (`benchmarks/evaluation/`) is written apart from the auditor: paraphrase families per
control point (synonyms, word families, numbers in words, indirect phrasings, question + answer
across two speakers), distractors (the client saying the words, hearsay, negation, refusal,
unanswered questions, deferrals, fillers), recogniser noise, and a diarisation whose agent label is
drawn per recording. Families are split into a development half and a test half; **the figures that
count are the test half's**, which the auditor's author does not read.

Both scorecards are measured: the demo scorecard and the original system's 18-point scorecard
(`../shared/fixtures/scorecards/audit_config_18_points.json`, skipped with a message when absent),
each imported the way a user imports it (`domain.scorecards.io.read_document`, which infers whose
words count per control point). Roles are inferred from the words (`domain.transcripts.roles`), never
taken from the labels. Every step goes through evidence gating.

Figures per scorecard and split:
- Cohen's kappa per control point and pooled: a point is compliant when PRESENT / PARTIEL, or
  NON_APPLICABLE because its condition did not arise (label `na`); points the auditor declares
  not assessable offline are left out and counted (`unassessed`);
- critical recall: critical steps that the labels make non-CONFORME (scoring rules applied to the
  labels) and the audit finds non-CONFORME;
- false REJET rate: fiches whose labelled level is not REJET but whose audit is;
- citations kept by gating, and citations whose speaker has the role the point requires;
- cost: CPU seconds per fiche after the parse, parse seconds per 10 minutes of call, peak RSS.

Product verification (issue 20, `product_flags.py`): on simulator fiches with labelled product
faults, recall and precision of the flags raised on `verifyProductInfo` steps for wrong promises.

The last line holds `key=value` figures of the TEST half (kappa and false_rejet: the worse of the
two scorecards), led by `product_recall` / `product_precision`; `ratio` = bound_kappa / kappa (<= 1
means the goal is met).

    .venv/bin/python benchmarks/audit_quality.py                 # 60 fiches per scorecard and half
    .venv/bin/python benchmarks/audit_quality.py --split dev     # the half an author may look at
    .venv/bin/python benchmarks/audit_quality.py --llm           # also the configured OpenAI-compatible
                                                                 # auditor (OPENAI_BASE_URL: vLLM, Ollama...)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from evaluation.corpus import LabelledFiche, build_corpus
from product_flags import ProductReport, measure, simulator_fiches
from simulated import demo_scorecard

from domain.audits.auditor import Auditor, TranscriptMode
from domain.audits.evaluation import Agreement
from domain.audits.gating import GatedStep, GatingRules, derive_step, gate_step
from domain.audits.heuristic import HeuristicAuditor
from domain.audits.schema import Conformity, Level, PointStatus
from domain.audits.scorecard import ScorecardSpec, SpeakerRule
from domain.audits.scoring import compute_compliance
from domain.audits.timeline import Timeline
from domain.language.pipeline import pipeline
from domain.language.utterances import parse_timeline
from domain.scorecards.io import read_document
from domain.transcripts.roles import assign_roles

ROOT = Path(__file__).resolve().parent.parent
SCORECARDS = {
    "demo": ROOT / "domain" / "audits" / "demo_scorecard.json",
    "nca18": ROOT.parent / "shared" / "fixtures" / "scorecards" / "audit_config_18_points.json",
}
BOUND_KAPPA = 0.8
NOT_ASSESSABLE = "not_assessable_offline"
TRUE_STATUS = {"present": PointStatus.PRESENT, "absent": PointStatus.ABSENT, "na": PointStatus.NON_APPLICABLE}


def load_scorecard(path: Path) -> ScorecardSpec:
    draft = read_document(json.loads(path.read_text(encoding="utf-8")))
    return ScorecardSpec(0, 0, 1, draft.name, draft.description, draft.system_prompt, draft.steps)


def with_roles(fiche: LabelledFiche) -> Timeline:
    recordings = tuple(assign_roles(r, advisor_name=fiche.advisor_name) for r in fiche.timeline.recordings)
    return Timeline(fiche.timeline.fiche_id, recordings)


@dataclass(frozen=True)
class _TrueStep:
    position: int
    score: int
    weight: int
    is_critical: bool
    conforme: str


def true_steps(scorecard: ScorecardSpec, labels: dict[tuple[int, int], str]) -> list[_TrueStep]:
    """The steps as the labels make them, under the same scoring rules as audits."""
    out = []
    for step in scorecard.steps:
        statuses = [TRUE_STATUS[labels[step.position, i]] for i in range(1, len(step.control_points) + 1)]
        derived = derive_step(statuses, step.weight)
        out.append(_TrueStep(step.position, derived.score, step.weight, step.is_critical, derived.conforme))
    return out


@dataclass
class Report:
    auditor: str
    scorecard: str
    split: str
    fiches: int = 0
    per_point: dict[tuple[int, int], Agreement] = field(default_factory=dict)
    unassessed: int = 0
    critical: Agreement = field(default_factory=Agreement)  # positive = a critical step not CONFORME
    rejections: Agreement = field(default_factory=Agreement)  # positive = REJET
    citations: int = 0
    citations_valid: int = 0
    citations_role_ok: int = 0
    roles_right: int = 0
    recordings: int = 0
    levels: Counter[str] = field(default_factory=Counter)
    needs_review: int = 0
    audit_cpu: float = 0.0
    parse_cpu: float = 0.0
    reload_cpu: float = 0.0  # utterances rebuilt from the stored analyses (a later audit's "parse")
    audio_minutes: float = 0.0

    @property
    def pooled(self) -> Agreement:
        return sum(self.per_point.values(), Agreement())

    @property
    def false_rejet(self) -> float:
        negatives = self.rejections.false_positive + self.rejections.true_negative
        return self.rejections.false_positive / negatives if negatives else 0.0

    @property
    def citations_valid_share(self) -> float:
        return self.citations_valid / self.citations if self.citations else 1.0

    @property
    def roles_ok_share(self) -> float:
        return self.citations_role_ok / self.citations_valid if self.citations_valid else 1.0


def _compliant(status: PointStatus) -> bool:
    return status is not PointStatus.ABSENT


def _role_ok(rule: SpeakerRule, speaker: str, agent: str) -> bool:
    return rule is SpeakerRule.ANY or (speaker == agent) == (rule is SpeakerRule.AGENT)


def score_fiche(report: Report, scorecard: ScorecardSpec, fiche: LabelledFiche, timeline: Timeline,
                steps: list[GatedStep]) -> None:  # fmt: skip
    report.fiches += 1
    agents = fiche.agent_speakers
    for recording in timeline.recordings:
        report.recordings += 1
        agent_chunks = {c.speaker for c in recording.chunks if c.role == "agent"}
        report.roles_right += agent_chunks == {agents[recording.call_id]}
    for step in steps:
        spec = scorecard.step(step.position)
        report.citations += step.stats.citations_total
        report.citations_valid += step.stats.citations_valid
        for point in step.points:
            rule = spec.speaker_rule(point.index - 1)
            report.citations_role_ok += sum(_role_ok(rule, c.speaker, agents[c.call_id]) for c in point.citations)
            if point.rule == NOT_ASSESSABLE:
                report.unassessed += 1
                continue
            truth = fiche.labels[step.position, point.index] != "absent"
            key = (step.position, point.index)
            report.per_point[key] = report.per_point.get(key, Agreement()) + Agreement.of(
                [(truth, _compliant(point.statut))]
            )
    truth_steps = true_steps(scorecard, fiche.labels)
    by_position = {s.position: s for s in steps}
    for true in truth_steps:
        if true.is_critical:
            audited = by_position[true.position].conforme is not Conformity.CONFORME
            report.critical += Agreement.of([(true.conforme != Conformity.CONFORME, audited)])
    audited_level = compute_compliance(steps, scorecard).niveau
    true_level = compute_compliance(truth_steps, scorecard).niveau
    report.rejections += Agreement.of([(true_level is Level.REJET, audited_level is Level.REJET)])
    report.levels[str(audited_level)] += 1
    from domain.audits.review import review_flag

    report.needs_review += review_flag(steps).needs_review


async def run_harness(auditor: Auditor, scorecard: ScorecardSpec, name: str, split: str,
                      fiches: list[LabelledFiche], *, concurrency: int = 1) -> Report:  # fmt: skip
    report = Report(auditor.name + (f" ({auditor.model})" if auditor.model else ""), name, split)
    rules = GatingRules()
    limit = asyncio.Semaphore(concurrency)
    parse: Callable[[Timeline], Any] | None = getattr(auditor, "parsed", None)
    if parse is not None:
        pipeline()  # loaded once per process, before the clock: the parse figure is the parse's

    async def audit(fiche: LabelledFiche) -> tuple[Timeline, list[GatedStep]]:
        async with limit:
            timeline = with_roles(fiche)
            if parse is not None:
                started = time.process_time()
                fresh = parse(timeline).fresh
                report.parse_cpu += time.process_time() - started
                started = time.process_time()
                parse_timeline(timeline.with_analyses(fresh))
                report.reload_cpu += time.process_time() - started
            started = time.process_time()
            steps = []
            for step in scorecard.steps:
                analysis = await auditor.analyze_step(scorecard, step, timeline, mode=TranscriptMode.PROMPT)
                steps.append(
                    gate_step(step, analysis.output, timeline, rules, failed=analysis.failed, error=analysis.error,
                              assessments=analysis.assessments)
                )  # fmt: skip
            report.audit_cpu += time.process_time() - started
            report.audio_minutes += sum(r.duration_seconds or 0.0 for r in timeline.recordings) / 60
            return timeline, steps

    results = await asyncio.gather(*(audit(f) for f in fiches))
    for fiche, (timeline, steps) in zip(fiches, results, strict=True):
        score_fiche(report, scorecard, fiche, timeline, steps)
    return report


def render(report: Report, scorecard: ScorecardSpec, *, per_point: bool) -> list[str]:
    pooled, critical, rejections = report.pooled, report.critical, report.rejections
    lines = [f"== {report.scorecard} / {report.split} half: {report.auditor}, {report.fiches} fiches =="]
    if per_point:
        lines.append(f"{'point':<6} {'TP':>4} {'FP':>4} {'FN':>4} {'TN':>4} {'kappa':>6}  control point")
        for (position, index), a in sorted(report.per_point.items()):
            text = scorecard.step(position).control_points[index - 1]
            lines.append(
                f"{f'{position}.{index}':<6} {a.true_positive:>4} {a.false_positive:>4} {a.false_negative:>4} "
                f"{a.true_negative:>4} {a.kappa:>6.3f}  {text[:70]}"
            )
    per_fiche = report.audit_cpu / report.fiches if report.fiches else 0.0
    parse_per_10 = report.parse_cpu / report.audio_minutes * 10 if report.audio_minutes else 0.0
    reload_per_fiche = report.reload_cpu / report.fiches if report.fiches else 0.0
    lines += [
        f"pooled kappa {pooled.kappa:.3f} over {pooled.total} control points (agreement {pooled.accuracy:.3f}, "
        f"precision {pooled.precision:.3f}, recall {pooled.recall:.3f}); {report.unassessed} not assessable offline",
        f"critical steps failing: {critical.true_positive}/{critical.true_positive + critical.false_negative} "
        f"detected (recall {critical.recall:.3f}), {critical.false_positive} failed without cause",
        f"REJET: {rejections.true_positive}/{rejections.true_positive + rejections.false_negative} due, "
        f"{rejections.false_positive} of {rejections.false_positive + rejections.true_negative} compliant fiches "
        f"falsely REJET ({report.false_rejet:.3f}); levels {dict(sorted(report.levels.items()))}; "
        f"needs_review {report.needs_review}",
        f"citations kept by gating {report.citations_valid}/{report.citations} ({report.citations_valid_share:.3f}), "
        f"of the right role {report.citations_role_ok}/{report.citations_valid} ({report.roles_ok_share:.3f}); "
        f"roles inferred right on {report.roles_right}/{report.recordings} recordings",
        f"cpu {per_fiche:.3f} s per fiche"
        + (
            f" after the parse; parse {parse_per_10:.2f} s per 10 minutes of call (first audit), "
            f"{reload_per_fiche:.3f} s per fiche reading the stored analysis (later audits)"
            if report.parse_cpu
            else ""
        ),
        "",
    ]
    return lines


def summary(reports: list[Report], rss_mib: float) -> str:
    """The last line: `key=value` figures of the test half, the worse of the scorecards."""
    if not reports:
        return f"peak_rss_mib={rss_mib:.0f} (dev half only: no test figures)"
    figures = " ".join(f"kappa_{r.scorecard}={r.pooled.kappa:.3f} false_rejet_{r.scorecard}={r.false_rejet:.3f}"
                       for r in reports)  # fmt: skip
    kappa = min(r.pooled.kappa for r in reports)
    false_rejet = max(r.false_rejet for r in reports)
    recall = min(r.critical.recall for r in reports)
    valid = min(r.citations_valid_share for r in reports)
    roles = min(r.roles_ok_share for r in reports)
    cpu = max(r.audit_cpu / r.fiches for r in reports)
    parse = max(r.parse_cpu / r.audio_minutes * 10 for r in reports if r.audio_minutes)
    reload = max(r.reload_cpu / r.fiches for r in reports)
    return (
        f"fiches={sum(r.fiches for r in reports)} {figures} kappa={kappa:.3f} false_rejet={false_rejet:.3f} "
        f"critical_recall={recall:.3f} citations_valid={valid:.3f} citation_roles={roles:.3f} "
        f"cpu_per_fiche_s={cpu:.3f} parse_per_10min_s={parse:.2f} reload_per_fiche_s={reload:.3f} "
        f"peak_rss_mib={rss_mib:.0f} bound_kappa={BOUND_KAPPA} "
        f"ratio={BOUND_KAPPA / kappa if kappa > 0 else float('inf'):.3f}"
    )


def _openai_auditor() -> tuple[Any, Any] | str:
    """(auditor, closer) of the configured OpenAI-compatible auditor, or why it cannot run."""
    from callaudit.settings import Settings

    settings = Settings()
    if settings.openai_api_key is None and settings.openai_base_url is None:
        return "neither OPENAI_API_KEY nor OPENAI_BASE_URL is set: LLM auditor skipped"
    from redis.asyncio import Redis

    from callaudit.embedded import EmbeddedRedis
    from resources.llm.resource import build_auditor

    embedded = None
    url = settings.redis_url.get_secret_value() if settings.redis_url else None
    if url is None:
        embedded = EmbeddedRedis(Path(tempfile.mkdtemp(prefix="audit-quality-")))
        embedded.start()
        url = embedded.url()
    redis = Redis.from_url(str(url))
    auditor = build_auditor(settings.model_copy(update={"audit_auditor": "openai"}), redis)

    async def close() -> None:
        await redis.aclose()
        if embedded is not None:
            embedded.stop()

    return auditor, close


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fiches", type=int, default=60, help="fiches per scorecard and half")
    parser.add_argument("--split", choices=("test", "dev", "both"), default="test")
    parser.add_argument("--scorecard", choices=(*SCORECARDS, "all"), default="all")
    parser.add_argument("--per-point", action="store_true", help="a line per control point")
    parser.add_argument("--llm", action="store_true", help="also run the configured OpenAI-compatible auditor")
    parser.add_argument("--llm-fiches", type=int, default=10)
    parser.add_argument("--output", type=Path, help="also write the report to this file")
    parser.add_argument("--product-fiches", type=int, default=48, help="simulator fiches for product verification")
    args = parser.parse_args()

    splits = ("dev", "test") if args.split == "both" else (args.split,)
    lines = [f"audit quality on the held-apart corpus: {args.fiches} fiches per scorecard and half", ""]
    test_reports: list[Report] = []
    auditor = HeuristicAuditor()
    opened = _openai_auditor() if args.llm else None
    for name, path in SCORECARDS.items():
        if args.scorecard not in ("all", name):
            continue
        if not path.exists():
            lines += [f"{name}: {path} not found, skipped", ""]
            continue
        scorecard = load_scorecard(path)
        for split in splits:
            fiches = build_corpus(name, split, args.fiches)  # type: ignore[arg-type]
            report = await run_harness(auditor, scorecard, name, split, fiches)
            lines += render(report, scorecard, per_point=args.per_point)
            if split == "test":
                test_reports.append(report)
            if opened is not None and not isinstance(opened, str):
                llm = await run_harness(opened[0], scorecard, name, split, fiches[: args.llm_fiches], concurrency=4)
                lines += render(llm, scorecard, per_point=args.per_point)
    product: ProductReport | None = None
    if args.product_fiches:
        sold = simulator_fiches(args.product_fiches)
        product = await measure(auditor, demo_scorecard(), sold)
        lines += product.lines()
        if opened is not None and not isinstance(opened, str):
            lines += (await measure(opened[0], demo_scorecard(), sold[: args.llm_fiches])).lines()
    if isinstance(opened, str):
        lines += [opened, ""]
    elif opened is not None:
        await opened[1]()

    last = summary(test_reports, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    lines.append(f"{product.figures()} {last}" if product else last)
    text = "\n".join(lines)
    print(text)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(main())
