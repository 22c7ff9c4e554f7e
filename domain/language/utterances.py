"""A transcript as utterances: sentences of a speaker turn with the features evidence search needs.

Each chunk (one speaker turn) is parsed by the shared spaCy pipeline; every sentence becomes an
`Utterance` that knows its word span in the chunk (to quote it verbatim), its content lemmas and
their word vectors, and how it is said:

- `question`: a question mark, an interrogative word (`combien`, `quel`...), `est-ce que`, or a
  subject-verb inversion (`avez-vous`);
- `negated`: a negation (`Polarity=Neg`) on the main verb, except on `avoir` / `il y a`
  ("il n'y a pas de frais de dossier" still talks about the fees);
- `reported`: a verb of saying whose subject is a third party ("ma voisine m'a dit que...");
- `deferred`: put off to later ("on verra ça plus tard", "je vous en reparlerai");
- `hedged`: the main verb in the conditional mood ("je pourrais vous envoyer");
- `filler`: nothing but a backchannel ("d'accord", "oui oui", "très bien").

Per content word, besides whether it is `blocked` as evidence (under a negated, refused or reported
verb), whether it is `denied` (said not to hold, `avoir` included: "je n'ai pas la CSS") and whether
it is `supposed` (inside "si ..." or "en cas de ..."): what tells a point's condition met or not.

Lemmas are folded like `domain.audits.matching` folds words (lower case, no accents), so the two
compare directly.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from domain.audits.matching import HESITATIONS, numbers_as_digits, word_tokens
from domain.audits.timeline import Timeline, TimelineChunk, TimelineRecording
from domain.language.analysis import ChunkAnalysis, SegmentAnalysis, analysis_json, stored_analysis, word_vector
from domain.language.lexicon import GLOSSARY
from domain.language.pipeline import parse

if TYPE_CHECKING:
    from spacy.tokens import Doc, Span, Token

CONTENT_POS = frozenset({"NOUN", "PROPN", "VERB", "ADJ", "ADV", "NUM", "X"})
"""Parts of speech that carry what is said; `X` is what the tagger cannot place, mostly acronyms and
names a recogniser wrote in lower case ("sur orias point fr"), which are the rarest and surest terms."""
_INTERROGATIVES = frozenset(
    {"combien", "quel", "quelle", "quels", "quelles", "pourquoi", "comment", "lequel", "laquelle"}
)
_INVERTED_SUBJECTS = ("-vous", "-tu", "-il", "-elle", "-ils", "-elles", "-on", "-je", "-nous")
_SAYING = frozenset({"dire", "raconter", "expliquer", "entendre", "lire", "affirmer", "prétendre", "paraître"})
_SPEAKERS_OWN = frozenset({"je", "vous", "nous", "tu", "j"})
_POSSESSIVE_NEGATION_OK = frozenset({"avoir"})
_DEFER_PHRASES = ("plus tard", "une autre fois", "la prochaine fois", "ulterieurement", "on verra", "on en reparlera")
_DEFER_LEMMAS = frozenset({"reparler", "reporter"})
_REFUSING = frozenset({"refuser", "opposer", "interdire"})
_MAX_DEPTH = 12
_NEGATIVE_WORDS = frozenset({"non", "pas", "sans", "aucun", "aucune", "jamais", "ni"})
_SUPPOSING = frozenset({"si", "s'", "s\u2019"})
_SCOPE_ENDS = frozenset({"advcl", "parataxis", "conj", "acl", "acl:relcl"})
_POLITE_CONDITIONALS = frozenset({"vouloir", "aimer"})  # "je voudrais vous présenter": an act, politely
_TELLING = frozenset({"dire", "détailler", "expliquer", "présenter", "parler", "préciser", "exposer", "montrer"})
_OFFERS = ("si vous voulez", "si vous le souhaitez", "si vous souhaitez", "si ca vous interesse", "si besoin")
_BACKCHANNELS = frozenset(
    [
        "oui",
        "ouais",
        "non",
        "d",
        "accord",
        "ok",
        "okay",
        "dac",
        "bien",
        "tres",
        "parfait",
        "super",
        "entendu",
        "voila",
        "bon",
        "ah",
        "oh",
        "merci",
        "hm",
        "hmm",
        "mh",
        "mmh",
        "euh",
        "je",
        "vois",
        "exact",
        "exactement",
        "tout",
        "a",
        "fait",
        "absolument",
        "ca",
        "marche",
    ]
)


def fold(text: str) -> str:
    """Lower case, accents stripped, numbers as digits, one token per word piece (as `matching.tokenise`)."""
    tokens = [t for t in word_tokens(text) if t not in HESITATIONS]
    return " ".join(numbers_as_digits(tokens, list(range(len(tokens))))[0])


@dataclass(frozen=True)
class Utterance:
    recording: TimelineRecording
    chunk: TimelineChunk
    first_word: int  # index in `chunk.words` (inclusive)
    last_word: int  # inclusive
    text: str
    lemmas: tuple[str, ...]  # folded lemmas of content words, in order
    positions: tuple[int, ...]  # index in `chunk.words` of each content word
    blocked: tuple[bool, ...]  # the word sits under a negated, refused or third-party-reported verb
    denied: tuple[bool, ...]  # the word itself is said not to hold ("non responsable", "je n'ai pas la CSS")
    supposed: tuple[bool, ...]  # the word sits in a supposition ("si c'était responsable", "en cas de refus")
    surfaces: tuple[str, ...]  # folded surface forms of the same words
    vectors: tuple[np.ndarray | None, ...]  # unit word vectors of the same words (None: out of vocabulary)
    vector: np.ndarray | None  # unit mean vector of the content words
    question: bool
    negated: bool
    reported: bool
    deferred: bool
    hedged: bool
    filler: bool

    @property
    def role(self) -> str:
        return self.chunk.role

    @property
    def start(self) -> float:
        return self.chunk.words[self.first_word].start if self.chunk.words else self.chunk.start


def _unit(vector: np.ndarray) -> np.ndarray | None:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else None


def _word_of_char(words: Sequence[str]) -> list[int]:
    """For each character of `" ".join(words)`, the index of the word it belongs to."""
    owners: list[int] = []
    for i, word in enumerate(words):
        owners += [i] * len(word)
        owners.append(i)  # the space after it
    return owners


def _text(tokens: Sequence[Token]) -> str:
    return " ".join(t.text for t in tokens)


def _is_question(tokens: Sequence[Token]) -> bool:
    if any(t.text == "?" for t in tokens):
        return True
    lowered = fold(_text(tokens))
    words = lowered.split()
    if words[:3] == ["est", "ce", "que"] or " est ce qu" in f" {lowered}":
        return True
    if any(w in _INTERROGATIVES for w in words):
        return True
    return any(token.text.lower().endswith(_INVERTED_SUBJECTS) for token in tokens)


_NEGATORS = frozenset(
    {"ne", "n", "pas", "plus", "jamais", "rien", "personne", "aucun", "aucune", "ni", "non", "guere", "point",
     "nullement", "sans", "nul", "nulle"}
)  # fmt: skip
"""French negation words: the closed class a `Polarity=Neg` tag may stand on. The tagger also puts it
on words that negate nothing ("l'appel est enregistré hein")."""


def _negative(token: Token) -> bool:
    return "Neg" in token.morph.get("Polarity", []) and fold(token.text) in _NEGATORS


def _negated_verb(token: Token) -> bool:
    return token.lemma_ not in _POSSESSIVE_NEGATION_OK and any(_negative(child) for child in token.children)


def _reporting_verb(token: Token) -> bool:
    if token.lemma_ not in _SAYING or token.pos_ != "VERB":
        return False
    subjects = [c for c in token.children if c.dep_.startswith("nsubj")]
    return bool(subjects) and all(fold(s.text) not in _SPEAKERS_OWN and not _anyone(token, s) for s in subjects)


def _anyone(verb: Token, subject: Token) -> bool:
    """A relative "qui" with no antecedent is whoever, not a third party: "qui dit contrat responsable
    dit 100 % santé" states a rule (where "ma voisine qui dit que..." reports her words)."""
    return subject.lower_ == "qui" and verb.dep_ != "acl:relcl"


def _in_clause(token: Token, test: Callable[[Token], bool], within: Collection[int]) -> bool:
    """Whether `test` holds for the word or a word it depends on, up to the end of its clause
    (`_SCOPE_ENDS`) or of its segment (`within`, token indices): in "rien n'est définitif, la loi vous
    laisse quatorze jours pour renoncer" the negation of the first clause says nothing of the second,
    nor, in two lines the recogniser ran together ("...et l'attestation | vous n'êtes pas en train de
    vous rétracter"), the negation of the second line of a word the parser made its subject."""
    node = token
    for _ in range(_MAX_DEPTH):
        if test(node):
            return True
        if node.head is node or node.dep_ in _SCOPE_ENDS or node.head.i not in within:
            return False
        node = node.head
    return False


def _blocked(token: Token, within: Collection[int]) -> bool:
    """Whether a word is said under a negation ("je ne vous ai pas parlé des frais"), as the object of
    a refusal ("vous pouvez refuser l'enregistrement") or in a third party's reported words."""
    return _in_clause(
        token,
        lambda node: _negated_verb(node) or (node is not token and (node.lemma_ in _REFUSING or _reporting_verb(node))),
        within,
    )


def _denied(token: Token, within: Collection[int]) -> bool:
    """Whether a word is said not to hold. Unlike `_blocked` this reads `avoir` too ("je n'ai pas la
    CSS" denies the CSS, where "il n'y a pas de frais" still talks about the fees) and the negative
    words the tagger leaves without `Polarity=Neg` ("non responsable", "sans mutuelle")."""
    return _in_clause(
        token,
        lambda node: any((_negative(c) or c.lower_ in _NEGATIVE_WORDS) and c.dep_ != "conj" for c in node.children),
        within,
    )


def _supposed(token: Token, within: Collection[int]) -> bool:
    """Whether a word sits in a supposition rather than a statement: a clause opened by "si" ("si
    c'était un contrat responsable"), what "en cas de" / "au cas où" puts forward, or one side of an
    alternative ("responsable ou pas")."""
    return _in_clause(
        token,
        lambda node: (
            node.lemma_ == "cas"
            or any(
                (c.dep_ == "mark" and c.lower_ in _SUPPOSING) or (c.dep_ == "conj" and c.lower_ in _NEGATIVE_WORDS)
                for c in node.children
            )
        ),
        within,
    )


def _predicate(verb: Token) -> Token:
    """The word a clause's negation hangs on: the participle for a compound tense ("ai ... parlé"),
    the attribute for a copula ("n'est ... définitif"), else the verb itself."""
    return verb.head if verb.pos_ == "AUX" and verb.dep_.startswith(("aux", "cop")) else verb


def _is_negated(tokens: Sequence[Token]) -> bool:
    """The segment's main verb is negated (on `avoir` / `il y a` it is not: "pas de frais" names the fees)."""
    verbs = [t for t in tokens if t.pos_ in ("VERB", "AUX")]
    return (bool(verbs) and _negated_verb(_predicate(verbs[0]))) or (
        any(_negative(t) for t in tokens) and not any(t.lemma_ in _POSSESSIVE_NEGATION_OK for t in tokens) and not verbs
    )


def _is_reported(tokens: Sequence[Token]) -> bool:
    if any(_reporting_verb(t) for t in tokens):
        return True
    lowered = f" {fold(_text(tokens))} "
    return any(marker in lowered for marker in (" il parait ", " d apres ", " selon ", " on m a dit ", " on ma dit "))


def _is_deferred(tokens: Sequence[Token]) -> bool:
    lowered = f" {fold(_text(tokens))} "
    if any(f" {phrase} " in lowered for phrase in _DEFER_PHRASES):
        return True
    return any(token.lemma_ in _DEFER_LEMMAS for token in tokens)


def _is_hedged(tokens: Sequence[Token]) -> bool:
    """A hypothesis rather than a statement ("je pourrais vous envoyer"), or an offer to tell later
    ("si vous voulez, je peux vous détailler les frais"). An offer of something else tells the client
    it is on offer: "si vous souhaitez l'écouter, on peut vous en faire parvenir une copie" informs
    them of their right to a copy."""
    if any("Cnd" in t.morph.get("Mood", []) and t.lemma_ not in _POLITE_CONDITIONALS for t in tokens):
        return True
    lowered = f" {fold(_text(tokens))} "
    offer = any(f" {phrase} " in lowered for phrase in _OFFERS)
    return offer and any(t.lemma_ in _TELLING for t in tokens)


def _is_filler(tokens: Sequence[Token]) -> bool:
    words = fold(_text(tokens)).split()
    return bool(words) and all(w in _BACKCHANNELS for w in words)


_CONCEPTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b\d+ (?:\d+ )?(?:euro|euros|eur)\b"), "montant"),
    (re.compile(r"\b\d+ (?:%|pour ?cent|pourcent)"), "pourcentage"),
    (re.compile(r"\b\d+ (?:jour|jours|semaine|semaines|mois|an|ans|annee|annees)\b"), "duree"),
    (re.compile(r"\b(?:par|chaque|tous les) mois\b"), "mensuel"),
    (re.compile(r"\b(?:je m appelle|je me presente)\b"), "identite"),
)
"""What a phrase says as a whole (an amount, a duration, a self-introduction), added to its
utterance as one more lemma so control points naming the concept ("montant", "délai", "identité")
can be met by the phrase."""


def concepts(text: str) -> list[str]:
    folded = fold(text.replace("%", " % ").replace("€", " euros "))
    return [concept for pattern, concept in _CONCEPTS if pattern.search(folded)]


_NAME_INTRODUCERS = frozenset(
    {"avec", "monsieur", "madame", "mademoiselle", "m", "mme", "mr", "votre", "vos", "mon", "ma", "son", "sa",
     "a", "de", "chez", "pour", "docteur", "dr", "maitre"}
)  # fmt: skip
_NAME_CONCEPTS = ("identite", "prenom", "nom")


def names_someone(tokens: Sequence[Token]) -> bool:
    """A clause that says a full name (first name and surname: two proper nouns in a row, or a name
    with its `flat:name` part) on its own account, not a name someone is addressed or spoken of by
    ("je suis bien avec Sylvie Morel", "monsieur Garnier", "votre nom"): said by the advisor, it is
    the advisor giving their identity ("Karima Blanchard à l'appareil", "c'est Julien Petit qui vous
    parle"). A first name alone is not a full identity."""
    words = [t for t in tokens if not t.is_punct]
    for i, token in enumerate(words):
        pair = i + 1 < len(words) and token.pos_ == "PROPN" and words[i + 1].pos_ == "PROPN"
        flat = any(c.dep_ == "flat:name" and c.i == token.i + 1 for c in token.children) and token.is_title
        if not (pair or flat) or (i > 0 and fold(words[i - 1].text) in _NAME_INTRODUCERS):
            continue
        if not any(fold(w.text) in GLOSSARY for w in words[i : i + 2]):  # "Net Courtage" names the firm
            return True
    return False


_CLAUSE_END = frozenset({".", "?", "!", ";", ":", "…"})
_SUBJECT_PRONOUNS = frozenset({"je", "j'", "vous", "on", "il", "elle", "nous", "ils", "elles", "tu", "ça", "c'"})
_MIN_SEGMENT = 3
_SUBJECT_DEPS = ("nsubj", "expl:subj")
_CLITICS = frozenset({"ne", "n'", "me", "m'", "te", "t'", "se", "s'", "vous", "nous", "le", "la", "les", "l'", "lui",
                      "leur", "y", "en"})  # fmt: skip
_LINKS = frozenset({"que", "qu'", "qui", "dont", "où", "si", "s'", "quand", "comme", "lorsque", "puisque"})
"""Words after which a subject pronoun is inside the clause they open, not a new line's."""
_NOT_BEFORE_SUBJECT = _CLITICS | _SUBJECT_PRONOUNS | _LINKS


def _subject(token: Token) -> bool:
    """A subject pronoun: by the parser's label, or, where the parser read two lines run together as
    one ("...pour des raisons de qualité vous avez un traitement régulier ?" made "vous" an object
    of a relative clause), by its place: right before its finite verb, past object pronouns and "ne"."""
    if token.dep_.startswith(_SUBJECT_DEPS):
        return True
    doc = token.doc
    if token.i > 0 and (doc[token.i - 1].lower_ in _NOT_BEFORE_SUBJECT or doc[token.i - 1].pos_ == "SCONJ"):
        return False
    for following in doc[token.i + 1 : token.i + 4]:
        if following.lower_ not in _CLITICS:
            return following.pos_ in ("VERB", "AUX") and "Fin" in following.morph.get("VerbForm", [])
    return False


def _opens_question(token: Token) -> bool:
    """An interrogative word, or the "est" of "est-ce que"."""
    if fold(token.text) in _INTERROGATIVES or fold(token.text) == "est ce":
        return True
    following = token.nbor(1) if token.i + 1 < len(token.doc) else None
    return fold(token.text) == "est" and following is not None and fold(following.text) == "ce"


def segments(sent: Span) -> list[list[Token]]:
    """A sentence cut into clauses: after end punctuation, and before a subject pronoun that starts
    a new verb phrase. Recognisers drop punctuation, so one "sentence" is often several lines run
    together; a question or a negation in one of them must not taint the others."""
    out: list[list[Token]] = [[]]
    for token in sent:
        current = out[-1]
        # a subject's own verb may come before it ("avez-vous"), unless the parser took the subject for
        # another word (`_subject`), whose head is then a verb of the line before
        own_verb = token.head.i if token.dep_.startswith(_SUBJECT_DEPS) else -1
        has_verb = any(t.pos_ in ("VERB", "AUX") and t.i != own_verb for t in current)
        # "si vous voulez, je peux...": the condition keeps its main clause, not the clause after that
        subjects = sum(t.dep_.startswith(_SUBJECT_DEPS) for t in current)
        subordinate = bool(current) and ((current[0].dep_ == "mark" and subjects < 2) or current[-1].dep_ == "mark")
        starts_clause = (
            token.text.lower() in _SUBJECT_PRONOUNS
            and _subject(token)
            and has_verb
            and not subordinate
            and len(current) >= _MIN_SEGMENT
            # "est-ce que | vous savez...": the subject after the opener is the question's own
            and not (_opens_question(current[0]) and not any(t.pos_ == "VERB" for t in current))
        )
        # "on enregistre nos échanges, est-ce que ça vous convient ?": what is asked starts at its
        # interrogative word; the statement before it is said as a fact
        starts_question = (
            _opens_question(token) and any(t.pos_ in ("VERB", "AUX") for t in current) and len(current) >= _MIN_SEGMENT
        )
        if starts_clause or starts_question:
            out.append([token])
        else:
            current.append(token)
        if token.text in _CLAUSE_END and len(out[-1]) >= 1:
            out.append([])
    return [seg for seg in out if any(not t.is_punct and not t.is_space for t in seg)]


def spoken(words: Sequence[str]) -> tuple[str, list[int]]:
    """The text the parser reads, without the recogniser's hesitation sounds ("est-ce que vous euh
    avez la CSS"): the tagger takes "euh" for a word and may cut the question around it, so what is
    asked is read as a statement. With, per word kept, its index in the chunk."""
    kept = [i for i, word in enumerate(words) if fold(word) or not word_tokens(word)]
    return " ".join(words[i] for i in kept), kept


def analyse_chunk(words: Sequence[str], doc: Doc) -> ChunkAnalysis:
    """A chunk's parse (of `spoken(words)`) reduced to what evidence search reads: per clause its word
    span, content lemmas, where they are, whether each is blocked, the keys of their word vectors,
    how it is said."""
    _, kept = spoken(words)
    if not kept:
        return ()
    owners = [kept[i] for i in _word_of_char([words[i] for i in kept])]
    out: list[SegmentAnalysis] = []
    for sent in doc.sents:
        for segment in segments(sent):
            tokens = [t for t in segment if not t.is_space and not t.is_punct]
            inside = frozenset(t.i for t in segment)
            first = owners[min(tokens[0].idx, len(owners) - 1)]
            content = [t for t in tokens if t.pos_ in CONTENT_POS and fold(t.text)]
            question = _is_question(segment)
            said = concepts(_text(segment))
            if not question and names_someone(segment):
                said += [c for c in _NAME_CONCEPTS if c not in said]
            out.append(
                SegmentAnalysis(
                    first_word=first,
                    last_word=owners[min(tokens[-1].idx + len(tokens[-1].text) - 1, len(owners) - 1)],
                    lemmas=tuple(fold(t.lemma_) or fold(t.text) for t in content) + tuple(said),
                    positions=tuple(owners[min(t.idx, len(owners) - 1)] for t in content) + (first,) * len(said),
                    blocked=tuple(_blocked(t, inside) for t in content) + (False,) * len(said),
                    denied=tuple(_denied(t, inside) for t in content) + (False,) * len(said),
                    supposed=tuple(_supposed(t, inside) for t in content) + (False,) * len(said),
                    surfaces=tuple(fold(t.text) for t in content) + tuple(said),
                    vector_keys=tuple(t.text if t.has_vector else "" for t in content) + ("",) * len(said),
                    question=question,
                    negated=_is_negated(tokens),
                    reported=_is_reported(tokens),
                    deferred=_is_deferred(tokens),
                    hedged=_is_hedged(tokens),
                    filler=_is_filler(tokens),
                )
            )
    return tuple(out)


def _utterances(
    recording: TimelineRecording, chunk: TimelineChunk, words: Sequence[str], analysis: ChunkAnalysis
) -> list[Utterance]:
    out: list[Utterance] = []
    for segment in analysis:
        vectors = tuple(word_vector(key) for key in segment.vector_keys)
        known = [v for v in vectors if v is not None]
        out.append(
            Utterance(
                recording=recording,
                chunk=chunk,
                first_word=segment.first_word,
                last_word=segment.last_word,
                text=" ".join(words[segment.first_word : segment.last_word + 1]),
                lemmas=segment.lemmas,
                positions=segment.positions,
                blocked=segment.blocked,
                denied=segment.denied,
                supposed=segment.supposed,
                surfaces=segment.surfaces,
                vectors=vectors,
                vector=_unit(np.mean(known, axis=0)) if known else None,
                question=segment.question,
                negated=segment.negated,
                reported=segment.reported,
                deferred=segment.deferred,
                hedged=segment.hedged,
                filler=segment.filler,
            )
        )
    return out


@dataclass(frozen=True)
class ParsedTimeline:
    """Every utterance of a timeline in call order; `turns` groups them by chunk, in order."""

    utterances: tuple[Utterance, ...]
    turns: tuple[tuple[Utterance, ...], ...]
    vocabulary: dict[tuple[str, str], np.ndarray | None]  # every (lemma, surface) said, with its vector
    fresh: dict[str, dict[str, Any]] = field(default_factory=dict)  # analyses made now (chunk_id: JSON), to store
    term_tables: dict[str, dict[tuple[str, str], float]] = field(default_factory=dict)  # evidence search's cache

    def next_turn(self, turn_index: int) -> tuple[Utterance, ...]:
        """The turn after `turn_index` in the same recording, or ()."""
        if turn_index + 1 < len(self.turns) and self.turns[turn_index + 1]:
            here, after = self.turns[turn_index], self.turns[turn_index + 1]
            if here and here[0].recording.recording_index == after[0].recording.recording_index:
                return after
        return ()


def _chunk_words(chunk: TimelineChunk) -> list[str]:
    return [w.text for w in chunk.words] if chunk.words else chunk.text.split()


def parse_timeline(timeline: Timeline) -> ParsedTimeline:
    """The timeline's utterances: from each chunk's stored analysis when it is of this version, the
    other chunks parsed now (one batched spaCy call); `fresh` holds the analyses made now, to store."""
    chunks = [(recording, chunk) for recording in timeline.recordings for chunk in recording.chunks]
    # a chunk of hesitations only has an empty analysis, which is stored all the same
    stored = {chunk.chunk_id: stored_analysis(chunk.analysis) for _, chunk in chunks}
    analyses = {chunk_id: analysis for chunk_id, analysis in stored.items() if analysis is not None}
    missing = [chunk for _, chunk in chunks if chunk.chunk_id not in analyses]
    docs = parse([spoken(_chunk_words(chunk))[0] for chunk in missing])
    fresh = {chunk.chunk_id: analyse_chunk(_chunk_words(chunk), doc) for chunk, doc in zip(missing, docs, strict=True)}
    analyses |= fresh
    turns = tuple(
        tuple(_utterances(recording, chunk, _chunk_words(chunk), analyses[chunk.chunk_id]))
        for recording, chunk in chunks
    )
    utterances = tuple(u for turn in turns for u in turn)
    vocabulary = {
        (lemma, surface): vector
        for u in utterances
        for lemma, surface, vector in zip(u.lemmas, u.surfaces, u.vectors, strict=True)
    }
    return ParsedTimeline(utterances, turns, vocabulary, {k: analysis_json(v) for k, v in fresh.items()})
