"""What is said in each synthetic call: segments, a reference transcript with word timings, truth.

A call is planned first (which segments it contains and which phrasing each uses), which is cheap
and is all the ground truth needs; the transcript then lays the lines out in time: words get
durations from their length, turns get pauses, fillers and holds fill a long call between
segments, and the whole is scaled to end just before the recording's `duration_seconds`, which was
fixed beforehand so the sales list never has to build a transcript.

Speakers follow the diarisation convention of the STT providers: `speaker_0` is the agent (who
always speaks first), `speaker_1` the client.
"""

from __future__ import annotations

import functools
import random
import string
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from callaudit.demo_crm.fiches import FicheCore
from callaudit.demo_crm.phrases import (
    AGENT_BACKCHANNELS,
    CALLBACK_TALKS,
    CLIENT_BACKCHANNELS,
    CLOSINGS,
    FILLERS,
    FOLLOW_UP_OPENERS,
    HOLD,
    SEGMENT_PHRASINGS,
    UNINSURED_CURRENT_COVER,
    VOICEMAIL_TALKS,
    Phrasing,
    Role,
)
from callaudit.demo_crm.products import FIRM_NAME, ORIAS_SPOKEN, ProductFault, euros_fr
from callaudit.demo_crm.recordings import CallKind, RecordingMeta
from callaudit.demo_crm.seeding import derive_rng
from callaudit.demo_crm.segments import (
    AGENT_IDENTITY,
    CARE_HOME_CHECK,
    CONSENT_SIGNATURE,
    COOLING_OFF,
    COPY_RIGHT,
    CURRENT_COVER,
    DATA_PROTECTION,
    EXCLUSIONS,
    FIRM_ORIAS,
    GREETING,
    NEEDS_DISCOVERY,
    PRICE_FEES,
    PRODUCT_GUARANTEES,
    RECORDING_NOTICE,
    RETENTION_PERIOD,
    SCORECARD_TOPICS,
    SEGMENT_LABELS,
    SEGMENT_MARKERS,
    SEGMENTS,
    SOLIDARITY_AID,
    WAITING_PERIOD,
)

__all__ = [
    "AGENT_IDENTITY",
    "CARE_HOME_CHECK",
    "CONSENT_SIGNATURE",
    "COOLING_OFF",
    "COPY_RIGHT",
    "CURRENT_COVER",
    "DATA_PROTECTION",
    "EXCLUSIONS",
    "FIRM_ORIAS",
    "GREETING",
    "NEEDS_DISCOVERY",
    "PRICE_FEES",
    "PRODUCT_GUARANTEES",
    "RECORDING_NOTICE",
    "RETENTION_PERIOD",
    "SCORECARD_TOPICS",
    "SEGMENTS",
    "SEGMENT_LABELS",
    "SEGMENT_MARKERS",
    "SOLIDARITY_AID",
    "SPEAKERS",
    "WAITING_PERIOD",
    "Transcript",
    "build_transcript",
    "fiche_ground_truth",
    "product_fault_truth",
    "segments_present",
]

SPEAKERS: dict[Role, str] = {"agent": "speaker_0", "client": "speaker_1"}

SEGMENT_PRESENCE: dict[CallKind, dict[str, float]] = {
    "vente": {
        GREETING: 0.97,
        AGENT_IDENTITY: 0.9,
        FIRM_ORIAS: 0.75,
        RECORDING_NOTICE: 0.8,
        NEEDS_DISCOVERY: 0.85,
        CURRENT_COVER: 0.8,
        PRODUCT_GUARANTEES: 0.95,
        EXCLUSIONS: 0.6,
        PRICE_FEES: 0.92,
        COOLING_OFF: 0.75,
        CONSENT_SIGNATURE: 0.85,
        RETENTION_PERIOD: 0.6,
        COPY_RIGHT: 0.5,
        DATA_PROTECTION: 0.5,
        CARE_HOME_CHECK: 0.55,
        SOLIDARITY_AID: 0.6,
        WAITING_PERIOD: 0.5,
    },
    "suivi": {GREETING: 0.95, AGENT_IDENTITY: 0.6, RECORDING_NOTICE: 0.5, COOLING_OFF: 0.4, CONSENT_SIGNATURE: 0.8},
    "rappel": {GREETING: 0.9, AGENT_IDENTITY: 0.5},
    "messagerie": {GREETING: 0.9, AGENT_IDENTITY: 0.8},
}
"""Probability that a call of each kind contains each segment; absent keys never occur."""

_MONTHS = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip
_DIGITS = ("zéro", "un", "deux", "trois", "quatre", "cinq", "six", "sept", "huit", "neuf")
_FILL_SLACK_SECONDS = 8.0
FILLED_KINDS: tuple[CallKind, ...] = ("vente", "suivi")
"""Kinds whose spare time is filled with talk; shorter calls end in silence."""
_MAX_STRETCH = 1.15


@dataclass(frozen=True)
class Block:
    """Consecutive lines said together; `segment` is None for talk around the segments."""

    segment: str | None
    lines: Phrasing


@dataclass(frozen=True, slots=True)
class Word:
    text: str
    start: float
    end: float
    speaker: str


@dataclass(frozen=True)
class Turn:
    speaker: str
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Span:
    segment: str
    start: float
    end: float


@dataclass(frozen=True)
class Transcript:
    """The reference transcript of one recording: what an ideal speech-to-text would return."""

    fiche_id: str
    call_id: str
    kind: CallKind
    duration_seconds: int
    words: tuple[Word, ...]
    turns: tuple[Turn, ...]
    spans: tuple[Span, ...]

    @property
    def segments(self) -> tuple[str, ...]:
        present = {span.segment for span in self.spans}
        return tuple(key for key in SEGMENTS if key in present)

    @property
    def text(self) -> str:
        return " ".join(word.text for word in self.words)

    def as_json(self) -> dict[str, Any]:
        roles = {speaker: role for role, speaker in SPEAKERS.items()}
        return {
            "fiche_id": self.fiche_id,
            "call_id": self.call_id,
            "kind": self.kind,
            "language": "fr",
            "duration_seconds": self.duration_seconds,
            "speakers": {speaker: roles[speaker] for speaker in sorted(roles)},
            "text": self.text,
            "words": [{"text": w.text, "start": w.start, "end": w.end, "speaker": w.speaker} for w in self.words],
            "turns": [
                {"speaker": t.speaker, "role": roles[t.speaker], "start": t.start, "end": t.end, "text": t.text}
                for t in self.turns
            ],
            "segments": [{"key": s.segment, "start": s.start, "end": s.end} for s in self.spans],
        }


def _fields(core: FicheCore, rng: random.Random) -> dict[str, str]:
    agent = core.agent.person
    formula = core.formula
    born = core.prospect.birth_date
    effective = core.effective_date
    price = euros_fr(core.cotisation)
    euros, cents = price.split(",")
    return {
        "client": core.prospect.person.addressed,
        "agent": f"{agent.prenom} {agent.nom.capitalize()}",
        "conseiller": "conseiller" if agent.civilite == 1 else "conseillère",
        "firm": FIRM_NAME,
        "orias": ORIAS_SPOKEN,
        "assureur": core.former_insurer[0] if core.former_insurer else "",
        "groupe": formula.groupe.title(),
        "gamme": formula.gamme,
        "formule": formula.nom,
        "hospi": str(formula.hospitalisation_pct),
        "dentaire": str(formula.dentaire_pct),
        "optique": str(formula.optique_eur),
        "soins": str(formula.soins_courants_pct),
        "carence": waiting_period_clause(formula.waiting_period),
        "prix": rng.choice((f"{price} euros", f"{euros} euros {cents}")),
        "jour": str(core.debit_day),
        "date_effet": f"1er {_MONTHS[effective.month - 1]}",
        "ville": core.prospect.ville.title(),
        "naissance": f"{born.day} {_MONTHS[born.month - 1]} {born.year}",
        "code": " ".join(rng.choice(_DIGITS) for _ in range(4)),
        **_wrong_promise(core.product_fault),
    }


#: The template field an agent states each promised value with (`phrases`), by coverage field.
PROMISE_FIELDS = {"hospitalisation": "hospi", "dentaire": "dentaire", "delai_attente": "carence"}


def _wrong_promise(fault: ProductFault | None) -> dict[str, str]:
    """The field the agent gets wrong, as said: `"200 %"` -> `"200"`; a waiting period as a clause."""
    if fault is None or fault.topic is None or fault.said is None:
        return {}
    field = PROMISE_FIELDS[fault.topic]
    said = waiting_period_clause(fault.said) if field == "carence" else fault.said.removesuffix(" %")
    return {field: said}


def waiting_period_clause(waiting_period: str) -> str:
    """`"Aucun"` / `"3 mois"` (the catalogue's `delai_attente`) as an agent says it."""
    if waiting_period == "Aucun":
        return "aucune, vous êtes remboursé dès le premier jour"
    months = {"3": "trois", "6": "six"}[waiting_period.split(maxsplit=1)[0]]
    return f"{months} mois sur les prothèses dentaires"


def _phrasings(core: FicheCore, segment: str) -> tuple[Phrasing, ...]:
    if segment == CURRENT_COVER and core.former_insurer is None:
        return UNINSURED_CURRENT_COVER
    return SEGMENT_PHRASINGS[segment]


def _plan(core: FicheCore, rec: RecordingMeta) -> list[Block]:
    """Segments and talk of a call, in order; only this decides the ground truth."""
    rng = derive_rng(core.seed, "call-plan", rec.call_id)
    topics = derive_rng(core.seed, "call-plan-topics", rec.call_id)  # its own draws: the others stay as they were
    blocks = []
    for key in SEGMENTS:
        draw = topics if key in SCORECARD_TOPICS else rng
        if draw.random() < SEGMENT_PRESENCE[rec.kind].get(key, 0.0):
            blocks.append(Block(key, draw.choice(_phrasings(core, key))))
    if rec.kind == "messagerie":
        agent_only = [Block(b.segment, tuple(line for line in b.lines if line[0] == "agent")[:1]) for b in blocks]
        return [*agent_only, Block(None, rng.choice(VOICEMAIL_TALKS))]
    if rec.kind == "rappel":
        return [*blocks, Block(None, rng.choice(CALLBACK_TALKS)), Block(None, CLOSINGS[2])]
    if rec.kind == "suivi":
        head = [b for b in blocks if b.segment in (GREETING, AGENT_IDENTITY, RECORDING_NOTICE)]
        tail = [b for b in blocks if b not in head]
        blocks = [*head, Block(None, rng.choice(FOLLOW_UP_OPENERS)), *tail]
    return [*blocks, Block(None, rng.choice(CLOSINGS))]


def segments_present(core: FicheCore, rec: RecordingMeta) -> tuple[str, ...]:
    """The segments a recording contains, in call order, without laying out its transcript."""
    return tuple(block.segment for block in _plan(core, rec) if block.segment is not None)


def _states(core: FicheCore, rec: RecordingMeta, field: str) -> bool:
    """Whether a line of the call is a template using `field`: the agent states that value."""
    return any(
        name == field
        for block in _plan(core, rec)
        for _, text in block.lines
        for _, name, _, _ in string.Formatter().parse(text)
    )


def product_fault_truth(core: FicheCore) -> dict[str, Any] | None:
    """The fiche's labelled product fault, with the calls where a wrong promise is actually said."""
    fault = core.product_fault
    if fault is None:
        return None
    field = PROMISE_FIELDS.get(fault.topic or "")
    said_in = [rec.call_id for rec in core.recordings if field is not None and _states(core, rec, field)]
    return {**fault.as_json(), "said_in_calls": said_in}


def fiche_ground_truth(core: FicheCore) -> dict[str, Any]:
    """Segments per recording and over the whole fiche (a segment said in any call counts), and the
    product fault (`null` when the fiche has none)."""
    per_call = {rec.call_id: segments_present(core, rec) for rec in core.recordings}
    recordings = [
        {
            "call_id": rec.call_id,
            "kind": rec.kind,
            "answered": rec.answered,
            "duration_seconds": rec.duration_seconds,
            "segments": list(per_call[rec.call_id]),
        }
        for rec in core.recordings
    ]
    overall = {key for keys in per_call.values() for key in keys}
    return {
        "fiche_id": core.fiche_id,
        "segment_keys": list(SEGMENTS),
        "recordings": recordings,
        "segments": [key for key in SEGMENTS if key in overall],
        "missing": [key for key in SEGMENTS if key not in overall],
        "product_fault": product_fault_truth(core),
    }


@dataclass
class _TimedLine:
    """A line with its natural timing, before the call is scaled to its duration."""

    role: Role
    words: list[str]
    durations: list[float]
    gaps_after: list[float]
    gap_before: float
    segment: str | None
    block: int

    @property
    def natural_seconds(self) -> float:
        return self.gap_before + sum(self.durations) + sum(self.gaps_after)


def _strip_accents(word: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFD", word) if not unicodedata.combining(ch))


def _attach_punctuation(text: str) -> str:
    """French typography spaces `?`, `!`, `:`, `;`; recognisers glue them to the word before."""
    for mark in "?!:;":
        text = text.replace(f" {mark}", mark)
    return text


def _time_line(
    rng: random.Random,
    role: Role,
    text: str,
    *,
    pace: float,
    variation: float,
    segment: str | None = None,
    block: int = -1,
) -> _TimedLine:
    """Natural word durations from word length; light ASR-like noise (hesitations, lost accents)."""
    words: list[str] = []
    for spoken in _attach_punctuation(text).split():
        draw = rng.random()
        if draw < variation / 2:
            words.append("euh")
        words.append(_strip_accents(spoken) if variation / 2 <= draw < variation else spoken)
    durations = [
        max(0.1, (0.06 + 0.05 * sum(ch.isalnum() for ch in w)) * pace * rng.uniform(0.85, 1.15)) for w in words
    ]
    gaps = [rng.uniform(0.02, 0.08) + (0.28 if w[-1] in ".?!" else 0.12 if w[-1] in ",;:" else 0.0) for w in words[:-1]]
    return _TimedLine(role, words, durations, [*gaps, 0.0], rng.uniform(0.25, 0.9), segment, block)


def _fill(rng: random.Random, seconds: float, time: Callable[[Role, str], _TimedLine]) -> list[list[_TimedLine]]:
    """Filler exchanges (each used once before any repeats) and holds adding up to about `seconds`."""
    fills: list[list[_TimedLine]] = []
    deck: list[Phrasing] = []
    while seconds > _FILL_SLACK_SECONDS:
        if seconds > 90 and rng.random() < 0.2:
            lines = [time(role, text) for role, text in (*HOLD[0], *HOLD[1])]
            lines[len(HOLD[0])].gap_before = rng.uniform(20, min(120, seconds / 2))
        else:
            deck = deck or rng.sample(FILLERS, len(FILLERS))
            lines = [time(role, text) for role, text in deck.pop()]
        fills.append(lines)
        seconds -= sum(line.natural_seconds for line in lines)
    return fills


@functools.lru_cache(maxsize=64)
def build_transcript(core: FicheCore, rec: RecordingMeta, variation: float = 0.02) -> Transcript:
    """The recording's reference transcript, ending within its `duration_seconds`."""
    rng = derive_rng(core.seed, "call-layout", rec.call_id)
    fields = _fields(core, rng)
    pace: dict[Role, float] = {"agent": rng.uniform(0.9, 1.1), "client": rng.uniform(0.95, 1.2)}

    def time(role: Role, text: str, segment: str | None = None, block: int = -1) -> _TimedLine:
        return _time_line(
            rng, role, text.format(**fields), pace=pace[role], variation=variation, segment=segment, block=block
        )

    blocks = [
        [time(role, text, block.segment, index) for role, text in block.lines]
        for index, block in enumerate(_plan(core, rec))
    ]
    target_end = rec.duration_seconds - rng.uniform(0.4, 1.2)
    if rec.kind in FILLED_KINDS:
        spoken = sum(line.natural_seconds for block in blocks for line in block)
        for filler in _fill(rng, target_end - spoken, time):
            blocks.insert(rng.randrange(1, len(blocks)) if len(blocks) > 1 else 0, filler)  # never before the first
    lines = _alternate([line for block in blocks for line in block], rng, pace, variation, rec.answered)
    lines[0].gap_before = rng.uniform(0.4, 1.5)
    natural = sum(line.natural_seconds for line in lines)
    scale = target_end / natural if natural > target_end else min(target_end / natural, _MAX_STRETCH)
    return _lay_out(core, rec, lines, scale)


def _alternate(
    lines: list[_TimedLine], rng: random.Random, pace: dict[Role, float], variation: float, answered: bool
) -> list[_TimedLine]:
    """Two lines in a row from one speaker: the other says "oui" between them, or they run on."""
    result: list[_TimedLine] = []
    for line in lines:
        if result and result[-1].role == line.role:
            if answered and rng.random() < 0.6:
                other: Role = "client" if line.role == "agent" else "agent"
                text = rng.choice(CLIENT_BACKCHANNELS if other == "client" else AGENT_BACKCHANNELS)
                result.append(_time_line(rng, other, text, pace=pace[other], variation=variation))
            else:
                line.gap_before = rng.uniform(0.3, 0.7)
        result.append(line)
    return result


def _lay_out(core: FicheCore, rec: RecordingMeta, lines: list[_TimedLine], scale: float) -> Transcript:
    words: list[Word] = []
    turns: list[Turn] = []
    span_bounds: dict[int, tuple[str, float, float]] = {}
    clock = 0.0
    for line in lines:
        clock += line.gap_before * scale
        speaker = SPEAKERS[line.role]
        first = len(words)
        for text, duration, gap in zip(line.words, line.durations, line.gaps_after, strict=True):
            start, clock = clock, clock + duration * scale
            words.append(Word(text, round(start, 3), round(clock, 3), speaker))
            clock += gap * scale
        line_start, line_end = words[first].start, words[-1].end
        if turns and turns[-1].speaker == speaker:
            previous = turns[-1]
            turns[-1] = Turn(speaker, previous.start, line_end, f"{previous.text} {' '.join(line.words)}")
        else:
            turns.append(Turn(speaker, line_start, line_end, " ".join(line.words)))
        if line.segment is not None:
            key, start, _ = span_bounds.get(line.block, (line.segment, line_start, line_end))
            span_bounds[line.block] = (key, start, line_end)
    spans = tuple(Span(key, start, end) for key, start, end in span_bounds.values())
    return Transcript(core.fiche_id, rec.call_id, rec.kind, rec.duration_seconds, tuple(words), tuple(turns), spans)
