"""A point's comment never says a keyword is missing when its step found it.

Auditors write a step's found keywords (`mots_cles_trouves`) and each point's comment separately, and
models contradict themselves: "le mot-clé « conservation » est absent" beside `conservation` in the
found keywords. The found keywords are checked facts (a word in the transcript); a sentence of a
comment that names one of them and says it is missing, not mentioned or not found is wrong, so it is
replaced by a sentence that says the keyword was found.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from domain.audits.matching import normalise

_SENTENCE = re.compile(r"(?<=[.!?;])\s+")
_MISSING = re.compile(
    r"\b(absente?s?|manquante?s?|manque|introuvables?|aucune mention|jamais|"
    r"(?:pas|non|ni) (?:(?:ete|etait|explicitement|clairement) )*(?:mentionnee?s?|citee?s?|trouvee?s?|"
    r"prononcee?s?|evoquee?s?|dite?s?|utilisee?s?|employee?s?|detectee?s?)|"
    r"n (?:apparait|apparaissent|figure|figurent) (?:pas|nulle part|jamais))\b"
)
FOUND_NOTE = "Mot-clé « {keyword} » trouvé dans la transcription."


def _names(sentence: str, keyword: str) -> bool:
    return f" {normalise(keyword)} " in f" {normalise(sentence)} "


def reconcile(comment: str, found_keywords: Sequence[str]) -> str:
    """The comment with every sentence claiming a found keyword missing replaced by the fact."""
    if not comment or not found_keywords:
        return comment
    out: list[str] = []
    for sentence in _SENTENCE.split(comment):
        named = [k for k in found_keywords if normalise(k) and _names(sentence, k)]
        if named and _MISSING.search(normalise(sentence)):
            out += [FOUND_NOTE.format(keyword=k) for k in named if FOUND_NOTE.format(keyword=k) not in out]
        else:
            out.append(sentence)
    return " ".join(out)
