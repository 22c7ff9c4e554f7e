"""Quote and term matching tolerant to speech-recognition noise, shared by gating and the heuristic auditor.

Text is compared as normalised tokens: lower case, accents stripped (NFKD), apostrophes, hyphens and
every other non-alphanumeric character split words (`l'enregistrement` -> `l enregistrement`), and
dotted acronyms are glued back (`O.R.I.A.S.` -> `orias`). Hesitations (`euh`, `hum`...) are ignored
on both sides, since recognisers insert and drop them freely.

Two tokens *match tolerantly* when they are equal, or when they are long enough for a small edit
to be recognition noise rather than another word: Levenshtein distance <= 1 from 5 characters,
<= 2 from 9 characters (the shorter of the two decides). Short words must be exact: "les"/"des" or
"mon"/"non" differ by one letter and mean different things; so must numbers ("15000"/"18000").

A quote is located when it matches a contiguous run of a chunk's tokens with at most one token
error (a missing, extra or non-matching token) per `TOKENS_PER_ERROR` tokens of the quote, so a
quote of fewer than 6 tokens must match token for token (tolerant matches allowed). A number or a
negation (`SIGNIFICANT_WORDS`) is never such an error: dropping "pas" or changing an amount turns a
quote into another fact.

Numbers are compared as digits on both sides: a run of number words becomes one token
(`quatorze` -> `14`, `cent vingt` -> `120`, parsed by `text2num`), and digit groups split by a
thousands space are joined (`15 000` -> `15000`). A lone "un" / "une" stays a word (an article).
"""

from __future__ import annotations

import bisect
import enum
import functools
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Levenshtein
from text_to_num import text2num

HESITATIONS: frozenset[str] = frozenset({"euh", "heu", "euhm", "hum", "hm", "hmm", "mmh", "mh"})
"""Filler sounds recognisers transcribe inconsistently; never evidence of anything."""

TOLERANCE_BY_LENGTH: tuple[tuple[int, int], ...] = ((9, 2), (5, 1))
"""(minimum token length, Levenshtein distance tolerated), longest first; shorter tokens must be equal."""

TOKENS_PER_ERROR = 6
"""A located quote may contain one token error (inserted, missing or different word) per 6 tokens."""

SIGNIFICANT_WORDS: frozenset[str] = frozenset({"pas", "non", "jamais", "rien", "aucun", "aucune", "ni"})
"""Negations that may not be missing, extra or different in a located quote ("ne", often not
pronounced, may); tokens with a digit neither."""

_SPLIT = re.compile(r"[\s'\u2019\u2018\u00b4`\-\u2010\u2011\u2013\u2014/]+")
_ACRONYM = re.compile(r"^(?:[a-z0-9]\.){2,}[a-z0-9]?\.?$")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_EDGE_PUNCTUATION = ',;:!?()[]"\u00ab\u00bb'


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def word_tokens(word: str) -> list[str]:
    """The normalised tokens of one transcript word, hesitations included (`L'ORIAS,` -> `l`, `orias`)."""
    tokens: list[str] = []
    for part in _SPLIT.split(_fold(word)):
        bare = part.strip(_EDGE_PUNCTUATION)
        glued = bare.replace(".", "") if _ACRONYM.match(bare) else part
        tokens += [t for t in _NON_ALNUM.split(glued) if t]
    return tokens


NUMBER_WORDS: frozenset[str] = frozenset(
    [
        "zero",
        "un",
        "une",
        "deux",
        "trois",
        "quatre",
        "cinq",
        "six",
        "sept",
        "huit",
        "neuf",
        "dix",
        "onze",
        "douze",
        "treize",
        "quatorze",
        "quinze",
        "seize",
        "vingt",
        "vingts",
        "trente",
        "quarante",
        "cinquante",
        "soixante",
        "cent",
        "cents",
        "mille",
        "million",
        "millions",
        "milliard",
        "milliards",
    ]
)
_ARTICLES = frozenset({"un", "une"})
_DIGIT_GROUP = 3
_FUZZY_NUMBER_MIN_CHARS = 7


@functools.lru_cache(maxsize=16384)
def number_word(token: str) -> str | None:
    """The number word a token is, allowing the ASR tolerance of long words (`quatorz` -> `quatorze`)."""
    if token in NUMBER_WORDS:
        return token
    if len(token) < _FUZZY_NUMBER_MIN_CHARS:  # `ville` is one letter from `mille`, `doute` from `douze`
        return None
    return next((word for word in NUMBER_WORDS if token_distance(token, word) is not None), None)


def _number_run(tokens: Sequence[str], start: int) -> int:
    """End (exclusive) of the run of number words starting at `start`; "et" only inside ("vingt et un")."""
    end = start
    while end < len(tokens) and (
        number_word(tokens[end]) is not None
        or (tokens[end] == "et" and end > start and end + 1 < len(tokens) and number_word(tokens[end + 1]))
    ):
        end += 1
    return end


def _as_digits(run: Sequence[str]) -> list[str]:
    """One number token for a run text2num parses whole; else each word on its own ("deux trois")."""
    run = [number_word(word) or word for word in run]
    try:
        return [str(text2num(" ".join(run), "fr"))]
    except ValueError:
        out: list[str] = []
        for word in run:
            try:
                out.append(str(text2num(word, "fr")))
            except ValueError:
                out.append(word)
        return out


def numbers_as_digits(tokens: Sequence[str], owners: Sequence[int]) -> tuple[list[str], list[int]]:
    """Tokens with number words and split digit groups normalised; `owners` follow (first word of a run)."""
    out: list[str] = []
    out_owners: list[int] = []
    i = 0
    while i < len(tokens):
        end = _number_run(tokens, i)
        if end > i and not (end - i == 1 and tokens[i] in _ARTICLES):
            for token in _as_digits(tokens[i:end]):
                out.append(token)
                out_owners.append(owners[i])
            i = end
            continue
        token = tokens[i]
        if (
            out
            and token.isdigit()
            and len(token) == _DIGIT_GROUP
            and out[-1].isdigit()
            and len(out[-1]) <= _DIGIT_GROUP
            and owners[i] != out_owners[-1]
        ):
            out[-1] += token
        else:
            out.append(token)
            out_owners.append(owners[i])
        i += 1
    return out, out_owners


def tokenise(text: str) -> list[str]:
    """The normalised tokens of a text, hesitations dropped, numbers as digits."""
    tokens = [t for word in text.split() for t in word_tokens(word) if t not in HESITATIONS]
    return numbers_as_digits(tokens, list(range(len(tokens))))[0]


def normalise(text: str) -> str:
    """Normalised tokens joined by single spaces: what minimum lengths and comparisons are measured on."""
    return " ".join(tokenise(text))


def tolerance(token: str) -> int:
    for min_length, distance in TOLERANCE_BY_LENGTH:
        if len(token) >= min_length:
            return distance
    return 0


def levenshtein(a: str, b: str, limit: int) -> int:
    """Edit distance of `a` and `b`, or `limit + 1` when it exceeds `limit` (rapidfuzz, in C)."""
    return int(Levenshtein.distance(a, b, score_cutoff=limit))


_DIGIT = re.compile(r"\d")


def _has_digit(token: str) -> bool:
    return _DIGIT.search(token) is not None


def _is_significant(token: str) -> bool:
    return token in SIGNIFICANT_WORDS or _has_digit(token)


@functools.lru_cache(maxsize=65536)
def token_distance(a: str, b: str) -> int | None:
    """0 for equal tokens, the edit distance when within tolerance, None when they do not match."""
    if a == b:
        return 0
    if _has_digit(a) or _has_digit(b):
        return None
    allowed = tolerance(min(a, b, key=len))
    if allowed == 0:
        return None
    distance = levenshtein(a, b, allowed)
    return distance if distance <= allowed else None


class MatchKind(enum.StrEnum):
    EXACT = "exact"  # every token equal after normalisation
    TOLERANT = "tolerant"  # within the ASR tolerance: near tokens or a few token errors


@dataclass(frozen=True)
class IndexedTokens:
    """A run of words as normalised tokens, each knowing the word it came from (hesitations dropped)."""

    tokens: tuple[str, ...]
    word_index: tuple[int, ...]

    @classmethod
    def of_words(cls, words: Sequence[str]) -> IndexedTokens:
        tokens: list[str] = []
        index: list[int] = []
        for i, word in enumerate(words):
            for token in word_tokens(word):
                if token not in HESITATIONS:
                    tokens.append(token)
                    index.append(i)
        tokens, index = numbers_as_digits(tokens, index)
        return cls(tuple(tokens), tuple(index))


@dataclass(frozen=True)
class QuoteMatch:
    first_word: int  # index of the first matched word in the searched words
    last_word: int  # inclusive
    similarity: float  # 1.0 exact; token-level similarity of the alignment otherwise
    kind: MatchKind
    errors: int  # token errors spent (inserted, missing or non-matching tokens)


def allowed_errors(quote_token_count: int) -> int:
    return quote_token_count // TOKENS_PER_ERROR


def locate_quote(
    quote_tokens: Sequence[str], words: Sequence[str] | IndexedTokens, starts_before: int | None = None
) -> QuoteMatch | None:
    """Where a quote (from `tokenise`) occurs in a run of words, within the tolerance above; None if nowhere.

    The exact occurrence is preferred; otherwise the alignment with the fewest errors, earliest first.
    With `starts_before`, only runs starting at a word before that index count (a quote may run on
    past it): a better copy of the quote further on does not hide the one looked for.
    """
    quote = tuple(quote_tokens)
    if not quote:
        return None
    indexed = words if isinstance(words, IndexedTokens) else IndexedTokens.of_words(words)
    tokens = indexed.tokens
    m = len(quote)
    starts = len(tokens) if starts_before is None else bisect.bisect_left(indexed.word_index, starts_before)
    for start in range(min(starts, len(tokens) - m + 1)):
        if tokens[start : start + m] == quote:
            return QuoteMatch(indexed.word_index[start], indexed.word_index[start + m - 1], 1.0, MatchKind.EXACT, 0)
    return _align(quote, indexed, starts)


_FATAL = 1_000_000
"""Errors of a step no budget covers: a number or a negation missing, extra or different."""


def _error(token: str) -> int:
    return _FATAL if _is_significant(token) else 1


def _substitution(q: str, t: str) -> tuple[int, float]:
    """(errors, similarity penalty) of aligning quote token `q` with transcript token `t`."""
    distance = token_distance(q, t)
    if distance is None:
        return max(_error(q), _error(t)), 0.0
    return 0, distance / max(len(q), len(t))


def _gap(token: str) -> tuple[int, float]:
    """(errors, similarity penalty) of a token of the quote missing from the run, or an extra one in it."""
    return _error(token), 0.0


def _plus(cell: tuple[int, float], step: tuple[int, float]) -> tuple[int, float]:
    return cell[0] + step[0], cell[1] + step[1]


def _align(quote: tuple[str, ...], indexed: IndexedTokens, starts: int) -> QuoteMatch | None:
    """Semi-global alignment: the whole quote against any contiguous run of tokens starting before `starts`.

    Costs: 1 error per inserted, missing or non-matching token (`_FATAL` for a significant one); a
    tolerant token match costs no error but lowers similarity by its relative edit distance.
    """
    tokens = indexed.tokens
    m, n = len(quote), len(tokens)
    budget = allowed_errors(m)
    if n == 0 or n < m - budget or starts == 0:
        return None
    # cost[i][j]: (errors, penalty) of aligning quote[:i] with a run of tokens ending at j; a run may
    # start at any token before `starts`.
    cost: list[list[tuple[int, float]]] = [[(0 if j < starts else _FATAL, 0.0) for j in range(n + 1)]]
    for i in range(1, m + 1):
        row: list[tuple[int, float]] = [_plus(cost[i - 1][0], _gap(quote[i - 1]))]
        for j in range(1, n + 1):
            diagonal = _plus(cost[i - 1][j - 1], _substitution(quote[i - 1], tokens[j - 1]))
            row.append(min(diagonal, _plus(cost[i - 1][j], _gap(quote[i - 1])), _plus(row[j - 1], _gap(tokens[j - 1]))))
        cost.append(row)
    end = min(range(1, n + 1), key=lambda j: (cost[m][j], j))
    errors, penalty = cost[m][end]
    if errors > budget:
        return None
    start = _trace_start(quote, tokens, cost, end)
    similarity = max(0.0, 1.0 - (errors + penalty) / max(m, end - start))
    kind = MatchKind.EXACT if errors == 0 and penalty == 0 else MatchKind.TOLERANT
    return QuoteMatch(indexed.word_index[start], indexed.word_index[end - 1], round(similarity, 4), kind, errors)


def _trace_start(quote: tuple[str, ...], tokens: tuple[str, ...], cost: list[list[tuple[int, float]]], end: int) -> int:
    """Index of the first token of the run that the best alignment ending at `end` covers.

    Among equally good alignments, a quote token left out is preferred to one paired with a word it
    does not match, so the run starts at a word of the quote (a wrong first word of the quote must
    not pull the word said before it into the evidence and its start time).
    """
    i, j = len(quote), end
    while i > 0 and j > 0:
        here = cost[i][j]
        substitution = _substitution(quote[i - 1], tokens[j - 1])
        diagonal = here == _plus(cost[i - 1][j - 1], substitution)
        if diagonal and substitution[0] == 0:
            i, j = i - 1, j - 1
        elif here == _plus(cost[i - 1][j], _gap(quote[i - 1])):
            i -= 1
        elif here == _plus(cost[i][j - 1], _gap(tokens[j - 1])):
            j -= 1
        else:
            assert diagonal  # the cell was computed from one of the three moves
            i, j = i - 1, j - 1
    return j


@dataclass(frozen=True)
class PhraseHit:
    first_token: int
    last_token: int  # inclusive
    distance: int  # total edit distance tolerated (0: exact)


def find_phrase(phrase: Sequence[str], indexed: IndexedTokens) -> PhraseHit | None:
    """First occurrence of a short phrase (tokens in a row, each matching tolerantly), closest first."""
    n = len(phrase)
    if n == 0:
        return None
    best: PhraseHit | None = None
    for start in range(len(indexed.tokens) - n + 1):
        total = 0
        for offset, token in enumerate(phrase):
            distance = token_distance(token, indexed.tokens[start + offset])
            if distance is None:
                break
            total += distance
        else:
            if total == 0:
                return PhraseHit(start, start + n - 1, 0)
            if best is None or total < best.distance:
                best = PhraseHit(start, start + n - 1, total)
    return best
