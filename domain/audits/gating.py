"""Evidence gating (reference §7.6, improved): what an auditor claims stands only on quotes found in the transcript.

Every citation is looked for in the chunk it names (see `domain.audits.matching` for the tolerance
to recognition noise). Two common slips are forgiven because the words are really there:

- a quote that starts in the cited chunk and runs on into the next `MAX_CONTINUATION_CHUNKS` chunks
  of the same recording (the model merged a question and its answer, or a long turn was cut);
- a cited chunk index off by one (the prompt numbers chunks from 1, the schema from 0): the quote
  is looked for from the previous, then the next chunk, and the citation is re-pointed there.

A located citation takes its chunk id, speaker and its role, start and end seconds (from the word
timings of the matched words) and recording metadata from the timeline, never from the model. Then,
when gating is enabled: a quote said by the wrong role (the client's words for a point the agent
must say: `StepSpec.speaker_rule`) is rejected; citations of ABSENT / NON_APPLICABLE points are
dropped; PRESENT / PARTIEL points left without a valid citation become ABSENT; the step score and
conformity derived from the evidence ratio replace the auditor's only when they are lower / stricter.
Disabled, citations are still located (so stored ones carry timings and roles) but no verdict, score
or minutage changes.
The statistics of what was removed and why are part of the result, to be stored (bug §13.5 #37).
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from domain.audits.auditor import PointAssessment
from domain.audits.comments import reconcile
from domain.audits.matching import IndexedTokens, MatchKind, locate_quote, normalise, tokenise
from domain.audits.schema import Citation, Conformity, ControlPointResult, Level, PointStatus, StepOutput
from domain.audits.scorecard import Severity, SpeakerRule, StepSpec
from domain.audits.speakers import RULE_LABEL, speaker_allowed
from domain.audits.timeline import Role, Timeline, TimelineChunk, TimelineRecording, mmss

MAX_CONTINUATION_CHUNKS = 2
"""A quote may run from its cited chunk into at most this many following chunks of the recording."""

POINT_VALUE: Mapping[PointStatus, float] = {PointStatus.PRESENT: 1.0, PointStatus.PARTIEL: 0.5, PointStatus.ABSENT: 0.0}
"""Evidence value of an applicable point; NON_APPLICABLE points are left out of the ratio."""

CONFORME_MIN_RATIO = 0.85
PARTIEL_MIN_RATIO = 0.4
EXCELLENT_MIN_RATIO = 0.95

_STRICTNESS = {Conformity.CONFORME: 0, Conformity.PARTIEL: 1, Conformity.NON_CONFORME: 2}
_LEVEL_RANK = {Level.REJET: 0, Level.INSUFFISANT: 1, Level.ACCEPTABLE: 2, Level.BON: 3, Level.EXCELLENT: 4}

NO_VALID_CITATION_NOTE = (
    "[Auto-check] Aucune citation valide trouvée dans la transcription : point requalifié en ABSENT."
)
MISSING_POINT_NOTE = "[Auto-check] Point de contrôle non traité par l'auditeur : considéré ABSENT."
WRONG_SPEAKER_NOTE = (
    "[Auto-check] Les citations ne viennent pas de l'interlocuteur dont les paroles comptent pour ce point "
    "({rule}) : point requalifié en ABSENT."
)
NOT_AVAILABLE = "N/A"


@dataclass(frozen=True)
class GatingRules:
    enabled: bool = True  # AUDIT_EVIDENCE_GATING
    min_quote_chars: int = 12  # AUDIT_EVIDENCE_MIN_QUOTE_CHARS, measured on the normalised quote


class RejectReason(enum.StrEnum):
    UNKNOWN_CHUNK = "unknown_chunk"  # no such recording, nor chunk (nor neighbour) in it
    TOO_SHORT = "too_short"
    NOT_FOUND = "not_found"  # the words are not in the cited chunk, its neighbours or continuation
    POINT_NOT_SUPPORTED = "point_not_supported"  # cited on an ABSENT / NON_APPLICABLE point
    WRONG_SPEAKER = "wrong_speaker"  # said by the other role than the point's rule asks for


@dataclass(frozen=True)
class LocatedCitation:
    texte: str  # the quote as the auditor gave it
    matched_text: str  # the transcript's words it was matched to
    chunk_id: str
    call_id: str
    recording_index: int
    chunk_index: int  # where the quote starts (re-pointed if the auditor was off by one)
    last_chunk_index: int  # where it ends, > chunk_index for a quote running on
    speaker: str  # of the chunk where the quote starts
    start_seconds: float
    end_seconds: float
    minutage: str
    recording_date: str
    recording_time: str
    recording_url: str
    match: MatchKind
    similarity: float
    repointed: bool
    role: Role = "unknown"  # of the speaker where the quote starts, in that recording


@dataclass(frozen=True)
class RejectedCitation:
    texte: str
    recording_index: int
    chunk_index: int
    reason: RejectReason


@dataclass(frozen=True)
class GatedPoint:
    index: int  # 1-based
    point: str
    statut: PointStatus
    original_statut: PointStatus
    commentaire: str
    citations: tuple[LocatedCitation, ...]
    rejected: tuple[RejectedCitation, ...]
    minutages: tuple[str, ...]
    erreur_transcription_notee: bool
    variation_phonetique_utilisee: str | None
    downgraded: bool
    confidence: float | None = None  # the auditor's, when it tells one; lowered when gating overrules it
    rule: str | None = None  # what decided the verdict (auditor's rule, or `gating:<reason>`)


@dataclass(frozen=True)
class GatingStats:
    enabled: bool
    citations_total: int
    citations_valid: int
    citations_removed: int
    citations_tolerant: int
    citations_repointed: int
    citations_spanning_chunks: int
    removed_by_reason: Mapping[str, int]
    points_downgraded: int
    points_missing: int
    evidence_ratio: float
    score_before: int  # the auditor's score, capped at the weight
    score_after: int
    conformity_before: Conformity
    conformity_after: Conformity
    notes: tuple[str, ...] = field(default=())

    @property
    def score_lowered(self) -> bool:
        return self.score_after < self.score_before

    @property
    def conformity_lowered(self) -> bool:
        return self.conformity_after != self.conformity_before

    def as_json(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "citations_total": self.citations_total,
            "citations_valid": self.citations_valid,
            "citations_removed": self.citations_removed,
            "citations_tolerant": self.citations_tolerant,
            "citations_repointed": self.citations_repointed,
            "citations_spanning_chunks": self.citations_spanning_chunks,
            "removed_by_reason": dict(self.removed_by_reason),
            "points_downgraded": self.points_downgraded,
            "points_missing": self.points_missing,
            "evidence_ratio": self.evidence_ratio,
            "score_before": self.score_before,
            "score_after": self.score_after,
            "score_lowered": self.score_lowered,
            "conformity_before": str(self.conformity_before),
            "conformity_after": str(self.conformity_after),
            "conformity_lowered": self.conformity_lowered,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class GatedStep:
    position: int
    name: str
    weight: int
    is_critical: bool
    severity: Severity
    traite: bool
    conforme: Conformity
    score: int  # capped at the weight
    niveau_conformite: Level
    commentaire_global: str
    mots_cles_trouves: tuple[str, ...]
    minutages: tuple[str, ...]
    erreurs_transcription_tolerees: int
    points: tuple[GatedPoint, ...]
    failed: bool
    error: str | None
    stats: GatingStats


@dataclass(frozen=True)
class DerivedStep:
    """A step's verdict as its control points' evidence supports it (§7.6 steps 6-7)."""

    ratio: float
    score: int
    conforme: Conformity
    niveau: Level


def evidence_ratio(statuses: Iterable[PointStatus]) -> float:
    values = [POINT_VALUE[s] for s in statuses if s is not PointStatus.NON_APPLICABLE]
    return sum(values) / len(values) if values else 1.0


def derive_step(statuses: Iterable[PointStatus], weight: int) -> DerivedStep:
    """Score, conformity and level from control-point statuses alone (also for reviews and reruns)."""
    ratio = evidence_ratio(statuses)
    score = min(max(round(ratio * weight), 0), weight)
    if ratio >= CONFORME_MIN_RATIO:
        conforme = Conformity.CONFORME
        niveau = Level.EXCELLENT if ratio >= EXCELLENT_MIN_RATIO else Level.BON
    elif ratio >= PARTIEL_MIN_RATIO:
        conforme, niveau = Conformity.PARTIEL, Level.ACCEPTABLE
    else:
        conforme, niveau = Conformity.NON_CONFORME, Level.INSUFFISANT
    return DerivedStep(ratio, score, conforme, niveau)


def is_stricter(candidate: Conformity, than: Conformity) -> bool:
    return _STRICTNESS[candidate] > _STRICTNESS[than]


def _words(chunk: TimelineChunk) -> list[str]:
    return [w.text for w in chunk.words] if chunk.words else chunk.text.split()


def _span_times(chunk: TimelineChunk, first: int, last_chunk: TimelineChunk, last: int) -> tuple[float, float]:
    """Seconds of the matched words; chunk bounds only for a chunk stored without word timings."""
    start = chunk.words[first].start if chunk.words else chunk.start
    end = last_chunk.words[last].end if last_chunk.words else last_chunk.end
    return start, end


@dataclass(frozen=True)
class _Found:
    chunk: TimelineChunk
    first_word: int
    last_chunk: TimelineChunk
    last_word: int
    matched_text: str
    similarity: float
    kind: MatchKind


def _try_from(recording: TimelineRecording, start_index: int, quote_tokens: list[str]) -> _Found | None:
    """The quote located from chunk `start_index` on, starting in that chunk and possibly running on."""
    chunks = recording.chunks[start_index : start_index + 1 + MAX_CONTINUATION_CHUNKS]
    words: list[str] = []
    owners: list[tuple[TimelineChunk, int]] = []
    for chunk in chunks:
        chunk_words = _words(chunk)
        words += chunk_words
        owners += [(chunk, i) for i in range(len(chunk_words))]
    match = locate_quote(quote_tokens, IndexedTokens.of_words(words), starts_before=len(_words(chunks[0])))
    if match is None:
        return None
    (chunk, first), (last_chunk, last) = owners[match.first_word], owners[match.last_word]
    matched = " ".join(words[match.first_word : match.last_word + 1])
    return _Found(chunk, first, last_chunk, last, matched, match.similarity, match.kind)


def locate_citation(citation: Citation, timeline: Timeline, min_quote_chars: int) -> LocatedCitation | RejectedCitation:
    """Find one citation's words where it says they are (or a chunk off by one)."""

    def reject(reason: RejectReason) -> RejectedCitation:
        return RejectedCitation(citation.texte, citation.recording_index, citation.chunk_index, reason)

    recording = timeline.recording(citation.recording_index)
    cited = citation.chunk_index
    candidates = [i for i in (cited, cited - 1, cited + 1) if recording is not None and 0 <= i < len(recording.chunks)]
    if recording is None or not candidates:
        return reject(RejectReason.UNKNOWN_CHUNK)
    if len(normalise(citation.texte)) < min_quote_chars:
        return reject(RejectReason.TOO_SHORT)
    quote_tokens = tokenise(citation.texte)
    for index in candidates:
        found = _try_from(recording, index, quote_tokens)
        if found is None:
            continue
        start, end = _span_times(found.chunk, found.first_word, found.last_chunk, found.last_word)
        return LocatedCitation(
            texte=citation.texte,
            matched_text=found.matched_text,
            chunk_id=found.chunk.chunk_id,
            call_id=found.chunk.call_id,
            recording_index=recording.recording_index,
            chunk_index=found.chunk.chunk_index,
            last_chunk_index=found.last_chunk.chunk_index,
            speaker=found.chunk.speaker,
            start_seconds=start,
            end_seconds=end,
            minutage=mmss(start),
            recording_date=recording.recording_date or NOT_AVAILABLE,
            recording_time=recording.recording_time or NOT_AVAILABLE,
            recording_url=recording.recording_url or NOT_AVAILABLE,
            match=found.kind,
            similarity=found.similarity,
            repointed=found.chunk.chunk_index != cited,
            role=found.chunk.role,
        )
    return reject(RejectReason.NOT_FOUND)


def _distinct(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))


def _chronological(citations: Iterable[LocatedCitation]) -> tuple[str, ...]:
    ordered = sorted(citations, key=lambda c: (c.recording_index, c.start_seconds))
    return _distinct(c.minutage for c in ordered)


def _append(text: str, note: str) -> str:
    return f"{text} {note}".strip()


GATING_RULE = "gating:no_valid_citation"


def _gate_point(
    index: int,
    result: ControlPointResult,
    timeline: Timeline,
    rules: GatingRules,
    *,
    speaker: SpeakerRule,
    assessment: PointAssessment | None = None,
) -> GatedPoint:
    outcomes = [locate_citation(c, timeline, rules.min_quote_chars) for c in result.citations]
    located = [o for o in outcomes if isinstance(o, LocatedCitation)]
    rejected = [o for o in outcomes if isinstance(o, RejectedCitation)]
    statut, commentaire, downgraded = result.statut, result.commentaire, False
    minutages = tuple(result.minutages)
    rule = assessment.rule if assessment else None
    if rules.enabled:
        wrong = [c for c in located if not speaker_allowed(speaker, c.role)]
        rejected += [
            RejectedCitation(c.texte, c.recording_index, c.chunk_index, RejectReason.WRONG_SPEAKER) for c in wrong
        ]
        located = [c for c in located if c not in wrong]
        if statut in (PointStatus.ABSENT, PointStatus.NON_APPLICABLE):
            rejected += [
                RejectedCitation(c.texte, c.recording_index, c.chunk_index, RejectReason.POINT_NOT_SUPPORTED)
                for c in located
            ]
            located = []
        elif not located:
            note = WRONG_SPEAKER_NOTE.format(rule=RULE_LABEL[speaker]) if wrong else NO_VALID_CITATION_NOTE
            statut, commentaire, downgraded = PointStatus.ABSENT, _append(commentaire, note), True
            rule = f"gating:{RejectReason.WRONG_SPEAKER}" if wrong else GATING_RULE
        minutages = _chronological(located)
    tolerated = any(c.match is MatchKind.TOLERANT for c in located)
    confidence = assessment.confidence if assessment else None
    return GatedPoint(
        index=index,
        point=result.point,
        statut=statut,
        original_statut=result.statut,
        commentaire=commentaire,
        citations=tuple(located),
        rejected=tuple(rejected),
        minutages=minutages,
        erreur_transcription_notee=result.erreur_transcription_notee or tolerated,
        variation_phonetique_utilisee=result.variation_phonetique_utilisee,
        downgraded=downgraded,
        confidence=confidence,
        rule=rule,
    )


def _missing_point(index: int, text: str) -> GatedPoint:
    return GatedPoint(
        index=index,
        point=text,
        statut=PointStatus.ABSENT,
        original_statut=PointStatus.ABSENT,
        commentaire=MISSING_POINT_NOTE,
        citations=(),
        rejected=(),
        minutages=(),
        erreur_transcription_notee=False,
        variation_phonetique_utilisee=None,
        downgraded=False,
    )


def gate_step(
    step: StepSpec,
    output: StepOutput,
    timeline: Timeline,
    rules: GatingRules,
    *,
    failed: bool = False,
    error: str | None = None,
    assessments: Sequence[PointAssessment] = (),
) -> GatedStep:
    """Check one step's evidence against the timeline and lower what it does not support.

    `assessments` (the auditor's confidence and rule per point, in order) are carried onto the
    gated points when the auditor gave them.
    """
    points = [
        _gate_point(
            i,
            result,
            timeline,
            rules,
            speaker=step.speaker_rule(i - 1),
            assessment=assessments[i - 1] if i <= len(assessments) else None,
        )
        for i, result in enumerate(output.points_controle, 1)
    ]
    points = [replace(p, commentaire=reconcile(p.commentaire, output.mots_cles_trouves)) for p in points]
    missing = step.control_points[len(points) :] if rules.enabled else ()
    points += [_missing_point(len(points) + i, text) for i, text in enumerate(missing, 1)]
    located = [c for p in points for c in p.citations]
    rejected = [r for p in points for r in p.rejected]

    score_before = min(output.score, step.weight)
    score, conforme, niveau = score_before, output.conforme, output.niveau_conformite
    commentaire = reconcile(output.commentaire_global, output.mots_cles_trouves)
    minutages = tuple(output.minutages)
    derived = derive_step((p.statut for p in points), step.weight)
    notes: list[str] = []
    if rules.enabled:
        if derived.score < score_before:
            score = derived.score
            notes.append(
                f"[Auto-check] Score ajusté à la baisse : {score_before} → {score} "
                f"(preuves valides pour {derived.ratio:.0%} des points applicables)."
            )
        if is_stricter(derived.conforme, output.conforme):
            # the auditor's level may already be lower than the derived one (CONFORME but INSUFFISANT)
            conforme, niveau = (
                derived.conforme,
                min(derived.niveau, output.niveau_conformite, key=_LEVEL_RANK.__getitem__),
            )
            notes.append(f"[Auto-check] Conformité ajustée : {output.conforme} → {conforme}.")
        for note in notes:
            commentaire = _append(commentaire, note)
        minutages = _chronological(located)

    stats = GatingStats(
        enabled=rules.enabled,
        citations_total=sum(len(r.citations) for r in output.points_controle),
        citations_valid=len(located),
        citations_removed=len(rejected),
        citations_tolerant=sum(c.match is MatchKind.TOLERANT for c in located),
        citations_repointed=sum(c.repointed for c in located),
        citations_spanning_chunks=sum(c.last_chunk_index != c.chunk_index for c in located),
        removed_by_reason=dict(Counter(str(r.reason) for r in rejected)),
        points_downgraded=sum(p.downgraded for p in points),
        points_missing=len(missing),
        evidence_ratio=round(derived.ratio, 4),
        score_before=score_before,
        score_after=score,
        conformity_before=output.conforme,
        conformity_after=conforme,
        notes=tuple(notes),
    )
    return GatedStep(
        position=step.position,
        name=step.name,
        weight=step.weight,
        is_critical=step.is_critical,
        severity=step.severity,
        traite=output.traite,
        conforme=conforme,
        score=score,
        niveau_conformite=niveau,
        commentaire_global=commentaire,
        mots_cles_trouves=tuple(output.mots_cles_trouves),
        minutages=minutages,
        erreurs_transcription_tolerees=output.erreurs_transcription_tolerees,
        points=tuple(points),
        failed=failed,
        error=error,
        stats=stats,
    )
