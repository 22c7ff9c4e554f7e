"""The audit report's view model, built from stored rows by plain functions (no I/O).

The template only formats what is here: every French label, every time and every highlighted
passage is decided in this module, so it is unit-tested without a browser or a database.
`human_review` and `rerun_history` are filled by the review work (issue 17) when it exists; the
template shows their sections only when they are set.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from domain.audits.latest import StepVerdict

STATUS_LABELS = {"PRESENT": "Présent", "PARTIEL": "Partiel", "ABSENT": "Absent", "NON_APPLICABLE": "Non applicable"}
VERDICT_LABELS = {"CONFORME": "Conforme", "PARTIEL": "Partiel", "NON_CONFORME": "Non conforme"}
ROLE_LABELS = {"agent": "conseiller", "client": "client", "unknown": "locuteur inconnu"}
MODE_LABELS = {"prompt": "transcription dans le prompt", "tools": "outils de recherche dans la transcription"}


def clock(seconds: float) -> str:
    """`m:ss` (or `h:mm:ss`) of a position in a call."""
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@dataclass(frozen=True)
class CitationView:
    anchor: str  # the id of the highlighted transcript passage
    text: str
    speaker: str
    role: str
    call_id: str
    call_label: str
    start: float
    end: float
    time: str
    audio_url: str | None  # None: nothing to play (no recording URL, or the reader may not listen)


@dataclass(frozen=True)
class PointView:
    index: int
    point: str
    status: str
    status_label: str
    comment: str
    downgraded: bool
    citations: list[CitationView]


@dataclass(frozen=True)
class StepView:
    position: int
    name: str
    is_critical: bool
    verdict: str
    verdict_label: str
    score: int
    weight: int
    comment: str
    failed: bool
    points: list[PointView]


@dataclass(frozen=True)
class TurnView:
    chunk_id: str
    speaker: str
    role: str
    time: str
    text: str
    cited: bool


@dataclass(frozen=True)
class CallView:
    call_id: str
    label: str
    audio_url: str | None
    unavailable: str | None  # why the recording cannot be played, shown instead of a player
    turns: list[TurnView]


@dataclass(frozen=True)
class ReportView:
    audit_id: int
    title: str
    fiche_id: str
    prospect: str
    agent: str
    group: str
    scorecard: str
    scorecard_version: int
    auditor: str
    model: str
    transcript_mode: str
    date: str
    score: str
    level: str
    is_compliant: bool | None
    critical: str
    critical_failed: list[str]
    needs_review: bool
    steps: list[StepView]
    calls: list[CallView]
    shared: bool = False
    # Issue 17 (overrides, reruns): rendered when set, so the page gains them without a template change.
    human_review: Sequence[Mapping[str, Any]] | None = None
    rerun_history: Sequence[Mapping[str, Any]] | None = None


@dataclass(frozen=True)
class AuditSource:
    """What the report reads, already loaded: the audit row (steps, points, citations), its fiche's
    display fields, the scorecard, and per call in call order its recording and transcript turns."""

    audit: Any  # domain.models.Audit with steps loaded
    fiche_id: str
    prospect: str
    agent: str
    group: str
    scorecard_name: str
    scorecard_version: int
    calls: Sequence[CallSource] = field(default_factory=list)
    # The latest view of each step by position (overrides in force applied, `domain.audits.latest`),
    # and the human trail shown beside it; absent for an audit nobody reviewed or reran.
    latest: Mapping[int, StepVerdict] = field(default_factory=dict)
    human_review: Sequence[Mapping[str, Any]] = ()
    rerun_history: Sequence[Mapping[str, Any]] = ()


@dataclass(frozen=True)
class CallSource:
    call_id: str
    has_url: bool
    recorded: str  # "2025-03-03 10:15", or "" when unknown
    turns: Sequence[Any]  # TranscriptChunk rows (chunk_id, speaker, role, start_seconds, text)


def _score(value: Decimal | float | None) -> str:
    if value is None:
        return "—"
    return f"{float(value):.1f} %".replace(".", ",")


def _call_labels(calls: Iterable[CallSource]) -> dict[str, str]:
    labels = {}
    for n, call in enumerate(calls, start=1):
        labels[call.call_id] = f"Appel {n}" + (f" ({call.recorded})" if call.recorded else "")
    return labels


def build_report(
    source: AuditSource,
    audio_url: Callable[[str], str] | None,
    *,
    shared: bool = False,
    tz: dt.tzinfo = dt.UTC,
) -> ReportView:
    """The page's content. `audio_url(call_id)` is where the reader's browser fetches a call's audio;
    None when the reader may not listen (the page then shows times only). Dates are shown in `tz`
    (the business time zone)."""
    audit = source.audit
    playable = {c.call_id for c in source.calls if c.has_url}
    labels = _call_labels(source.calls)
    cited: set[str] = set()

    def citation(c: Any) -> CitationView:
        cited.add(c.chunk_id)
        url = audio_url(c.call_id) if audio_url and c.call_id in playable else None
        return CitationView(
            anchor=f"passage-{c.chunk_id.replace(':', '-')}",
            text=c.texte,
            speaker=c.speaker,
            role=ROLE_LABELS.get(c.role or "unknown", c.role or "?"),
            call_id=c.call_id,
            call_label=labels.get(c.call_id, c.call_id),
            start=float(c.start_seconds),
            end=float(c.end_seconds),
            time=f"{clock(c.start_seconds)}-{clock(c.end_seconds)}",
            audio_url=url,
        )

    def step_view(s: Any) -> StepView:
        latest = source.latest.get(s.position)
        conforme, score = (latest.conforme, latest.score) if latest else (s.conforme, s.score)

        def point_view(p: Any) -> PointView:
            reviewed = next((v for v in latest.points if v.index == p.index), None) if latest else None
            statut, commentaire = (reviewed.statut, reviewed.commentaire) if reviewed else (p.statut, p.commentaire)
            return PointView(
                index=p.index,
                point=p.point,
                status=statut,
                status_label=STATUS_LABELS.get(statut, statut),
                comment=commentaire or "",
                downgraded=p.downgraded,
                citations=[citation(c) for c in sorted(p.citations, key=lambda c: c.index)],
            )

        return StepView(
            position=s.position,
            name=s.name,
            is_critical=s.is_critical,
            verdict=conforme,
            verdict_label=VERDICT_LABELS.get(conforme, conforme),
            score=score,
            weight=s.weight,
            comment=s.commentaire_global or "",
            failed=s.failed,
            points=[point_view(p) for p in sorted(s.control_points, key=lambda p: p.index)],
        )

    steps = [step_view(s) for s in sorted(audit.steps, key=lambda s: s.position)]
    calls = [
        CallView(
            call_id=c.call_id,
            label=labels[c.call_id],
            audio_url=audio_url(c.call_id) if audio_url and c.has_url else None,
            unavailable=None if c.has_url else "Enregistrement non fourni par le CRM.",
            turns=[
                TurnView(
                    chunk_id=t.chunk_id,
                    speaker=t.speaker,
                    role=ROLE_LABELS.get(t.role or "unknown", t.role or "?"),
                    time=clock(t.start_seconds),
                    text=t.text,
                    cited=t.chunk_id in cited,
                )
                for t in c.turns
            ],
        )
        for c in source.calls
    ]
    done = audit.completed_at or audit.created_at
    critical_failed = [s.name for s in steps if s.is_critical and s.verdict != "CONFORME"]
    return ReportView(
        audit_id=audit.id,
        title=f"Rapport d'audit de la fiche {source.fiche_id}",
        fiche_id=source.fiche_id,
        prospect=source.prospect or "—",
        agent=source.agent or "—",
        group=source.group or "—",
        scorecard=source.scorecard_name,
        scorecard_version=source.scorecard_version,
        auditor=audit.auditor,
        model=audit.model or "—",
        transcript_mode=MODE_LABELS.get(audit.transcript_mode, audit.transcript_mode),
        date=done.astimezone(tz).strftime("%d/%m/%Y %H:%M") if done else "—",
        score=_score(audit.score_percentage),
        level=audit.niveau,
        is_compliant=audit.is_compliant,
        critical=f"{audit.critical_passed or 0} / {audit.critical_total or 0}",
        critical_failed=critical_failed,
        needs_review=audit.needs_review,
        steps=steps,
        calls=calls,
        shared=shared,
        human_review=list(source.human_review) or None,
        rerun_history=list(source.rerun_history) or None,
    )
