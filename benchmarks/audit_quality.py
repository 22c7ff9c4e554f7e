"""Benchmark: how well an auditor's verdicts agree with the demo CRM simulator's ground truth.

The corpus is built in-process from `callaudit.demo_crm` (no HTTP): fiches of consecutive sales
days, every recording's reference transcript (the simulator's light ASR noise: hesitations, lost
accents), cut into speaker-turn chunks by `domain.transcripts.chunking.build_chunks`, as the
`transcripts` asset stores them. Each fiche is audited with the demo scorecard
(`domain/audits/demo_scorecard.json`), and every step goes through evidence gating.

The scorecard's `x_ground_truth` block maps each control point to the simulator segment it checks;
a point is truly present when its segment is said in any call of the fiche. Reported:

- Cohen's kappa per control point and pooled, an audited point counting as present when PRESENT or
  PARTIEL after gating;
- recall of critical failures: (fiche, critical step) pairs whose segment is missing must come out
  not CONFORME; and fiches that should be rejected must be REJET;
- share of the auditor's citations that gating keeps, and of those kept, the share whose speaker
  role (inferred as when transcripts are stored: the fiche's advisor, the call direction) is the
  simulator's (`speaker_0` is its agent).

A second pass adds character typos to the transcripts (`--typos`, share of words of 5+ letters
given one edit) to measure the tolerance to recognition errors.

The heuristic auditor always runs; when `OPENAI_API_KEY` is configured and `resources.llm` is
importable, the same harness also runs the OpenAI auditor on `--llm-fiches` fiches.

The last line holds `key=value` figures; `ratio` = bound_kappa / kappa (<= 1 means the goal is met).

    .venv/bin/python benchmarks/audit_quality.py               # 130 fiches (about 250 calls)
    .venv/bin/python benchmarks/audit_quality.py --fiches 30   # a quick look
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from callaudit.demo_crm.calls import SPEAKERS, build_transcript, fiche_ground_truth
from callaudit.demo_crm.fiches import FicheCore, build_fiche
from domain.audits.auditor import Auditor, TranscriptMode
from domain.audits.evaluation import Agreement
from domain.audits.gating import GatedStep, GatingRules, gate_step
from domain.audits.heuristic import HeuristicAuditor
from domain.audits.schema import Conformity, Level, PointStatus
from domain.audits.scorecard import ScorecardSpec
from domain.audits.scoring import compute_compliance
from domain.audits.timeline import Timeline, TimelineRecording, recording_chunks
from domain.scorecards.io import read_document
from domain.transcripts.chunking import Word, build_chunks
from domain.transcripts.roles import assign_roles

SCORECARD_PATH = Path(__file__).resolve().parent.parent / "domain" / "audits" / "demo_scorecard.json"
BOUND_KAPPA = 0.8
SEED = 42
FICHES_PER_DAY = 12
FIRST_DAY = date(2026, 2, 2)
SIM_URL = "http://127.0.0.1:8090"
PARIS = ZoneInfo("Europe/Paris")


@dataclass(frozen=True)
class LabelledFiche:
    timeline: Timeline
    segments: frozenset[str]  # ground truth: segments said in any call of the fiche
    calls: int


def load_scorecard() -> tuple[ScorecardSpec, dict[tuple[int, int], str]]:
    """The demo scorecard and its control point -> segment map, keyed (step position, 1-based point)."""
    document = json.loads(SCORECARD_PATH.read_text(encoding="utf-8"))
    draft = read_document(document)
    spec = ScorecardSpec(0, 0, 1, draft.name, draft.description, draft.system_prompt, draft.steps)
    truth = {}
    for key, segment in document["x_ground_truth"].items():
        position, point = key.split(".")
        truth[int(position), int(point)] = segment
    return spec, truth


def _typo(word: str, rng: random.Random) -> str:
    """One substituted, dropped or doubled letter, as a recogniser mishears."""
    letters = [i for i, ch in enumerate(word) if ch.isalpha()]
    i = rng.choice(letters)
    edit = rng.randrange(3)
    if edit == 0:
        return word[:i] + rng.choice("aeioustrnl") + word[i + 1 :]
    if edit == 1:
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]


def _timeline(core: FicheCore, typos: float, rng: random.Random) -> Timeline:
    recordings = []
    for index, rec in enumerate(core.recordings):
        transcript = build_transcript(core, rec)
        words = [
            Word(_typo(w.text, rng) if sum(c.isalpha() for c in w.text) >= 5 and rng.random() < typos else w.text,
                 w.start, w.end, w.speaker)
            for w in transcript.words
        ]  # fmt: skip
        chunks = recording_chunks(index, build_chunks(rec.call_id, words), words)
        local = rec.start.astimezone(PARIS)
        recording = TimelineRecording(
            recording_index=index,
            call_id=rec.call_id,
            recording_url=rec.url(SIM_URL),
            recording_date=local.strftime("%d/%m/%Y"),
            recording_time=local.strftime("%H:%M"),
            start_time=rec.start.isoformat(),
            from_number=rec.from_number,
            to_number=rec.to_number,
            duration_seconds=float(rec.duration_seconds),
            chunks=chunks,
        )
        advisor = f"{core.agent.person.prenom} {core.agent.person.nom}"
        recordings.append(assign_roles(recording, advisor_name=advisor, direction=rec.direction))
    return Timeline(fiche_id=core.fiche_id, recordings=tuple(recordings))


def corpus(fiches: int, *, typos: float = 0.0, seed: int = SEED) -> Iterator[LabelledFiche]:
    """`fiches` fiches of consecutive sales days with their timelines and ground truth."""
    rng = random.Random(seed)
    for n in range(fiches):
        day = FIRST_DAY + timedelta(days=n // FICHES_PER_DAY)
        core = build_fiche(seed, day, n % FICHES_PER_DAY, FICHES_PER_DAY)
        truth = fiche_ground_truth(core)
        yield LabelledFiche(_timeline(core, typos, rng), frozenset(truth["segments"]), len(core.recordings))


@dataclass
class Report:
    auditor: str
    fiches: int = 0
    calls: int = 0
    per_point: dict[tuple[int, int], Agreement] = field(default_factory=dict)
    critical_steps: Agreement = field(default_factory=Agreement)  # positive = a critical failure (truth / audit)
    rejections: Agreement = field(default_factory=Agreement)  # positive = fiche should be / is REJET
    citations: int = 0
    citations_valid: int = 0
    citations_role_correct: int = 0  # kept citations whose role is the speaker's true role
    failed_steps: int = 0
    levels: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def pooled(self) -> Agreement:
        return sum(self.per_point.values(), Agreement())

    @property
    def citations_valid_share(self) -> float:
        return self.citations_valid / self.citations if self.citations else 1.0

    @property
    def citations_role_share(self) -> float:
        return self.citations_role_correct / self.citations_valid if self.citations_valid else 1.0


def _present(status: PointStatus) -> bool:
    return status in (PointStatus.PRESENT, PointStatus.PARTIEL)


def score_fiche(
    report: Report, scorecard: ScorecardSpec, truth: dict[tuple[int, int], str], fiche: LabelledFiche,
    steps: list[GatedStep],
) -> None:  # fmt: skip
    report.fiches += 1
    report.calls += fiche.calls
    for step in steps:
        report.citations += step.stats.citations_total
        report.citations_valid += step.stats.citations_valid
        truth_roles = {label: role for role, label in SPEAKERS.items()}
        report.citations_role_correct += sum(
            c.role == truth_roles.get(c.speaker) for point in step.points for c in point.citations
        )
        report.failed_steps += step.failed
        for point in step.points:
            segment = truth.get((step.position, point.index))
            if segment is not None:
                pair = Agreement.of([(segment in fiche.segments, _present(point.statut))])
                report.per_point[step.position, point.index] = (
                    report.per_point.get((step.position, point.index), Agreement()) + pair
                )
        if step.is_critical:
            spec = scorecard.step(step.position)
            missing = any(
                truth[spec.position, i] not in fiche.segments
                for i in range(1, len(spec.control_points) + 1)
                if (spec.position, i) in truth
            )
            report.critical_steps += Agreement.of([(missing, step.conforme is not Conformity.CONFORME)])
    compliance = compute_compliance(steps, scorecard)
    report.levels[str(compliance.niveau)] += 1
    should_reject = any(
        truth.get((s.position, i)) not in fiche.segments
        for s in scorecard.steps
        if s.is_critical
        for i in range(1, len(s.control_points) + 1)
        if (s.position, i) in truth
    )
    report.rejections += Agreement.of([(should_reject, compliance.niveau is Level.REJET)])


async def run_harness(
    auditor: Auditor, scorecard: ScorecardSpec, truth: dict[tuple[int, int], str], fiches: list[LabelledFiche],
    rules: GatingRules, *, concurrency: int = 1,
) -> Report:  # fmt: skip
    """Audit every fiche step by step with `auditor`, gate, and score against the ground truth."""
    report = Report(auditor=f"{auditor.name}" + (f" ({auditor.model})" if auditor.model else ""))
    started = time.perf_counter()
    limit = asyncio.Semaphore(concurrency)

    async def audit(fiche: LabelledFiche) -> list[GatedStep]:
        async with limit:
            steps = []
            for step in scorecard.steps:
                analysis = await auditor.analyze_step(scorecard, step, fiche.timeline, mode=TranscriptMode.PROMPT)
                steps.append(
                    gate_step(
                        step, analysis.output, fiche.timeline, rules, failed=analysis.failed, error=analysis.error
                    )
                )
            return steps

    results = await asyncio.gather(*(audit(f) for f in fiches))
    for fiche, steps in zip(fiches, results, strict=True):
        score_fiche(report, scorecard, truth, fiche, steps)
    report.seconds = time.perf_counter() - started
    return report


def render(report: Report, scorecard: ScorecardSpec, truth: dict[tuple[int, int], str], title: str) -> list[str]:
    lines = [
        f"== {title}: {report.auditor}, {report.fiches} fiches, {report.calls} calls, {report.seconds:.1f} s ==",
        "",
        f"{'point':<6} {'segment':<20} {'TP':>4} {'FP':>4} {'FN':>4} {'TN':>4} {'kappa':>6}  control point",
    ]
    for (position, index), agreement in sorted(report.per_point.items()):
        text = scorecard.step(position).control_points[index - 1]
        lines.append(
            f"{f'{position}.{index}':<6} {truth[position, index]:<20} {agreement.true_positive:>4} "
            f"{agreement.false_positive:>4} {agreement.false_negative:>4} {agreement.true_negative:>4} "
            f"{agreement.kappa:>6.3f}  {text[:60]}"
        )
    pooled, critical, rejected = report.pooled, report.critical_steps, report.rejections
    lines += [
        "",
        f"pooled kappa {pooled.kappa:.3f} over {pooled.total} control points "
        f"(accuracy {pooled.accuracy:.3f}, precision {pooled.precision:.3f}, recall {pooled.recall:.3f})",
        f"critical failures: {critical.true_positive}/{critical.true_positive + critical.false_negative} detected "
        f"(recall {critical.recall:.3f}), {critical.false_positive} critical steps failed without cause",
        f"rejections: {rejected.true_positive}/{rejected.true_positive + rejected.false_negative} fiches to reject "
        f"are REJET (recall {rejected.recall:.3f}), {rejected.false_positive} rejected wrongly",
        f"citations kept by gating: {report.citations_valid}/{report.citations} ({report.citations_valid_share:.3f}), "
        f"with their speaker's true role: {report.citations_role_share:.3f}",
        f"failed steps: {report.failed_steps}; levels: {dict(sorted(report.levels.items()))}",
        "",
    ]
    return lines


def _openai_auditor() -> tuple[Any, Any] | str:
    """(auditor, closer) of the configured OpenAI auditor, or why it cannot run."""
    from callaudit.settings import Settings

    settings = Settings()
    if settings.openai_api_key is None:
        return "OPENAI_API_KEY is not set: OpenAI auditor skipped"
    try:
        from resources.llm.resource import build_auditor
    except ImportError as exc:
        return f"resources.llm is not available ({exc}): OpenAI auditor skipped"
    from redis.asyncio import Redis

    from callaudit.embedded import EmbeddedRedis

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
    parser.add_argument("--fiches", type=int, default=130)
    parser.add_argument("--typos", type=float, default=0.05, help="share of 5+ letter words given a typo")
    parser.add_argument("--llm-fiches", type=int, default=20)
    parser.add_argument("--output", type=Path, help="also write the report to this file")
    args = parser.parse_args()

    scorecard, truth = load_scorecard()
    rules = GatingRules()
    lines = [
        f"audit quality on the demo CRM corpus: seed {SEED}, {args.fiches} fiches from {FIRST_DAY}, "
        f"scorecard {scorecard.name!r} ({len(scorecard.steps)} steps, {len(truth)} control points)",
        "",
    ]
    clean = list(corpus(args.fiches))
    heuristic = await run_harness(HeuristicAuditor(), scorecard, truth, clean, rules)
    lines += render(heuristic, scorecard, truth, "reference transcripts")
    noisy = list(corpus(args.fiches, typos=args.typos))
    noisy_report = await run_harness(HeuristicAuditor(), scorecard, truth, noisy, rules)
    lines += render(noisy_report, scorecard, truth, f"with {args.typos:.0%} of 5+ letter words mistyped")

    opened = _openai_auditor()
    if isinstance(opened, str):
        lines += [opened, ""]
    else:
        auditor, close = opened
        try:
            llm = await run_harness(auditor, scorecard, truth, clean[: args.llm_fiches], rules, concurrency=4)
            lines += render(llm, scorecard, truth, "reference transcripts")
        finally:
            await close()

    kappa = heuristic.pooled.kappa
    lines.append(
        f"calls={heuristic.calls} fiches={heuristic.fiches} control_points={heuristic.pooled.total} "
        f"kappa={kappa:.3f} kappa_typos={noisy_report.pooled.kappa:.3f} "
        f"critical_recall={heuristic.critical_steps.recall:.3f} reject_recall={heuristic.rejections.recall:.3f} "
        f"citations_valid={heuristic.citations_valid_share:.3f} roles_correct={heuristic.citations_role_share:.3f} "
        f"citations_valid_typos={noisy_report.citations_valid_share:.3f} "
        f"bound_kappa={BOUND_KAPPA} ratio={BOUND_KAPPA / kappa if kappa > 0 else float('inf'):.3f}"
    )
    text = "\n".join(lines)
    print(text)
    if args.output:
        args.output.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(main())
