"""The heuristic auditor: a deterministic evidence search standing in for an LLM (provider `heuristic`).

For each control point it looks, chunk by chunk, for the point's own terms and the step's keywords
(accent- and case-insensitive, tolerant to small recognition errors: `domain.audits.matching`).

- Terms: the words of the control point (a « quoted » part searched whole) and the step keywords
  (phrases kept whole), French stop-words and audit-instruction words ("informer", "client"...) removed.
- Weights: a term of the point itself weighs `OWN_TERM_WEIGHT`, a step keyword `KEYWORD_WEIGHT`,
  each divided by the number of steps of the scorecard that use the term: a word several steps
  share ("dentaire" for needs and for guarantees) proves little about any of them.
- Matches: a term found exactly, or as another ending of the same word (`garantie` / `garanties`),
  counts fully; one found only through the ASR tolerance counts `TOLERATED_HIT_FACTOR` of it
  (`courrier` is one letter from `courtier`, and another word).
- Verdict on the best chunk: PRESENT when the point's own terms reach `PRESENT_MIN_OWN`; PARTIEL
  when the step's vocabulary together reaches `PARTIEL_MIN` (the topic is there, the point's words
  are not); ABSENT otherwise. A lone word shared by two steps is not enough for either.
- Evidence: up to `MAX_CITATIONS` chunks, each cited by the clause around its strongest term,
  copied word for word from the chunk (at least `min_quote_chars`, at most `MAX_QUOTE_WORDS`), so
  every citation passes evidence gating.

The step's score, conformity and level are derived from the points like gating does (`derive_step`).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

from domain.audits.auditor import StepAnalysis, TranscriptMode, Usage
from domain.audits.gating import derive_step
from domain.audits.matching import IndexedTokens, PhraseHit, find_phrase, normalise, token_distance, tokenise
from domain.audits.schema import Citation, ControlPointResult, PointStatus, StepOutput
from domain.audits.scorecard import ScorecardSpec, StepSpec
from domain.audits.timeline import Timeline, TimelineChunk, TimelineRecording, mmss

HEURISTIC_VERSION = "heuristic-1"
"""Bump when the search, weights or texts change: audits made before are redone."""

OWN_TERM_WEIGHT = 2.0
KEYWORD_WEIGHT = 1.0
PRESENT_MIN_OWN = 2.0
PARTIEL_MIN = 2.0
MAX_CITATIONS = 2
MAX_QUOTE_WORDS = 25
MIN_TERM_CHARS = 3
MAX_INFLECTION_LETTERS = 2
TOLERATED_HIT_FACTOR = 0.5
DEFAULT_MIN_QUOTE_CHARS = 12
_QUOTED = re.compile(r"«\s*([^»]+?)\s*»")
_SENTENCE_END = (".", "?", "!", "…")
_TIMELINE_CACHE_SIZE = 4

_STOP_WORDS = """
    a au aux avec ce ces cet cette d de des du elle en est et etre il ils je j l la le les leur leurs lui
    m ma me mes moi mon n ne nos notre nous on ou par pas pour qu que qui s sa se ses son sur t ta te tes
    toi ton tu un une vos votre vous y ca c dans plus tout tous toute toutes si sans sous entre comme
    afin ainsi alors aussi bien donc meme tres avoir fait faire peut doit sont ont ete etait
    client cliente clients appel lors debut fin eventuel eventuels eventuelle eventuelles ou
    annoncer informer indiquer preciser mentionner rappeler demander verifier nommer presenter detailler
    expliquer questionner recueillir communiquer saluer realiser proceder obtenir donner proposer
    explicite explicitement clairement confirmer deja rien point propose proposee avant apres oui non
"""
STOP_WORDS: frozenset[str] = frozenset(_STOP_WORDS.split())
"""Normalised words that say nothing about where a control point is met in a call."""


@dataclass(frozen=True)
class Term:
    label: str  # as written in the scorecard, for comments and `mots_cles_trouves`
    tokens: tuple[str, ...]
    weight: float
    own: bool  # from the control point's own text (else a step keyword)


@dataclass(frozen=True)
class _Hit:
    term: Term
    at: PhraseHit
    exact: bool  # every token equal, or another ending of the same word

    @property
    def strength(self) -> float:
        """Misheard-looking matches count half: `courrier` is one letter from `courtier`, and another word."""
        return self.term.weight * (1.0 if self.exact else TOLERATED_HIT_FACTOR)


@dataclass(frozen=True)
class _ChunkEvidence:
    recording: TimelineRecording
    chunk: TimelineChunk
    indexed: IndexedTokens
    hits: tuple[_Hit, ...]

    @property
    def own_score(self) -> float:
        return sum(h.strength for h in self.hits if h.term.own)

    @property
    def score(self) -> float:
        return sum(h.strength for h in self.hits)

    @property
    def status(self) -> PointStatus:
        if self.own_score >= PRESENT_MIN_OWN:
            return PointStatus.PRESENT
        if self.score >= PARTIEL_MIN:
            return PointStatus.PARTIEL
        return PointStatus.ABSENT


_RANK = {PointStatus.PRESENT: 2, PointStatus.PARTIEL: 1, PointStatus.ABSENT: 0}


def content_tokens(text: str) -> tuple[str, ...]:
    return tuple(t for t in tokenise(text) if (t not in STOP_WORDS and len(t) >= MIN_TERM_CHARS) or t.isdigit())


def keyword_tokens(keyword: str) -> tuple[str, ...]:
    """A keyword phrase is searched whole ("par mois", "délai d'attente"); one of stop-words only, never."""
    return tuple(tokenise(keyword)) if content_tokens(keyword) else ()


def _inflection(a: str, b: str) -> bool:
    """`garantie` / `garanties`, `enregistre` / `enregistree`: one word, another ending."""
    short, long = sorted((a, b), key=len)
    return long.startswith(short) and len(long) - len(short) <= MAX_INFLECTION_LETTERS


def _vocabulary(step: StepSpec) -> set[str]:
    words = {t for point in step.control_points for t in content_tokens(point)}
    return words | {t for keyword in step.keywords for t in content_tokens(keyword)}


def _spread(token: str, vocabularies: Sequence[set[str]]) -> int:
    """How many steps use a token (tolerantly); at least 1."""
    return max(1, sum(any(token_distance(token, other) is not None for other in vocab) for vocab in vocabularies))


def point_terms(scorecard: ScorecardSpec, step: StepSpec, point: str) -> tuple[Term, ...]:
    """The weighted terms searched for one control point (see the module docstring)."""
    vocabularies = [_vocabulary(s) for s in scorecard.steps] or [_vocabulary(step)]
    terms: dict[tuple[str, ...], Term] = {}
    quoted = _QUOTED.findall(point)
    own = [(q, keyword_tokens(q)) for q in quoted] + [(t, (t,)) for t in content_tokens(_QUOTED.sub(" ", point))]
    keywords = [(k, keyword_tokens(k)) for k in step.keywords]
    for is_own, items, base in ((True, own, OWN_TERM_WEIGHT), (False, keywords, KEYWORD_WEIGHT)):
        for label, tokens in items:
            if tokens and tokens not in terms:
                spread = min(_spread(t, vocabularies) for t in tokens if t not in STOP_WORDS)
                terms[tokens] = Term(label, tokens, base / spread, is_own)
    return tuple(sorted(terms.values(), key=lambda t: (-t.weight, -len(t.tokens))))


def _evidence(
    terms: Sequence[Term], recording: TimelineRecording, chunk: TimelineChunk, indexed: IndexedTokens
) -> _ChunkEvidence:
    """Each chunk token counts for one term at most, the strongest match (`signez` as `signez`, not `signer`)."""
    found: list[_Hit] = []
    for term in terms:
        at = find_phrase(term.tokens, indexed)
        if at is not None:
            heard = indexed.tokens[at.first_token : at.last_token + 1]
            found.append(_Hit(term, at, all(_inflection(a, b) for a, b in zip(term.tokens, heard, strict=True))))
    used: set[int] = set()
    hits: list[_Hit] = []
    for hit in sorted(found, key=lambda h: (-h.strength, -h.term.own)):
        span = set(range(hit.at.first_token, hit.at.last_token + 1))
        if not used & span:
            used |= span
            hits.append(hit)
    return _ChunkEvidence(recording, chunk, indexed, tuple(hits))


def _quote_span(words: Sequence[str], indexed: IndexedTokens, hit: PhraseHit, min_chars: int) -> tuple[int, int] | None:
    """Word span of the clause around a hit: its sentence, cut to `MAX_QUOTE_WORDS`, widened to `min_chars`."""
    first, last = indexed.word_index[hit.first_token], indexed.word_index[hit.last_token]
    start = first
    while start > 0 and not words[start - 1].endswith(_SENTENCE_END):
        start -= 1
    end = last
    while end < len(words) - 1 and not words[end].endswith(_SENTENCE_END):
        end += 1
    if end - start + 1 > MAX_QUOTE_WORDS:
        half = (MAX_QUOTE_WORDS - (last - first + 1)) // 2
        start = max(start, first - half)
        end = min(end, start + MAX_QUOTE_WORDS - 1)
    while len(normalise(" ".join(words[start : end + 1]))) < min_chars:
        if end < len(words) - 1:
            end += 1
        elif start > 0:
            start -= 1
        else:
            return None
    return start, end


def _citation(evidence: _ChunkEvidence, min_chars: int) -> Citation | None:
    chunk, recording = evidence.chunk, evidence.recording
    words = [w.text for w in chunk.words]
    if not words:
        return None
    strongest = max(evidence.hits, key=lambda h: (h.term.own, h.term.weight))
    span = _quote_span(words, evidence.indexed, strongest.at, min_chars)
    if span is None:
        return None
    start_seconds = chunk.words[span[0]].start
    return Citation(
        texte=" ".join(words[span[0] : span[1] + 1]),
        minutage=mmss(start_seconds),
        minutage_secondes=start_seconds,
        speaker=chunk.speaker,
        recording_index=recording.recording_index,
        chunk_index=chunk.chunk_index,
        recording_date=recording.recording_date or "N/A",
        recording_time=recording.recording_time or "N/A",
        recording_url=recording.recording_url or "N/A",
    )


def _labels(hits: Sequence[_Hit]) -> str:
    return ", ".join(f"« {h.term.label} »" for h in hits)


def _variations(evidence: _ChunkEvidence) -> list[str]:
    """`heard → expected` for the terms found only through the ASR tolerance."""
    tokens = evidence.indexed.tokens
    return [
        f"{' '.join(tokens[h.at.first_token : h.at.last_token + 1])} → {h.term.label}"
        for h in evidence.hits
        if not h.exact
    ]


class _Index:
    """A timeline's chunks as tokens, built once and shared by every step of an audit."""

    def __init__(self, timeline: Timeline) -> None:
        self.chunks = [
            (recording, chunk, IndexedTokens.of_words([w.text for w in chunk.words]))
            for recording in timeline.recordings
            for chunk in recording.chunks
        ]


class HeuristicAuditor:
    """Deterministic evidence search; implements `domain.audits.auditor.Auditor`."""

    name = "heuristic"
    model: str | None = None
    prompt_version = HEURISTIC_VERSION
    shares_prompt_prefix = False

    def __init__(self, min_quote_chars: int = DEFAULT_MIN_QUOTE_CHARS) -> None:
        self.min_quote_chars = min_quote_chars
        self._indexes: OrderedDict[tuple[str, str], _Index] = OrderedDict()

    def _index(self, timeline: Timeline) -> _Index:
        key = (timeline.fiche_id, timeline.version)
        if key not in self._indexes:
            self._indexes[key] = _Index(timeline)
            while len(self._indexes) > _TIMELINE_CACHE_SIZE:
                self._indexes.popitem(last=False)
        return self._indexes[key]

    async def analyze_step(
        self, scorecard: ScorecardSpec, step: StepSpec, timeline: Timeline, *, mode: TranscriptMode
    ) -> StepAnalysis:
        return StepAnalysis(output=self.analyze(scorecard, step, timeline), usage=Usage(), transcript_mode=mode)

    def analyze(self, scorecard: ScorecardSpec, step: StepSpec, timeline: Timeline) -> StepOutput:
        index = self._index(timeline)
        points = [self._point(scorecard, step, point, index) for point in step.control_points]
        derived = derive_step((p.statut for p in points), step.weight)
        keywords = [(k, keyword_tokens(k)) for k in step.keywords]
        found = [k for k, tokens in keywords if tokens and any(find_phrase(tokens, ix) for _, _, ix in index.chunks)]
        counts = {s: sum(p.statut is s for p in points) for s in PointStatus}
        minutages = sorted({(c.recording_index, c.minutage_secondes, c.minutage) for p in points for c in p.citations})
        return StepOutput(
            traite=any(p.statut in (PointStatus.PRESENT, PointStatus.PARTIEL) for p in points),
            conforme=derived.conforme,
            minutages=list(dict.fromkeys(m for _, _, m in minutages)),
            score=derived.score,
            points_controle=points,
            mots_cles_trouves=found,
            commentaire_global=(
                "Analyse heuristique (recherche déterministe des termes des points de contrôle et des mots-clés, "
                f"sans modèle de langage) : {counts[PointStatus.PRESENT]} point(s) présent(s), "
                f"{counts[PointStatus.PARTIEL]} partiel(s), {counts[PointStatus.ABSENT]} absent(s) "
                f"sur {len(points)}."
            ),
            niveau_conformite=derived.niveau,
            erreurs_transcription_tolerees=sum(p.erreur_transcription_notee for p in points),
        )

    def _point(self, scorecard: ScorecardSpec, step: StepSpec, point: str, index: _Index) -> ControlPointResult:
        terms = point_terms(scorecard, step, point)
        ranked = sorted(
            (e for e in (_evidence(terms, r, c, ix) for r, c, ix in index.chunks) if e.hits),
            key=lambda e: (-_RANK[e.status], -e.score, e.recording.recording_index, e.chunk.chunk_index),
        )
        status = ranked[0].status if ranked else PointStatus.ABSENT
        cited: list[tuple[_ChunkEvidence, Citation]] = []
        for evidence in ranked:
            if evidence.status is not status or status is PointStatus.ABSENT or len(cited) == MAX_CITATIONS:
                break
            citation = _citation(evidence, self.min_quote_chars)
            if citation is not None:
                cited.append((evidence, citation))
        if not cited:
            status = PointStatus.ABSENT
        variations = list(dict.fromkeys(v for evidence, _ in cited for v in _variations(evidence)))
        return ControlPointResult(
            point=point,
            statut=status,
            commentaire=self._comment(status, cited, terms),
            citations=[c for _, c in cited],
            minutages=list(dict.fromkeys(c.minutage for _, c in cited)),
            erreur_transcription_notee=bool(variations),
            variation_phonetique_utilisee="; ".join(variations) or None,
        )

    @staticmethod
    def _comment(status: PointStatus, cited: Sequence[tuple[_ChunkEvidence, Citation]], terms: Sequence[Term]) -> str:
        if status is PointStatus.ABSENT or not cited:
            searched = ", ".join(f"« {t.label} »" for t in terms[:6]) or "aucun terme exploitable"
            return f"Aucun passage de la transcription ne contient les termes de ce point (recherchés : {searched})."
        evidence, citation = cited[0]
        where = f"enregistrement #{citation.recording_index + 1} à {citation.minutage} ({citation.speaker})"
        if status is PointStatus.PRESENT:
            own = [h for h in evidence.hits if h.term.own]
            return f"Termes du point trouvés dans l'{where} : {_labels(own)}."
        return (
            f"Seuls des mots-clés de l'étape ont été trouvés dans l'{where} ({_labels(evidence.hits)}) ; "
            "le point lui-même n'y est pas formulé explicitement."
        )
