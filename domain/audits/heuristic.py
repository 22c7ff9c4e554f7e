"""The heuristic auditor: a deterministic evidence search standing in for an LLM (provider `heuristic`).

Each control point is read into a query (`domain.audits.points`: terms, kind, whose words count)
and looked for in the fiche's utterances (`domain.language.utterances`: spaCy sentences with lemmas,
word vectors and how they are said). An utterance is evidence for a point when:

1. **its speaker's role fits** the point's rule (the agent's words by default; the client's for a
   consent or an answer; a role not inferred is accepted);
2. **it is said as a fact**: not negated on its main verb, not reported speech of a third party, not
   put off to later, not a bare backchannel; a question only for points met by asking (`ask`);
3. **it says the point**: the query terms it matches, each by lemma, word family (`rembourse` /
   `remboursement`), ASR-tolerant spelling or word-vector neighbour, weigh at least `PRESENT_MIN`
   of the point's own terms (capped at `OWN_CAP`, so a long point is not harder to meet; at least
   `OWN_FLOOR`, so a point of common words is not met by one word of its prompt alone); a word
   that is a sibling point's own word, and serves that point, does not count for this point's borrowed
   terms (`judge_together`); nor, through a borrowed term, does a word that a point of another step
   matches more than `1 / CROSS_STEP_RATIO` times as strongly in the same utterance (`judge_scorecard`).

A client's agreement ("oui, d'accord") right after an agent's question counts for a client point
with the question's topic. A conditional point ("... si responsable") is NON_APPLICABLE when the
call says its condition does not hold, ABSENT without evidence when the call says it holds, and
NON_APPLICABLE with a low confidence when the call does not tell (`domain.audits.conditions`).
Other points without evidence are ABSENT;
points that judge manner are NON_APPLICABLE (`not_assessable_offline`). Every verdict carries a
confidence in [0, 1] and the rule that decided it (`PointAssessment`). Citations are copied word for
word from the utterance (widened to the gating minimum, cut to `MAX_QUOTE_WORDS` around the matched
words), so they pass evidence gating. There is no PARTIEL: a weak match is a low-confidence ABSENT.
"""

from __future__ import annotations

import enum
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from domain.audits.auditor import PointAssessment, StepAnalysis, TranscriptMode, Usage
from domain.audits.conditions import Stance, stance
from domain.audits.gating import derive_step
from domain.audits.matching import IndexedTokens, find_phrase, normalise, token_distance, tokenise
from domain.audits.points import PointKind, PointQuery, QueryTerm, build_queries
from domain.audits.schema import Citation, ControlPointResult, PointStatus, StepOutput
from domain.audits.scorecard import ScorecardSpec, SpeakerRule, StepSpec
from domain.audits.timeline import Timeline, mmss
from domain.audits.versions import HEURISTIC_VERSION
from domain.language.lexicon import distinct, known_word, synonyms
from domain.language.utterances import ParsedTimeline, Utterance, parse_timeline

PRESENT_MIN = 0.35
"""Share of the point's own term weight an utterance must match to be evidence."""
OWN_CAP = 2.0
"""A point's own term weight counts at most this much (a long point is not harder to meet)."""
OWN_FLOOR = 0.7
"""...and at least this much: a point whose own words are all common or shared with other points
("Documents tracés") is not met by one word of its prompt bullet or keywords alone ("envoyer")."""
CROSS_STEP_RATIO = 0.5
"""A point's match on an utterance that shares a borrowed word with a match of another step's point
more than 1 / ratio as strong is that point's, not this one's (`judge_scorecard`)."""
FAMILY_MATCH = 0.9
SYNONYM_MATCH = 0.85
TOLERANT_MATCH = 0.75
VECTOR_MATCH = 0.6
VECTOR_MIN_SIMILARITY = 0.7
FAMILY_MIN_PREFIX = 4
FAMILY_MIN_SHARE = 0.6
ANSWER_FACTOR = 0.9
HEDGED_CONFIDENCE = 0.8
CONDITION_CONFIDENCE = 0.7
"""How sure a verdict decided by the call's word on a point's condition is."""
UNKNOWN_CONDITION_CONFIDENCE = 0.4
"""Not applicable for want of evidence when the call does not tell the condition: a guess."""
MAX_CITATIONS = 2
MAX_QUOTE_WORDS = 25
DEFAULT_MIN_QUOTE_CHARS = 12
_CACHE_SIZE = 4


class Rule(enum.StrEnum):
    """Why a point got its verdict (stored with it)."""

    EVIDENCE = "evidence"  # an utterance of the right speaker says it
    ANSWER = "answer_to_question"  # the client agreed to the agent's question about it
    NO_EVIDENCE = "no_evidence"
    WRONG_SPEAKER_ONLY = "wrong_speaker_only"  # said, but only by the other party
    NOT_AS_FACT_ONLY = "not_as_fact_only"  # said, but only negated, reported, deferred or asked
    CONDITION_NOT_MET = "condition_not_met"  # conditional point, the call says its condition does not hold
    CONDITION_MET = "condition_met_point_absent"  # the call says its condition holds, nothing says the point
    CONDITION_UNKNOWN = "condition_unknown"  # conditional point without evidence, the call does not tell
    OTHER_POINT = "said_for_another_point"  # met only by a sibling's own words, which serve the sibling
    NOT_ASSESSABLE = "not_assessable_offline"


FAMILY_SURE_STEM = 6
_ENDINGS = frozenset(
    {"", "e", "r", "s", "es", "er", "ir", "re", "ee", "ees", "ez", "ent", "ant", "ation", "ature", "ure", "ment",
     "ement", "age", "eur", "euse", "tion", "ion", "ance", "ence", "ite", "if", "ive", "al", "ale", "el", "elle",
     "able", "ible", "ier", "iere", "ique", "i", "is", "it", "te", "dre", "ition", "sion", "aire"}
)  # fmt: skip
"""Inflections and derivations of French: what a short stem may be followed by in one word family."""


def family(a: str, b: str) -> bool:
    """`rembourse` / `remboursement`, `signer` / `signature`: one stem, another ending. A short stem
    is a family only with endings on both sides: `comp` in `compte` / `composition`, `part` in
    `partir` / `partenaire` or `pren` in `prend` / `prenom` are different words."""
    common = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        common += 1
    if common < FAMILY_MIN_PREFIX or common < FAMILY_MIN_SHARE * min(len(a), len(b)):
        return False
    return common >= FAMILY_SURE_STEM or all(w[common:].removesuffix("s") in _ENDINGS for w in (a, b))


_MATCHES: dict[tuple[str, str, str], float] = {}
_MATCHES_LIMIT = 1_000_000


def term_match(term: QueryTerm, lemma: str, surface: str, vector: np.ndarray | None) -> float:
    """How well one spoken word stands for a query term, in [0, 1]; remembered per word pair (a word's
    vector follows from its spelling, so the pair decides the answer)."""
    key = (term.lemma, lemma, surface)
    value = _MATCHES.get(key)
    if value is None:
        if len(_MATCHES) > _MATCHES_LIMIT:
            _MATCHES.clear()
        value = _MATCHES[key] = _term_match(term, lemma, surface, vector)
    return value


def _term_match(term: QueryTerm, lemma: str, surface: str, vector: np.ndarray | None) -> float:
    if term.lemma in (lemma, surface):
        return 1.0
    if term.lemma.isdigit() or lemma.isdigit():
        return 0.0  # numbers are equal or different, never near
    spoken = (lemma, surface)
    if any(family(term.lemma, w) for w in spoken):
        return FAMILY_MATCH
    if any(synonyms(term.lemma, w) for w in spoken):
        return SYNONYM_MATCH
    if not known_word(surface) and any(token_distance(term.lemma, w) is not None for w in spoken):
        return TOLERANT_MATCH
    # a vector neighbour the glossary files under another concept is not this one
    near = (
        term.vector is not None
        and vector is not None
        and float(term.vector @ vector) >= VECTOR_MIN_SIMILARITY
        and not any(distinct(term.lemma, w) for w in spoken)
    )
    return VECTOR_MATCH if near else 0.0


@dataclass(frozen=True)
class _Match:
    utterance: Utterance
    strength: float  # matched share of the point's own weight (capped), may exceed 1
    matched: tuple[str, ...]  # query lemmas matched
    positions: tuple[int, ...]  # chunk word indices of the matched words
    rule: Rule
    hedged: bool


def _match(
    query: PointQuery,
    utterance: Utterance,
    tables: Sequence[dict[tuple[str, str], float]],
    *,
    scoped: bool,
    taken_words: frozenset[int] = frozenset(),
) -> _Match | None:
    """The utterance's words against the query; with `scoped`, words under a negation, a refusal or
    reported speech do not count (unless the point is itself about an absence); words in
    `taken_words` (chunk word indices) are another point's own and do not count for borrowed terms."""
    score = 0.0
    matched: list[str] = []
    positions: list[int] = []
    words = zip(utterance.lemmas, utterance.surfaces, utterance.positions, utterance.blocked, strict=True)
    usable = [((lemma, surface), position) for lemma, surface, position, blocked in words
              if not (scoped and blocked and not query.negative)]  # fmt: skip
    taken: set[int] = set()
    for term, table in zip(query.terms, tables, strict=True):  # heaviest first; a word serves one term
        best, where = 0.0, -1
        for i, (word, position) in enumerate(usable):
            if i not in taken and (term.own or position not in taken_words):
                value = table.get(word, 0.0)
                if value > best:
                    best, where = value, i
        if best > 0:
            taken.add(where)
            score += term.weight * best
            matched.append(term.lemma)
            positions.append(usable[where][1])
    if not matched:
        return None
    strength = score / max(min(query.own_weight, OWN_CAP), OWN_FLOOR) if query.own_weight else 0.0
    return _Match(utterance, strength, tuple(matched), tuple(positions), Rule.EVIDENCE, utterance.hedged)


def role_fits(rule: SpeakerRule, role: str) -> bool:
    return rule is SpeakerRule.ANY or role in ("unknown", rule.value)


def as_fact(query: PointQuery, utterance: Utterance) -> bool:
    if utterance.reported or utterance.deferred or utterance.filler:
        return False
    return not (query.kind is PointKind.INFORM and (utterance.question or utterance.hedged))


_AFFIRMATIVE = frozenset(
    {"oui", "ouais", "d accord", "ok", "okay", "tout a fait", "absolument", "volontiers", "bien sur", "je confirme",
     "c est bon"}
)  # fmt: skip


def _agrees(reply: Sequence[Utterance]) -> bool:
    """A reply that says yes somewhere ("je confirme, oui", "vous l'avez, c'est d'accord") and neither
    refuses nor asks back ("non, pas aujourd'hui", "et pour les lunettes, c'est pareil ?")."""
    if any(u.negated or u.question for u in reply):
        return False
    return any(f" {a} " in f" {normalise(u.text)} " for u in reply for a in _AFFIRMATIVE)


@dataclass(frozen=True)
class _Verdict:
    status: PointStatus
    rule: Rule
    confidence: float
    evidence: tuple[_Match, ...]
    near: _Match | None  # the best match that did not count, for the comment


def _confidence_present(strength: float, hedged: bool) -> float:
    value = min(1.0, 0.6 + 0.4 * min(1.0, (strength - PRESENT_MIN) / (1.0 - PRESENT_MIN) if PRESENT_MIN < 1 else 1.0))
    return round(value * (HEDGED_CONFIDENCE if hedged else 1.0), 3)


def _confidence_absent(best: float) -> float:
    return round(max(0.3, 1.0 - best / PRESENT_MIN * 0.7), 3)


def _term_words(term: QueryTerm, parsed: ParsedTimeline) -> dict[tuple[str, str], float]:
    """The fiche's words that stand for a term, and how well; computed once per term and fiche."""
    table = parsed.term_tables.get(term.lemma)
    if table is None:
        table = {}
        for (lemma, surface), vector in parsed.vocabulary.items():
            value = term_match(term, lemma, surface, vector)
            if value > 0:
                table[lemma, surface] = value
        parsed.term_tables[term.lemma] = table
    return table


def candidates(query: PointQuery, parsed: ParsedTimeline) -> tuple[list[_Match], list[_Match]]:
    """(matches that count, matches that do not and why) of a point over the fiche's utterances."""
    counted: list[_Match] = []
    near: list[_Match] = []
    tables = [_term_words(term, parsed) for term in query.terms]
    relevant = set().union(*tables)
    for turn_index, turn in enumerate(parsed.turns):
        for utterance in turn:
            if relevant.isdisjoint(zip(utterance.lemmas, utterance.surfaces, strict=True)):
                continue
            match = _match(query, utterance, tables, scoped=False)
            if match is None:
                continue
            # a negative question still asks ("pas de mutuelle de groupe obligatoire ?"): its negation
            # is the expected answer, not a denial of the topic
            asked = query.kind is PointKind.ASK and utterance.question
            scoped = match if asked else _match(query, utterance, tables, scoped=True)
            if not role_fits(query.speaker, utterance.role):
                near.append(replace(match, rule=Rule.WRONG_SPEAKER_ONLY))
            elif not as_fact(query, utterance) or scoped is None or scoped.strength < PRESENT_MIN <= match.strength:
                near.append(replace(match, rule=Rule.NOT_AS_FACT_ONLY))
                if scoped is not None and as_fact(query, utterance):
                    counted.append(scoped)
            else:
                counted.append(scoped)
            if query.speaker is SpeakerRule.CLIENT and utterance.role == "agent":
                proposal = _proposal(query, utterance, match, scoped, last=utterance is turn[-1])
                if proposal is not None:
                    counted += _answers(proposal, parsed.next_turn(turn_index))
    return counted, near


def _proposal(
    query: PointQuery, utterance: Utterance, match: _Match, scoped: _Match | None, *, last: bool
) -> _Match | None:
    """The agent's words a client's yes may answer: a question, or what ends the agent's turn said as a
    fact ("je valide votre adhésion" then "oui, validez"), since recognisers drop question marks."""
    if utterance.question:
        return match
    return scoped if last and scoped is not None and as_fact(query, utterance) and not utterance.negated else None


def _same_word(key: str, lemma: str, surface: str) -> bool:
    """A condition's word said as such: the lemma or its family, no synonym nor neighbour ("salarié"
    shares a glossary group with "indépendant", and is its opposite as a condition)."""
    return key in (lemma, surface) or family(key, lemma) or family(key, surface)


@dataclass(frozen=True)
class _Search:
    """What the fiche says of a point before its verdict: the call's word on its condition, the
    matches that count and those that do not."""

    query: PointQuery
    condition: Stance
    counted: tuple[_Match, ...]
    near: tuple[_Match, ...]


def _search(query: PointQuery, parsed: ParsedTimeline) -> _Search:
    if not query.assessable:
        return _Search(query, Stance.UNKNOWN, (), ())
    condition = stance(query.condition, parsed, _same_word) if query.condition else Stance.UNKNOWN
    if condition is Stance.NOT_MET:
        return _Search(query, condition, (), ())
    counted, near = candidates(query, parsed)
    return _Search(query, condition, tuple(counted), tuple(near))


def judge(query: PointQuery, parsed: ParsedTimeline) -> _Verdict:
    """A control point's verdict from the fiche's utterances (see the module docstring)."""
    return _decide(_search(query, parsed))


def _decide(search: _Search) -> _Verdict:
    query, condition, counted, near = search.query, search.condition, list(search.counted), list(search.near)
    if not query.assessable:
        return _Verdict(PointStatus.NON_APPLICABLE, Rule.NOT_ASSESSABLE, 0.0, (), None)
    if condition is Stance.NOT_MET:
        return _Verdict(PointStatus.NON_APPLICABLE, Rule.CONDITION_NOT_MET, CONDITION_CONFIDENCE, (), None)
    strong = sorted((m for m in counted if m.strength >= PRESENT_MIN), key=lambda m: -m.strength)
    if strong:
        best = strong[0]
        return _Verdict(
            PointStatus.PRESENT, best.rule, _confidence_present(best.strength, best.hedged), tuple(strong), None
        )
    ranked = sorted(counted + near, key=lambda m: -m.strength)
    best_near = ranked[0] if ranked else None
    best_strength = best_near.strength if best_near else 0.0
    if query.conditional and condition is Stance.UNKNOWN:
        return _Verdict(PointStatus.NON_APPLICABLE, Rule.CONDITION_UNKNOWN, UNKNOWN_CONDITION_CONFIDENCE, (), best_near)
    if query.conditional:
        confidence = min(CONDITION_CONFIDENCE, _confidence_absent(best_strength))
        return _Verdict(PointStatus.ABSENT, Rule.CONDITION_MET, confidence, (), best_near)
    rule = Rule.NO_EVIDENCE
    if best_near is not None and best_near.strength >= PRESENT_MIN and best_near.rule is not Rule.EVIDENCE:
        rule = best_near.rule
    return _Verdict(PointStatus.ABSENT, rule, _confidence_absent(best_strength), (), best_near)


def judge_together(queries: Sequence[PointQuery], parsed: ParsedTimeline) -> list[_Verdict]:
    """A step's verdicts when a spoken word that is one point's own word does not also meet a sibling
    through the sibling's borrowed terms (prompt bullet, keywords, examples): a sibling needs words of
    its own there. The strongest matches claim their own words first; a weaker match of another point
    on the same turn is weighed again without those words for its borrowed terms, and no longer counts
    if what is left falls below `PRESENT_MIN`. A word both points name in their own text serves both:
    taking it from either cost more true verdicts than false ones on the evaluation's dev half."""
    return [_decide(search) for search in _within_step(queries, parsed)]


def _within_step(queries: Sequence[PointQuery], parsed: ParsedTimeline) -> list[_Search]:
    """The step's searches, each match that lost its words to a sibling moved to `near` (`judge_together`)."""
    searches = [_search(query, parsed) for query in queries]
    claims = sorted(
        ((match, i) for i, search in enumerate(searches) for match in search.counted
         if match.rule is Rule.EVIDENCE and match.strength >= PRESENT_MIN),
        key=lambda claim: (-claim[0].strength, claim[1]),
    )  # fmt: skip
    taken: dict[tuple[int, int], set[int]] = {}  # (recording, chunk) -> word indices serving a point
    kept: list[list[_Match]] = [[] for _ in searches]
    lost: list[list[_Match]] = [[] for _ in searches]
    for claim, i in claims:
        match, utterance = claim, claim.utterance
        words = taken.setdefault((utterance.recording.recording_index, utterance.chunk.chunk_index), set())
        if not words.isdisjoint(match.positions):
            query = searches[i].query
            tables = [_term_words(term, parsed) for term in query.terms]
            scoped = not (query.kind is PointKind.ASK and utterance.question)
            left = _match(query, utterance, tables, scoped=scoped, taken_words=frozenset(words))
            if left is None or left.strength < PRESENT_MIN:
                lost[i].append(replace(match, rule=Rule.OTHER_POINT))
                continue
            match = left
        kept[i].append(match)
        own = {t.lemma for t in searches[i].query.terms if t.own}
        words.update(p for lemma, p in zip(match.matched, match.positions, strict=True) if lemma in own)
    out = []
    for i, search in enumerate(searches):
        rest = [m for m in search.counted if m.rule is not Rule.EVIDENCE or m.strength < PRESENT_MIN]
        out.append(replace(search, counted=(*kept[i], *rest), near=(*search.near, *lost[i])))
    return out


def _utterance_key(utterance: Utterance) -> tuple[int, int, int]:
    return utterance.recording.recording_index, utterance.chunk.chunk_index, utterance.first_word


def _borrowed_from(match: _Match, query: PointQuery, rival: _Match) -> bool:
    """Whether `rival`, much stronger, matches a word that `match` matched only through a borrowed term."""
    if match.strength >= CROSS_STEP_RATIO * rival.strength:
        return False
    own = {t.lemma for t in query.terms if t.own}
    shared = set(match.positions) & set(rival.positions)
    return bool(shared) and not any(
        lemma in own for lemma, p in zip(match.matched, match.positions, strict=True) if p in shared
    )


def judge_scorecard(steps: Sequence[Sequence[PointQuery]], parsed: ParsedTimeline) -> list[list[_Verdict]]:
    """Every step's verdicts (`judge_together`), and across steps: an utterance a point matches through
    a borrowed term ("couvert", a prompt word of an exclusions point) stops being its evidence when a
    point of another step matches the same word there more than twice as strongly ("vous serez couvert
    dès le premier septembre", the effective date's). Points of one call share
    utterances across steps ("dentaire" for the needs, the guarantees and the 100 % Santé steps), so the
    turn is not taken from the weaker whole: on the evaluation's dev half, taking every shared turn
    from the weaker point, or every shared word, cost more true verdicts than it removed false ones."""
    searches = [_within_step(queries, parsed) for queries in steps]
    claims: dict[tuple[int, int, int], list[tuple[int, _Match]]] = {}
    for s, step_searches in enumerate(searches):
        for search in step_searches:
            for match in search.counted:
                if match.rule is Rule.EVIDENCE and match.strength >= PRESENT_MIN:
                    claims.setdefault(_utterance_key(match.utterance), []).append((s, match))
    verdicts = []
    for s, step_searches in enumerate(searches):
        decided = []
        for search in step_searches:
            counted, lost = [], []
            for match in search.counted:
                rivals = claims.get(_utterance_key(match.utterance), []) if match.rule is Rule.EVIDENCE else []
                if any(r != s and _borrowed_from(match, search.query, rival) for r, rival in rivals):
                    lost.append(replace(match, rule=Rule.OTHER_POINT))
                else:
                    counted.append(match)
            decided.append(_decide(replace(search, counted=tuple(counted), near=(*search.near, *lost))))
        verdicts.append(decided)
    return verdicts


def _answers(question: _Match, reply: Sequence[Utterance]) -> list[_Match]:
    """The client's agreement right after the agent's question takes the question's topic."""
    if not reply or reply[0].role not in ("client", "unknown") or not _agrees(reply):
        return []
    first = reply[0]
    return [_Match(first, question.strength * ANSWER_FACTOR, question.matched, (first.first_word,), Rule.ANSWER, False)]


def _quote_span(match: _Match, min_chars: int) -> tuple[int, int] | None:
    words = [w.text for w in match.utterance.chunk.words]
    start, end = match.utterance.first_word, match.utterance.last_word
    if end - start + 1 > MAX_QUOTE_WORDS:
        centre = sorted(match.positions)[len(match.positions) // 2] if match.positions else start
        start = max(start, centre - MAX_QUOTE_WORDS // 2)
        end = min(end, start + MAX_QUOTE_WORDS - 1)
    while len(normalise(" ".join(words[start : end + 1]))) < min_chars:
        if end < len(words) - 1:
            end += 1
        elif start > 0:
            start -= 1
        else:
            return None
    return start, end


def _citation(match: _Match, min_chars: int) -> Citation | None:
    chunk, recording = match.utterance.chunk, match.utterance.recording
    if not chunk.words:
        return None
    span = _quote_span(match, min_chars)
    if span is None:
        return None
    start_seconds = chunk.words[span[0]].start
    return Citation(
        texte=" ".join(w.text for w in chunk.words[span[0] : span[1] + 1]),
        minutage=mmss(start_seconds),
        minutage_secondes=start_seconds,
        speaker=chunk.speaker,
        recording_index=recording.recording_index,
        chunk_index=chunk.chunk_index,
        recording_date=recording.recording_date or "N/A",
        recording_time=recording.recording_time or "N/A",
        recording_url=recording.recording_url or "N/A",
    )


def _where(match: _Match) -> str:
    u = match.utterance
    return f"enregistrement #{u.recording.recording_index + 1} à {mmss(u.start)} ({u.role})"


_COMMENTS = {
    Rule.NOT_ASSESSABLE: (
        "Point qualitatif (manière de conduire l'entretien) : non évaluable par l'analyse heuristique "
        "sans modèle de langage ; à vérifier par un relecteur."
    ),
    Rule.CONDITION_NOT_MET: "Point conditionnel : la transcription indique que sa condition ne s'applique pas.",
    Rule.CONDITION_UNKNOWN: (
        "Point conditionnel : rien dans la transcription n'indique si sa condition s'est présentée ; "
        "à vérifier par un relecteur."
    ),
    Rule.CONDITION_MET: (
        "Point conditionnel : la transcription indique que sa condition s'applique, et aucun passage ne "
        "formule ce point."
    ),
}


def _comment(verdict: _Verdict, query: PointQuery) -> str:
    if verdict.rule in _COMMENTS:
        return _COMMENTS[verdict.rule]
    if verdict.status is PointStatus.PRESENT:
        best = verdict.evidence[0]
        how = "accord du client à la question du conseiller" if best.rule is Rule.ANSWER else "formulé"
        return f"Point {how} dans l'{_where(best)} (termes : {', '.join(best.matched)})."
    near = verdict.near
    if verdict.rule is Rule.WRONG_SPEAKER_ONLY and near is not None:
        who = "du client" if query.speaker is SpeakerRule.AGENT else "du conseiller"
        return f"Seules les paroles {who} l'évoquent ({_where(near)}) : elles ne valent pas pour ce point."
    if verdict.rule is Rule.NOT_AS_FACT_ONLY and near is not None:
        return (
            f"Évoqué seulement sous forme de question, de négation, de propos rapportés ou de report "
            f"({_where(near)}) : pas retenu comme preuve."
        )
    if near is not None:
        why = "dit un autre point de la grille" if verdict.rule is Rule.OTHER_POINT else "est insuffisant"
        return f"Aucun passage ne formule ce point ; le plus proche ({_where(near)}) {why}."
    return "Aucun passage de la transcription ne formule ce point."


_Judged = dict[int, tuple[tuple[PointQuery, ...], list[_Verdict]]]
"""Per step position, its queries and verdicts."""


class HeuristicAuditor:
    """Deterministic evidence search; implements `domain.audits.auditor.Auditor`."""

    name = "heuristic"
    model: str | None = None
    prompt_version = HEURISTIC_VERSION
    shares_prompt_prefix = False

    def __init__(self, min_quote_chars: int = DEFAULT_MIN_QUOTE_CHARS) -> None:
        self.min_quote_chars = min_quote_chars
        self._cache: OrderedDict[tuple[str, str], tuple[ParsedTimeline, list[IndexedTokens]]] = OrderedDict()
        self._judgements: OrderedDict[tuple[str, str, tuple[StepSpec, ...]], _Judged] = OrderedDict()
        self._lock = threading.Lock()  # the engine prepares several fiches at once on worker threads

    def _entry(self, timeline: Timeline) -> tuple[ParsedTimeline, list[IndexedTokens]]:
        """The timeline parsed once, shared by every step of an audit (and audits of the same fiche)."""
        key = (timeline.fiche_id, timeline.version)
        with self._lock:
            entry = self._cache.get(key)
        if entry is None:  # parsed outside the lock, so fiches parse in parallel
            indexed = [IndexedTokens.of_words([w.text for w in c.words]) for c in timeline.chunks()]
            entry = (parse_timeline(timeline), indexed)
            with self._lock:
                self._cache[key] = entry
                while len(self._cache) > _CACHE_SIZE:
                    self._cache.popitem(last=False)
        return entry

    def parsed(self, timeline: Timeline) -> ParsedTimeline:
        return self._entry(timeline)[0]

    def prepare(self, timeline: Timeline) -> dict[str, dict[str, Any]]:
        """Parse what the timeline does not carry an analysis of; the analyses made, to store."""
        return self.parsed(timeline).fresh

    async def analyze_step(
        self, scorecard: ScorecardSpec, step: StepSpec, timeline: Timeline, *, mode: TranscriptMode
    ) -> StepAnalysis:
        output, assessments = self.analyze(scorecard, step, timeline)
        return StepAnalysis(output=output, usage=Usage(), transcript_mode=mode, assessments=assessments)

    def analyze(
        self, scorecard: ScorecardSpec, step: StepSpec, timeline: Timeline
    ) -> tuple[StepOutput, tuple[PointAssessment, ...]]:
        results: list[ControlPointResult] = []
        assessments: list[PointAssessment] = []
        queries, verdicts = self._judged(scorecard, step, timeline)[step.position]
        for query, verdict in zip(queries, verdicts, strict=True):
            citations = [c for c in (_citation(m, self.min_quote_chars) for m in verdict.evidence) if c is not None]
            citations = list({(c.recording_index, c.chunk_index, c.texte): c for c in citations}.values())
            status = verdict.status
            if status is PointStatus.PRESENT and not citations:
                status = PointStatus.ABSENT  # nothing quotable: gating would say the same
            results.append(
                ControlPointResult(
                    point=query.text,
                    statut=status,
                    commentaire=_comment(verdict, query),
                    citations=citations[:MAX_CITATIONS],
                    minutages=list(dict.fromkeys(c.minutage for c in citations[:MAX_CITATIONS])),
                    erreur_transcription_notee=False,
                    variation_phonetique_utilisee=None,
                )
            )
            assessments.append(PointAssessment(verdict.confidence, str(verdict.rule)))
        derived = derive_step((p.statut for p in results), step.weight)
        counts = {s: sum(p.statut is s for p in results) for s in PointStatus}
        minutages = sorted({(c.recording_index, c.minutage_secondes, c.minutage) for p in results for c in p.citations})
        output = StepOutput(
            traite=any(p.statut is PointStatus.PRESENT for p in results),
            conforme=derived.conforme,
            minutages=list(dict.fromkeys(m for _, _, m in minutages)),
            score=derived.score,
            points_controle=results,
            mots_cles_trouves=self._keywords_found(step, timeline),
            commentaire_global=(
                "Analyse heuristique (recherche déterministe sur les lemmes, familles de mots et vecteurs de mots, "
                f"selon qui parle et comment, sans modèle de langage) : {counts[PointStatus.PRESENT]} point(s) "
                f"présent(s), {counts[PointStatus.ABSENT]} absent(s), {counts[PointStatus.NON_APPLICABLE]} "
                f"non applicable(s) ou non évaluable(s) sur {len(results)}."
            ),
            niveau_conformite=derived.niveau,
            erreurs_transcription_tolerees=0,
        )
        return output, tuple(assessments)

    def _judged(self, scorecard: ScorecardSpec, step: StepSpec, timeline: Timeline) -> _Judged:
        """Every step's queries and verdicts, judged once per fiche and scorecard: a step's verdicts
        depend on the other steps' (`judge_scorecard`). A step the scorecard does not hold is judged
        in place of the scorecard's step at its position."""
        steps = tuple(s for s in scorecard.steps if s.position != step.position or s == step)
        if step not in steps:
            steps += (step,)
        key = (timeline.fiche_id, timeline.version, steps)
        with self._lock:
            judged = self._judgements.get(key)
        if judged is None:
            queries = [build_queries(scorecard, s) for s in steps]
            verdicts = judge_scorecard(queries, self.parsed(timeline))
            judged = {
                s.position: judgement for s, judgement in zip(steps, zip(queries, verdicts, strict=True), strict=True)
            }
            with self._lock:
                self._judgements[key] = judged
                while len(self._judgements) > _CACHE_SIZE:
                    self._judgements.popitem(last=False)
        return judged

    def _keywords_found(self, step: StepSpec, timeline: Timeline) -> list[str]:
        indexed = self._entry(timeline)[1]
        found = []
        for keyword in step.keywords:
            tokens = tokenise(keyword)
            if tokens and any(find_phrase(tokens, ix) for ix in indexed):
                found.append(keyword)
        return found
