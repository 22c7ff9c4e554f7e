"""A conditional control point's condition, read from its text and looked for in the call.

"Explication 100% Santé si responsable" asks for an explanation only in calls where the contract is
responsible. The condition is the clause after the marker ("si", "en cas de"...), read outside the
point's parentheses and quotes (an example phrase "« si vous ne le souhaitez pas »" is no condition):
clauses joined by "+" / "et" must all hold, alternatives joined by "/" / "ou" need one, and each atom
carries its own negation ("si non responsable", "si pas de devis"). An atom is looked for by its
rarest content word (`key`): "responsable", "indépendant", "css".

The call tells an atom when either speaker states its word as a fact (not in a question, hearsay, a
deferral, a hypothesis or a "si" clause): denied on the dependency parse ("non responsable", "je n'ai
pas la CSS") it does not hold, else it holds; a question about it answered by a bare "oui" / "non" in
the next turn tells it too. Statements both ways leave it unknown. What the call does not tell is
`UNKNOWN`, and the auditor keeps its verdict without evidence (not applicable), with a low confidence.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from domain.language.utterances import ParsedTimeline, Utterance, fold

_MARKER = re.compile(
    r"(?:^|\s)(?:(?:si|s'il|s\u2019il|en cas d(?:e|u|es)?|au cas où)(?=\s|$)|en cas d['\u2019])", re.IGNORECASE
)
_ASIDES = re.compile(r"\([^)]*\)|«[^»]*»|(?<!\w)'[^']{3,}'(?!\w)|\"[^\"]*\"")
_ALL = re.compile(r"\s*(?:\+|\bet\b|&)\s*", re.IGNORECASE)
_ANY = re.compile(r"\s*(?:/|\bou\b)\s*", re.IGNORECASE)
_NEGATION = re.compile(r"^(?:non|pas(?: de| d['\u2019])?|aucune?|sans|ni|ne|n['\u2019])\s*", re.IGNORECASE)
_YES = frozenset({"oui", "ouais", "si", "absolument", "exactement", "effectivement"})
_NO = frozenset({"non", "pas", "aucunement", "jamais"})


class Stance(enum.StrEnum):
    MET = "met"
    NOT_MET = "not_met"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Atom:
    key: str  # folded lemma the call must say
    negated: bool  # the condition is that it does not hold ("si non responsable")


@dataclass(frozen=True)
class Condition:
    clauses: tuple[tuple[Atom, ...], ...]  # all clauses must hold; one atom of a clause suffices


SameWord = Callable[[str, str, str], bool]
"""(key, spoken lemma, spoken surface) -> whether the spoken word is the key."""


def condition_clause(point: str) -> tuple[str, str] | None:
    """(the point without its condition, the condition's clause), or None when the point has no
    condition outside its parentheses and quotes."""
    text = _ASIDES.sub(" ", point)
    match = _MARKER.search(text)
    if match is None:
        return None
    return text[: match.start()].strip(), text[match.end() :].strip()


def read_condition(clause: str, key_of: Callable[[str], str | None]) -> Condition | None:
    """The condition a clause states, each atom looked up by `key_of` (its rarest content word, or None
    for words that only say "if it applies": "pertinent", "applicable", "oui"). None when an atom has
    no key: a condition the call cannot tell."""
    clauses: list[tuple[Atom, ...]] = []
    for part in _ALL.split(clause):
        atoms = []
        for alternative in _ANY.split(part):
            words = alternative.strip()
            if not words:
                continue
            negated = bool(_NEGATION.match(words))
            key = key_of(_NEGATION.sub("", words, count=1)) if negated else key_of(words)
            if key is None:
                return None
            atoms.append(Atom(key, negated))
        if atoms:
            clauses.append(tuple(atoms))
    return Condition(tuple(clauses)) if clauses else None


def _answer(reply: Sequence[Utterance]) -> bool | None:
    """A reply that opens with a bare yes (True) or no (False)."""
    if not reply:
        return None
    words = fold(reply[0].text).split()
    if not words:
        return None
    return True if words[0] in _YES else False if words[0] in _NO else None


def _said(key: str, parsed: ParsedTimeline, same_word: SameWord) -> tuple[int, int]:
    """(times the call states the key holds, times it states it does not)."""
    holds = denied = 0
    for turn_index, turn in enumerate(parsed.turns):
        for utterance in turn:
            words = zip(utterance.lemmas, utterance.surfaces, utterance.denied, utterance.supposed, strict=True)
            said = [no for lemma, surface, no, supposed in words if not supposed and same_word(key, lemma, surface)]
            if not said or utterance.reported or utterance.deferred or utterance.hedged:
                continue
            if utterance.question:
                reply = parsed.next_turn(turn_index) if utterance is turn[-1] and not any(said) else ()
                answer = _answer(reply) if reply and reply[0].role != utterance.role else None
                holds += answer is True
                denied += answer is False
            elif any(said):
                denied += 1
            else:
                holds += 1
    return holds, denied


def _atom(atom: Atom, parsed: ParsedTimeline, same_word: SameWord) -> Stance:
    holds, denied = _said(atom.key, parsed, same_word)
    if bool(holds) == bool(denied):
        return Stance.UNKNOWN
    return Stance.MET if bool(holds) != atom.negated else Stance.NOT_MET


def stance(condition: Condition, parsed: ParsedTimeline, same_word: SameWord) -> Stance:
    """Whether the call says the condition holds, does not hold, or does not tell."""
    results = []
    for clause in condition.clauses:
        atoms = [_atom(atom, parsed, same_word) for atom in clause]
        if Stance.MET in atoms:
            results.append(Stance.MET)
        elif all(a is Stance.NOT_MET for a in atoms):
            results.append(Stance.NOT_MET)
        else:
            results.append(Stance.UNKNOWN)
    if Stance.NOT_MET in results:
        return Stance.NOT_MET
    return Stance.MET if all(r is Stance.MET for r in results) else Stance.UNKNOWN
