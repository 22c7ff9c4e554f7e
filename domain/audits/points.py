"""What a control point asks for, read from its text: its terms, its kind, whose words count.

Scorecard points are short nominalised outcomes ("Compagnie actuelle identifiée", "Numéro ORIAS
communiqué"). Read with the French pipeline, a point gives:

- **terms**: its content lemmas (the act verbs that only say *how* a point is met, "mentionner",
  "vérifier", "identifier"..., are not terms), then the lemmas of the step prompt's bullet line
  that says the same thing, then the step keywords closest to it; each weighed down by how many
  steps of the scorecard use it (a word every step shares proves nothing about one of them);
- **kind**: `ask` when the agent meets it by asking or checking (a question is evidence: "Question
  posée sur...", "...identifiée", "...vérifiée"), `inform` when by telling (a question is not:
  "...mentionné", "...communiqué", "...expliquées");
- **conditional** when it applies only in some calls ("si oui", "en cas de refus", "si pertinent"):
  without evidence such a point is NON_APPLICABLE, not ABSENT;
- **assessable**: points that judge manner rather than content ("Clarté et pédagogie", "Rythme
  approprié", "Absence de pression") cannot be decided from words alone; the heuristic auditor says
  so openly (NON_APPLICABLE, rule `not_assessable_offline`) and the audit is flagged for review.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from domain.audits.conditions import Condition, condition_clause, read_condition
from domain.audits.scorecard import ScorecardSpec, SpeakerRule, StepSpec
from domain.language.lexicon import SPECIFICITY_MIN, specificity, synonyms
from domain.language.pipeline import parse
from domain.language.utterances import CONTENT_POS, fold

INFORM_LEMMAS: frozenset[str] = frozenset(
    (
        "mentionner",
        "mentionne",
        "communiquer",
        "communique",
        "annoncer",
        "annonce",
        "expliquer",
        "explique",
        "explication",
        "presenter",
        "presente",
        "preciser",
        "precise",
        "detailler",
        "detaille",
        "informer",
        "informe",
        "rappeler",
        "nommer",
        "decliner",
        "donner",
        "proposer",
        "propose",
        "evoquer",
        "evoque",
        "indiquer",
        "indique",
        "traiter",
        "traite",
    )
)
"""Act lemmas of points met by telling: a question from the agent does not meet them."""
ASK_LEMMAS: frozenset[str] = frozenset(
    (
        "question",
        "questionner",
        "questionne",
        "poser",
        "pose",
        "demander",
        "identifier",
        "identifie",
        "verifier",
        "verifie",
        "confirmer",
        "confirme",
        "valider",
        "valide",
        "relever",
        "releve",
        "explorer",
        "explore",
        "evaluer",
        "evalue",
        "discuter",
        "discute",
        "etablir",
        "etabli",
        "recueillir",
        "interroger",
    )
)
"""Act lemmas of points met by asking or checking; a point naming a fact about the client with no act
verb ("Statut du renouvellement") is one too."""
ACT_LEMMAS: frozenset[str] = (
    ASK_LEMMAS
    | INFORM_LEMMAS
    | frozenset(
        (
            "noter",
            "note",
            "aborder",
            "aborde",
            "faire",
            "fait",
            "saluer",
            "tracer",
            "trace",
            "documenter",
            "documente",
            "respecter",
            "respecte",
            "assurer",
            "assure",
            "verification",
            "mention",
            "presentation",
            "explicite",
            "explicitement",
            "approprie",
            "eventuel",
            "eventuellement",
            "principal",
            "applicable",
            "pertinent",
            "oui",
            "si",
            "cas",
            "echeant",
            "client",
            "cliente",
            "etc",
            "lors",
            "debut",
            "fin",
            "uniquement",
            "present",
            "realiser",
            "obtenir",
            "effectuer",
        )
    )
)
"""Folded lemmas that say how a point is met, not what it is about."""
QUALITATIVE_LEMMAS: frozenset[str] = frozenset(
    [
        "clarte",
        "pedagogie",
        "adaptation",
        "rythme",
        "ecoute",
        "professionnalisme",
        "pression",
        "courtoisie",
        "politesse",
        "empathie",
        "attitude",
        "ton",
        "adequation",
        "coherence",
        "conformite",
        "particularite",
        "incident",
        "approprier",  # "Réaction appropriée", "Traitement approprié": whether it was fitting is a judgement
        "approprie",
    ]
)
_CONDITIONAL = re.compile(r"\b(le cas echeant|s il y a lieu)\b")
_NEGATIVE = re.compile(r"\b(pas|aucun|aucune|absence|sans|non)\b")
_BULLET = re.compile(r"^\s*(?:[-•*]|\d+[.)])\s*(.+?)\s*$", re.MULTILINE)

OWN_WEIGHT = 1.0
BULLET_WEIGHT = 0.6
KEYWORD_WEIGHT = 0.5
KEYWORD_MIN_SIMILARITY = 0.45


class PointKind(enum.StrEnum):
    ASK = "ask"
    INFORM = "inform"


@dataclass(frozen=True)
class QueryTerm:
    lemma: str  # folded
    weight: float
    vector: np.ndarray | None
    own: bool  # from the point's own text


@dataclass(frozen=True)
class PointQuery:
    step_position: int
    index: int  # 1-based
    text: str
    terms: tuple[QueryTerm, ...]
    vector: np.ndarray | None
    kind: PointKind
    conditional: bool
    condition: Condition | None  # what the call must say for the point to apply (`domain.audits.conditions`)
    assessable: bool
    negative: bool  # the point itself is about an absence ("Pas de conflit...", "Aucune pression")
    speaker: SpeakerRule

    @property
    def own_weight(self) -> float:
        return sum(t.weight for t in self.terms if t.own)


@dataclass(frozen=True)
class _Parsed:
    lemmas: tuple[str, ...]
    vectors: tuple[np.ndarray | None, ...]
    spelled: tuple[str, ...] = ()  # the lemmas as written (accents kept), for word frequencies

    @property
    def vector(self) -> np.ndarray | None:
        known = [v for v in self.vectors if v is not None]
        if not known:
            return None
        mean = np.mean(known, axis=0)
        norm = float(np.linalg.norm(mean))
        return mean / norm if norm > 0 else None


def _unit(vector: np.ndarray) -> np.ndarray | None:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else None


def _act_word(lemma: str, surface: str) -> bool:
    """Whether a word only says how a point is met. The lemmatiser reads some participles as words of
    their own ("questionnée" -> "questionnee", "appropriée" -> "approprier"): their written form
    without its agreement endings ("-e", "-s") is looked up too."""
    return bool({lemma, surface, surface.removesuffix("s").removesuffix("e")} & ACT_LEMMAS)


@functools.lru_cache(maxsize=4096)
def _content(text: str) -> _Parsed:
    """Content lemmas of a scorecard text (act words dropped) and their vectors."""
    [doc] = parse([text])
    lemmas: list[str] = []
    vectors: list[np.ndarray | None] = []
    spelled: list[str] = []
    for token in doc:
        lemma = fold(token.lemma_) or fold(token.text)
        if token.pos_ not in CONTENT_POS and not token.like_num and not token.text.isupper():
            continue
        for piece in lemma.split():
            if _act_word(piece, fold(token.text)) or (len(piece) < 3 and not piece.isdigit()):
                continue
            lemmas.append(piece)
            vectors.append(_unit(np.asarray(token.vector)) if token.has_vector else None)
            spelled.append(token.lemma_.lower() if len(lemma.split()) == 1 else piece)
    return _Parsed(tuple(lemmas), tuple(vectors), tuple(spelled))


@functools.lru_cache(maxsize=4096)
def _all_lemmas(text: str) -> frozenset[str]:
    [doc] = parse([text])
    return frozenset(piece for token in doc for piece in (fold(token.lemma_) or fold(token.text)).split())


def _cosine(a: np.ndarray | None, b: np.ndarray | None) -> float:
    return float(a @ b) if a is not None and b is not None else 0.0


def prompt_bullets(step: StepSpec) -> list[str]:
    return [m.group(1) for m in _BULLET.finditer(step.prompt)]


def _aligned_bullet(point: str, index: int, step: StepSpec) -> str | None:
    """The step prompt's bullet that says the same as the point: the one sharing most of the point's
    own words ("Question MGO posée" -> "MGO (Maintien Gratuit Obligatoire)", wherever it stands), else
    by position when the counts match, else the most similar bullet, if similar enough."""
    bullets = prompt_bullets(step)
    if not bullets:
        return None
    own = _content(point)
    shared = [(len(set(own.lemmas) & set(_content(b).lemmas)), -i, b) for i, b in enumerate(bullets)]
    most, _, best = max(shared)
    if most:
        return best
    if len(bullets) == len(step.control_points):
        return bullets[index]
    scored = [(_cosine(own.vector, _content(b).vector), b) for b in bullets]
    similarity, best = max(scored)
    return best if similarity >= KEYWORD_MIN_SIMILARITY else None


def _keywords_for(point_index: int, step: StepSpec) -> list[str]:
    """Step keywords closer to this point than to any other point of the step."""
    points = [_content(p) for p in step.control_points]
    out = []
    for keyword in step.keywords:
        kw = _content(keyword)
        if not kw.lemmas:
            continue
        similarities = [
            max(
                [_cosine(kw.vector, p.vector)]
                + [1.0 for lemma in kw.lemmas if lemma in p.lemmas]
            )
            for p in points
        ]  # fmt: skip
        best = max(similarities)
        if best >= KEYWORD_MIN_SIMILARITY and similarities[point_index] == best:
            out.append(keyword)
    return out


@functools.lru_cache(maxsize=32)
def _spread(scorecard: ScorecardSpec) -> dict[str, int]:
    """How many control points of the scorecard use each lemma (in their text or prompt bullet): a
    word two sibling points share ("enregistrement" to announce it and to refuse it) tells them apart
    no better than a word every step uses."""
    counts: dict[str, int] = {}
    for step in scorecard.steps:
        for index, point in enumerate(step.control_points):
            bullet = _aligned_bullet(point, index, step)
            vocabulary = set(_content(point).lemmas) | (set(_content(bullet).lemmas) if bullet else set())
            for lemma in vocabulary:
                counts[lemma] = counts.get(lemma, 0) + 1
    return counts


@functools.lru_cache(maxsize=256)
def build_queries(scorecard: ScorecardSpec, step: StepSpec) -> tuple[PointQuery, ...]:
    spread = _spread(scorecard)
    definitions = acronyms(f"{scorecard.system_prompt}\n{step.prompt}")
    return tuple(_query(step, i, point, spread, definitions) for i, point in enumerate(step.control_points))


_DEFINITION = re.compile(r"\b([A-Z]{2,6})\s*\(([^()]{5,80})\)")


def acronyms(text: str) -> dict[str, str]:
    """Acronyms the scorecard defines ("MGO (Maintien Gratuit Obligatoire)"), folded, with their
    expansion: a definition counts when its words start with the acronym's letters in order."""
    out = {}
    for acronym, expansion in _DEFINITION.findall(text):
        initials = "".join(w[0] for w in fold(expansion).split() if len(w) > 2)
        if initials.startswith(fold(acronym)):
            out[fold(acronym)] = expansion
    return out


def _expand_acronyms(terms: dict[str, QueryTerm], definitions: dict[str, str]) -> None:
    """An acronym people rarely say aloud is met by its expansion's words as well: they share its
    weight as the point's own terms, the acronym itself stays a term that meets the point alone."""
    for lemma, term in list(terms.items()):
        expansion = definitions.get(lemma) if term.own else None
        if expansion is None:
            continue
        parsed = _content(expansion)
        vectors = {w: v for w, v in zip(parsed.lemmas, parsed.vectors, strict=True) if w not in terms}
        for word, vector in vectors.items():
            terms[word] = QueryTerm(word, term.weight / len(vectors), vector, True)
        terms[lemma] = replace(term, own=False)


def _query(step: StepSpec, index: int, point: str, spread: dict[str, int], definitions: dict[str, str]) -> PointQuery:
    terms: dict[str, QueryTerm] = {}

    def add(text: str, weight: float, own: bool) -> None:
        parsed = _content(text)
        for lemma, vector, spelled in zip(parsed.lemmas, parsed.vectors, parsed.spelled, strict=True):
            if lemma not in terms:
                weighed = weight * specificity(spelled) / max(1, spread.get(lemma, 1))
                terms[lemma] = QueryTerm(lemma, weighed, vector, own)

    main, alternatives = split_alternatives(point)
    add(main, OWN_WEIGHT, True)
    _merge_alternatives(terms)
    _expand_acronyms(terms, definitions)
    for alternative in alternatives:
        add(alternative, OWN_WEIGHT, False)
    bullet = _aligned_bullet(point, index, step)
    if bullet:
        add(bullet, BULLET_WEIGHT, False)
    for keyword in _keywords_for(index, step):
        add(keyword, KEYWORD_WEIGHT, False)
    own = _content(point)
    folded = fold(point)
    lemmas = _all_lemmas(point)
    qualitative = bool(lemmas & QUALITATIVE_LEMMAS)
    kind = _kind(lemmas, _all_lemmas(bullet) if bullet else frozenset())
    clause = condition_clause(point)
    return PointQuery(
        step_position=step.position,
        index=index + 1,
        text=point,
        terms=tuple(sorted(terms.values(), key=lambda t: -t.weight)),
        vector=own.vector,
        kind=kind,
        conditional=clause is not None or bool(_CONDITIONAL.search(folded)),
        condition=read_condition(clause[1], _condition_key) if clause else None,
        assessable=not qualitative and bool(own.lemmas),
        negative=bool(_NEGATIVE.search(folded)),
        speaker=step.speaker_rule(index),
    )


def _condition_key(text: str) -> str | None:
    """A condition's rarest content word, the one the call must say ("contrat responsable" ->
    "responsable"); None for words that only say "if it applies" ("pertinent", "oui", "s'il y a lieu",
    "si besoin"): act words and the commonest words of French."""
    parsed = _content(text)
    words = [(specificity(spelled), lemma) for lemma, spelled in zip(parsed.lemmas, parsed.spelled, strict=True)]
    weight, key = max(words, default=(0.0, ""))
    return key if weight > SPECIFICITY_MIN else None


_PARENTHESES = re.compile(r"\(([^)]*)\)|«([^»]*)»|(?<!\w)'([^']{3,})'(?!\w)")


def split_alternatives(point: str) -> tuple[str, list[str]]:
    """A point's main text and the examples or alternatives it lists in parentheses or quotes
    ("Signature électronique (code SMS, lien ou bulletin)", "« couvert par », « pas de mutuelle »").
    Any one of the alternatives may meet the point, so they help without being all required."""
    alternatives = []
    for match in _PARENTHESES.finditer(point):
        inner = next(g for g in match.groups() if g is not None)
        alternatives += [a.strip() for a in re.split(r",|/|\bou\b|\bet\b|\+", inner) if a.strip()]
    main = _PARENTHESES.sub(" ", point).strip()
    return (main if _content(main).lemmas else point), alternatives


def _same_thing(a: str, b: str) -> bool:
    from domain.audits.heuristic import family

    return family(a, b) or synonyms(a, b)


def _merge_alternatives(terms: dict[str, QueryTerm]) -> None:
    """A point listing alternatives ("le conseiller ou la conseillère", "mutuelle ... complémentaire")
    names one thing: keep its heaviest word, so the alternative not said does not count as missing."""
    for lemma in sorted(terms, key=lambda k: -terms[k].weight):
        if lemma in terms:
            for other in [o for o in terms if o != lemma and _same_thing(lemma, o)]:
                del terms[other]


def _kind(point_lemmas: frozenset[str], bullet_lemmas: frozenset[str]) -> PointKind:
    """By the point's act verb, else its prompt bullet's; a bare fact about the client is asked for."""
    for lemmas in (point_lemmas, bullet_lemmas):
        if lemmas & ASK_LEMMAS:
            return PointKind.ASK
        if lemmas & INFORM_LEMMAS:
            return PointKind.INFORM
    return PointKind.ASK


def words_of(queries: Sequence[PointQuery]) -> set[str]:
    return {t.lemma for q in queries for t in q.terms}
