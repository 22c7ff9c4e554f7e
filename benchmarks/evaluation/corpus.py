"""Labelled fiches generated from the paraphrase and distractor families of one half of the corpus.

A fiche is drawn in this order: the facts of the call (the client lives in an EHPAD, has a quote...),
a label per control point (`na` when the point needs a fact that does not hold), one family per point
(a paraphrase when present; when absent, counter-evidence for behaviour points, else a distractor one
time in three), then 1 to 3 recordings that say them in the scorecard's order between neutral talk,
with recogniser noise, word timings and a diarisation whose agent label is drawn per recording.

Half of the fiches are compliant (every critical step's points present or `na`); the others miss one
to four critical points. Non-critical points are present three times in four. These rates are
properties of the corpus, not of any auditor.

    from evaluation.corpus import build_corpus     # with benchmarks/ on sys.path
    fiches = build_corpus("demo", "dev", 40)
"""

from __future__ import annotations

import importlib
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from domain.audits.timeline import Timeline, TimelineRecording, recording_chunks
from domain.transcripts.chunking import Word, build_chunks

from .model import DISTRACTOR_KINDS, Family, Line, holds, parse_phrasing
from .scorecards import PLANS, ScorecardName, ScorecardPlan
from .voice import (
    BACKCHANNEL,
    CALLBACK_OPEN,
    CLOSE,
    INBOUND_CLIENT,
    NEUTRAL,
    OUTBOUND_OPEN,
    Fields,
    asr_noise,
    draw_fields,
    fill,
)

Split = Literal["dev", "test"]
Label = Literal["present", "absent", "na"]

COMPLIANT_SHARE = 0.5
NON_CRITICAL_PRESENT = 0.75
DISTRACTOR_SHARE = 1 / 3
CRITICAL_MISSES = ((1, 0.45), (2, 0.3), (3, 0.15), (4, 0.1))  # critical points a non-compliant fiche misses
CONDITIONAL_MISS = 0.4
RECORDINGS = ((1, 0.45), (2, 0.35), (3, 0.2))
FIRST_DAY = date(2026, 3, 2)
SPEAKERS = ("speaker_0", "speaker_1")


@dataclass(frozen=True)
class LabelledFiche:
    fiche_id: str
    timeline: Timeline  # chunks built like the product does, role "unknown" on every chunk
    labels: dict[tuple[int, int], str]  # (step position, 1-based point index) -> "present" | "absent" | "na"
    advisor_name: str  # the CRM's advisor "Prénom Nom" on the fiche
    agent_speakers: dict[str, str]  # call_id -> diarised label of the agent (truth, for scoring role inference)
    families: dict[tuple[int, int], str]  # family id used per point (paraphrase, distractor or counter)


Bank = dict[str, tuple[Family, ...]]


def load_bank(scorecard: ScorecardName, split: Split) -> Bank:
    """The families of one half: `evaluation.<split>.<scorecard>.FAMILIES` (only that module is imported)."""
    module = importlib.import_module(f"{__package__}.{split}.{scorecard}")
    bank: Bank = module.FAMILIES
    return bank


def _weighted(rng: random.Random, choices: tuple[tuple[int, float], ...]) -> int:
    values, weights = zip(*choices, strict=True)
    return int(rng.choices(values, weights)[0])


@dataclass(frozen=True)
class Snippet:
    order: float
    lines: tuple[Line, ...]
    last_call: bool = False


def draw_labels(plan: ScorecardPlan, facts: dict[str, bool], rng: random.Random) -> dict[tuple[int, int], Label]:
    """One label per control point: half the fiches compliant on critical steps, the rest missing 1-3."""
    applicable = {key: holds(plan.rule(key).needs, facts) for key in plan.points}
    critical = [key for key in plan.points if key[0] in plan.critical_steps and applicable[key]]
    missed: set[tuple[int, int]] = set()
    if rng.random() >= COMPLIANT_SHARE:
        # a critical step first, then one of its points: short steps get their share of misses
        for _ in range(_weighted(rng, CRITICAL_MISSES)):
            step = rng.choice(sorted({key[0] for key in critical}))
            missed.add(rng.choice([key for key in critical if key[0] == step]))
        # a critical point that applies only in some calls (a refusal to react to) is missed more often
        missed |= {key for key in critical if plan.rule(key).needs and rng.random() < CONDITIONAL_MISS}
    # a point whose words say a missed one (opposing the recording announces it) is missed too
    while grown := {key for key in plan.points if missed & set(plan.rule(key).implies)} - missed:
        missed |= grown
    labels: dict[tuple[int, int], Label] = {}
    for key in plan.points:
        if not applicable[key]:
            labels[key] = "na"
        elif key in missed:
            labels[key] = "absent"
        elif key[0] in plan.critical_steps:
            labels[key] = "present"
        else:
            labels[key] = "present" if rng.random() < NON_CRITICAL_PRESENT else "absent"
    changed = True
    while changed:
        changed = False
        for key in plan.points:
            for implied in plan.rule(key).implies:
                if labels[key] == "present" and labels[implied] == "absent":
                    labels[implied] = "present"
                    changed = True
    return labels


def _pick(families: tuple[Family, ...], kinds: set[str], facts: dict[str, bool]) -> list[Family]:
    return [f for f in families if f.kind in kinds and holds(f.when, facts)]


def choose_families(
    plan: ScorecardPlan, bank: Bank, labels: dict[tuple[int, int], Label], facts: dict[str, bool],
    rng: random.Random,
) -> tuple[dict[tuple[int, int], Family], list[Snippet]]:  # fmt: skip
    """The family said for each point (if any) and the snippets of points and facts, in call order."""
    chosen: dict[tuple[int, int], Family] = {}
    snippets: list[Snippet] = []
    for key in plan.points:
        label = labels[key]
        families = bank.get(f"{key[0]}.{key[1]}", ())
        options: list[Family] = []
        if label == "present":
            options = _pick(families, {"present"}, facts)
            if not options:
                raise LookupError(f"{plan.name} {key}: no paraphrase family holds for facts {facts}")
        elif label == "absent" and plan.rule(key).behaviour:
            options = _pick(families, {"counter"}, facts)
            if not options:
                raise LookupError(f"{plan.name} {key}: a behaviour point needs counter-evidence families")
        elif label == "absent" and rng.random() < DISTRACTOR_SHARE:
            options = _pick(families, set(DISTRACTOR_KINDS), facts)
        if not options:
            continue
        family = rng.choice(options)
        chosen[key] = family
        order = family.order if family.order is not None else key[0] + key[1] / 100
        snippets.append(Snippet(order, rng.choice(family.phrasings), order >= (plan.signature_order or 99)))
    for name, fact in plan.facts.items():
        setups = _pick(bank.get(f"@{name}", ()), {"setup"}, facts)
        if facts[name] and setups:
            snippets.append(Snippet(fact.order, rng.choice(rng.choice(setups).phrasings)))
    if plan.signature_order is not None:
        signature = bank["@signature"]
        snippets.append(Snippet(plan.signature_order, rng.choice(rng.choice(signature).phrasings), True))
    return chosen, snippets


def _frame_fields(plan: ScorecardPlan, fields: Fields, labels: dict[tuple[int, int], Label]) -> Fields:
    """Greetings and the inbound answer say nothing a point is about unless that point is present."""
    greeted = plan.greeting_point is None or labels[plan.greeting_point] == "present"
    firm_named = plan.firm_point is not None and labels[plan.firm_point] == "present"
    hello = ("bonjour", "bonjour", "bonsoir") if plan.greeting_point is None else ("",)
    answer: tuple[str, ...]
    if firm_named:
        answer = ("{firm}, bonjour ?", "{firm}, j'écoute ?") if greeted else ("{firm}, j'écoute ?",)
    else:
        answer = ("oui allô ?", "allô, oui ?", "oui, j'écoute ?")
    return fields | {"agent_hello": hello, "client_hello": ("bonjour", "bonjour", "bonsoir"), "answer": answer}


def _assign_calls(snippets: list[Snippet], calls: int, steps: int, rng: random.Random) -> list[list[Snippet]]:
    """Earlier steps tend to the first call, later ones to the signature call; any point can be in any."""
    out: list[list[Snippet]] = [[] for _ in range(calls)]
    for snippet in snippets:
        if snippet.last_call:
            index = calls - 1
        elif rng.random() < 0.25:
            index = rng.randrange(calls)
        else:
            index = min(calls - 1, int((snippet.order - 1) / steps * calls))
        out[index].append(snippet)
    for call in out:
        call.sort(key=lambda s: s.order)
    return out


def _call_lines(snippets: list[Snippet], index: int, inbound: bool, rng: random.Random) -> list[Line]:
    if inbound:
        opening = parse_phrasing("A: {answer} | " + rng.choice(INBOUND_CLIENT))
    else:
        opening = parse_phrasing(rng.choice(CALLBACK_OPEN if index else OUTBOUND_OPEN))
    body: list[tuple[Line, ...]] = [s.lines for s in snippets]
    for _ in range(rng.randrange(1, 5)):
        body.insert(rng.randrange(len(body) + 1), parse_phrasing(rng.choice(NEUTRAL)))
    lines = list(opening)
    for block in body:
        if lines[-1][0] == "agent" and block[0][0] == "agent" and rng.random() < 0.5:
            lines.extend(parse_phrasing(rng.choice(BACKCHANNEL)))
        lines.extend(block)
    lines.extend(parse_phrasing(rng.choice(CLOSE)))
    return lines


def _words(lines: list[Line], agent: str, fields: Fields, rng: random.Random) -> list[Word]:
    """The lines spoken with plausible timings: about 3 words a second, pauses between turns."""
    client = SPEAKERS[1] if agent == SPEAKERS[0] else SPEAKERS[0]
    pace = {"agent": rng.uniform(0.85, 1.15), "client": rng.uniform(0.9, 1.3)}
    clock = rng.uniform(0.3, 1.5)
    words: list[Word] = []
    previous: str | None = None
    for role, template in lines:
        text = asr_noise(fill(template, fields, rng), rng)
        clock += rng.uniform(0.25, 0.9) if role != previous else rng.uniform(0.1, 0.6)
        if rng.random() < 0.03:
            clock += rng.uniform(3.5, 8.0)  # a silence long enough to close the turn
        for token in text.split():
            length = (0.12 + 0.05 * len(token)) * pace[role]
            words.append(Word(token, round(clock, 2), round(clock + length, 2), agent if role == "agent" else client))
            clock += length + rng.uniform(0.03, 0.12)
        previous = role
    return words


def build_fiche(plan: ScorecardPlan, bank: Bank, split: Split, number: int, seed: int) -> LabelledFiche:
    rng = random.Random(f"{plan.name}:{split}:{seed}:{number}")
    facts = {name: rng.random() < fact.probability for name, fact in plan.facts.items()}
    if "other_refused" in facts:
        facts["other_refused"] = facts["other_refused"] and facts["other_needs"]
    labels = draw_labels(plan, facts, rng)
    fields = draw_fields(rng, plan.name, facts)
    chosen, snippets = choose_families(plan, bank, labels, facts, rng)
    fields = _frame_fields(plan, fields, labels)
    calls = _weighted(rng, RECORDINGS)
    fiche_id = f"{plan.name}-{split}-{seed}-{number:04d}"
    day = FIRST_DAY + timedelta(days=number // 10)
    recordings = []
    agent_speakers: dict[str, str] = {}
    for index, call_snippets in enumerate(_assign_calls(snippets, calls, len(plan.step_sizes), rng)):
        call_id = f"{fiche_id}-{index + 1}"
        inbound = rng.random() < (0.3 if index == 0 else 0.5)
        agent = rng.choice(SPEAKERS)
        agent_speakers[call_id] = agent
        words = _words(_call_lines(call_snippets, index, inbound, rng), agent, fields, rng)
        chunks = recording_chunks(index, build_chunks(call_id, words), words)
        start = datetime(day.year, day.month, day.day, rng.randrange(9, 18), rng.randrange(60)) + timedelta(days=index)
        own, theirs = "0972100200", fields["phone"][2]
        recordings.append(
            TimelineRecording(
                recording_index=index,
                call_id=call_id,
                recording_url=f"https://recordings.invalid/{call_id}.mp3",
                recording_date=start.strftime("%d/%m/%Y"),
                recording_time=start.strftime("%H:%M"),
                start_time=start.isoformat(),
                from_number=theirs if inbound else own,
                to_number=own if inbound else theirs,
                duration_seconds=round(words[-1].end + 1.0, 1),
                chunks=chunks,
            )
        )
    return LabelledFiche(
        fiche_id=fiche_id,
        timeline=Timeline(fiche_id=fiche_id, recordings=tuple(recordings)),
        labels=dict(labels),
        advisor_name=f"{fields['agent_first'][0]} {fields['agent_last'][0]}",
        agent_speakers=agent_speakers,
        families={key: family.id for key, family in chosen.items()},
    )


def build_corpus(
    scorecard: Literal["demo", "nca18"], split: Literal["dev", "test"], fiches: int, seed: int = 7
) -> list[LabelledFiche]:
    """`fiches` labelled fiches of one half of the corpus; the same arguments give the same fiches."""
    if scorecard not in PLANS:
        raise ValueError(f"unknown scorecard {scorecard!r}: expected one of {sorted(PLANS)}")
    if split not in ("dev", "test"):
        raise ValueError(f"unknown split {split!r}: expected 'dev' or 'test'")
    plan = PLANS[scorecard]
    bank = load_bank(scorecard, split)
    return [build_fiche(plan, bank, split, number, seed) for number in range(fiches)]
