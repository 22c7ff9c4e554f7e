"""Which diarised speaker of a recording is the agent and which the client.

Diarisation labels (`speaker_0`, `speaker_1`, ...) say who spoke together, never who is who:
`speaker_0` is whoever the provider heard first. Roles are inferred from what each speaker says,
as evidence summed into an "agent-likeness" score per speaker:

- a self-introduction early in the call ("je m'appelle", "X à l'appareil", "de la part de", ...),
  the fiche's advisor name (fuzzy: ASR misspells names) and the firm's name, strongest cues;
- an inbound call answered with a company greeting; a bare "allô ?" answering an outbound call;
- the agent's vocabulary ("je vous propose", "cet appel est enregistré") vs the client's ("ma mutuelle");
- who asks the questions, who addresses the other ("vous"), who talks more: weak, relative cues.

The mapping's confidence grows with the score margin between the agent and the client; below a
minimum margin every speaker stays `unknown` (an audit then accepts either speaker's words).
"""

from __future__ import annotations

import dataclasses
import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from rapidfuzz import fuzz

from domain.audits.timeline import Role, TimelineRecording

Direction = Literal["in", "out"]

MIN_MARGIN = 1.0  # score margin under which nobody is named: a coin toss is not a role
SINGLE_SPEAKER_MIN = 3.0  # a lone speaker is named only on a strong cue (an introduction, the advisor's name)
EARLY_TURNS = 3  # a speaker's first turns, where introductions happen
NAME_MATCH = 85  # rapidfuzz ratio for a name or firm token said by ASR
_VOCATIVE = {"monsieur", "madame", "mademoiselle", "m", "mme"}

# Introductions and what only the caller of a sales call says (a voicemail left, asking for the client).
_FIRM_WORDS = r"(?:courtage|courtier|assurances?|cabinet|conseil)"
_SELF_INTRO = re.compile(
    r"\bje m appelle\b|\bmon nom est\b|\ba l appareil\b|\bde la part de (?!qui\b)"
    r"|\bje vous appelle (?:de|du|au sujet)\b"
    r"|\bje suis (?:votre |le |la )?(?:conseill|charge)|\bvotre conseill"
    r"|\bje suis \w+ (?:de chez|de la societe|du cabinet|conseill)|\bje me presente\b|\bje cherche a joindre\b"
    r"|\bje vous laisse un message\b|\bje n arrive pas a vous joindre\b|\bje suis bien chez (?:monsieur|madame)\b"
    r"|\bconseill\w* en (?:assurance|complementaire|mutuelle|sante|prevoyance)\b"
    rf"|\b(?:je suis|je travaille|j appelle) (?:chez|pour|de) (?:le |la )?(?:\w+ ){{0,2}}{_FIRM_WORDS}\b"
)
_INTRO_LEAD = re.compile(
    r"\b(?:je suis|je m appelle|mon nom est|c est|ici|moi c est|je me presente)\s+((?:\w+\s+){0,3}\w+)"
)
_ADDRESSED = re.compile(r"\b(?:monsieur|madame|mademoiselle) (?:(?:de|da|du|le|la|van|dos|des) )?([a-z]{3,})\b")
# How a firm answers the phone: "à votre écoute", or "<Nom> Courtage, bonjour / j'écoute".
_GREETING = re.compile(
    r"\ba votre ecoute\b|\bque puis je (?:faire )?pour vous\b|\bbienvenue\b"
    rf"|^(?:\w+ ){{0,3}}{_FIRM_WORDS}(?: \w+)?(?: euh)? (?:bonjour|j ecoute)\b"
)
_BARE_ANSWER = {"allo", "oui", "bonjour", "allo oui", "oui allo", "allo bonjour", "oui bonjour", "bonjour allo"}
_AGENT_PHRASES = re.compile(
    r"\bje vous propose\b|\bje vais vous envoyer\b|\bje vous envoie\b|\bje vous explique\b|\bje vous rappelle\b"
    r"|\best enregistre\b|\bnotre (?:offre|contrat|garantie|cabinet|societe|formule)\b"
    r"|\bnos (?:offres|garanties|formules)\b"
    r"|\bvotre (?:mutuelle|contrat|adhesion|cotisation|dossier|conjoint)\b|\bvous allez (?:recevoir|payer|beneficier)\b"
    r"|\bvous avez (?:un|le) droit\b|\bdroit de (?:renonciation|retractation)\b|\bdelai de carence\b"
    r"|\bpouvez vous me confirmer\b|\bvous etes bien\b|\bvotre date de naissance\b"
)
_CLIENT_PHRASES = re.compile(
    r"\bma mutuelle\b|\bmon contrat\b|\bmon assur\w*\b|\bje paie\b|\bje paye\b"
    rf"|\bje suis (?:actuellement |deja )?chez (?!(?:le |la )?(?:\w+ ){{0,2}}{_FIRM_WORDS}\b)"
    r"|\bma femme\b|\bmon mari\b|\bmes enfants\b|\bje suis retraite\b"
)
_QUESTION = re.compile(r"\?|\best ce que\b")
_ADDRESS = re.compile(r"\b(?:vous|votre|vos)\b")


def normalise(text: str) -> str:
    """Lower case, no accents, words separated by single spaces (apostrophes and hyphens split words)."""
    folded = unicodedata.normalize("NFKD", text.lower())
    plain = "".join(c for c in folded if not unicodedata.combining(c))
    return " ".join(re.findall(r"[a-z0-9?]+", plain.replace("?", " ? ")))


@dataclass(frozen=True)
class RoleAssignment:
    """Speaker label -> role for one recording, how sure, and the cues that decided it."""

    roles: Mapping[str, Role]
    confidence: float
    cues: tuple[str, ...] = ()

    def role_of(self, speaker: str) -> Role:
        return self.roles.get(speaker, "unknown")

    def as_json(self) -> dict[str, Any]:
        return {"roles": dict(self.roles), "confidence": self.confidence, "cues": list(self.cues)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RoleAssignment:
        roles = {str(speaker): as_role(role) for speaker, role in (data.get("roles") or {}).items()}
        return cls(roles, float(data.get("confidence") or 0.0), tuple(str(c) for c in data.get("cues") or ()))


def as_role(value: object) -> Role:
    """A stored role read back; anything but `agent` / `client` is `unknown`."""
    if value == "agent":
        return "agent"
    if value == "client":
        return "client"
    return "unknown"


def direction_of(value: str | None) -> Direction | None:
    """The telephony direction as the CRM gives it (`in` / `out`), None when anything else."""
    normalised = (value or "").strip().lower()
    return "in" if normalised == "in" else "out" if normalised == "out" else None


@dataclass
class _Evidence:
    label: str
    score: float = 0.0
    cues: list[str] = field(default_factory=list)
    given: set[str] = field(default_factory=set)  # kinds of cue counted already
    strong: bool = False  # introduced themselves early, or with the advisor's name

    def add(self, weight: float, cue: str) -> None:
        self.score += weight
        self.cues.append(f"{self.label}: {cue}")

    def once(self, kind: str, weight: float, cue: str, *, strong: bool = False) -> None:
        if kind not in self.given:
            self.given.add(kind)
            self.add(weight, cue)
            self.strong = self.strong or strong


def _name_tokens(name: str) -> list[str]:
    return [t for t in normalise(name).split() if len(t) >= 3 and t != "?"]


def _fuzzy_in(tokens: Sequence[str], wanted: Sequence[str]) -> bool:
    """Whether the name `wanted` (its tokens) is said in `tokens`, fuzzily and in any word order."""
    if not wanted:
        return False
    n = len(wanted)
    target = " ".join(wanted)
    for i in range(max(0, len(tokens) - n + 1)):
        if fuzz.token_sort_ratio(" ".join(tokens[i : i + n]), target) >= NAME_MATCH:
            return True
    return False


def _said_name(tokens: Sequence[str], name: Sequence[str], *, min_letters: int = 4) -> bool:
    """Whether a token fuzzily matches one of the name's tokens, not after "monsieur" / "madame"
    (the client greeting the advisor by name is not the advisor speaking)."""
    return any(
        fuzz.ratio(token, part) >= NAME_MATCH
        for i, token in enumerate(tokens)
        if not (i and tokens[i - 1] in _VOCATIVE)
        for part in name
        if len(part) >= min_letters
    )


def _advisor_cue(plain: str, tokens: Sequence[str], advisor: Sequence[str]) -> tuple[float, str, bool] | None:
    """(weight, cue, strong) when the turn says the advisor's name: in an introduction, or anywhere."""
    leads = (lead.group(1).split() for lead in _INTRO_LEAD.finditer(plain))
    if any(_said_name(lead, advisor, min_letters=3) for lead in leads):
        return 4.0, "gives the advisor's name", True
    if _said_name(tokens, advisor):
        return 1.5, "says the advisor's name", False
    return None


def _opening_cue(opening: str, direction: Direction | None, firms: Sequence[Sequence[str]]) -> tuple[float, str] | None:
    """How the first speaker opened the call: a company greeting, answering an inbound call, or a bare
    "allô ?" (the callee, on an outbound call the client)."""
    if any(_fuzzy_in(opening.split(), firm) for firm in firms) or _GREETING.search(opening):
        return 2.0, "answers with a company greeting"
    if direction == "in":
        return 1.5, "answers an inbound call"
    if opening.replace("?", "").strip() in _BARE_ANSWER:
        return (-2.0 if direction == "out" else -0.75), "answers the call with a bare « allô »"
    return None


def _speaker_evidence(
    label: str,
    texts: Sequence[str],
    *,
    first: bool,
    direction: Direction | None,
    advisor: Sequence[str],
    firms: Sequence[Sequence[str]],
) -> _Evidence:
    """Per-speaker cues, each counted once (relative ones, which need every speaker, are added by `infer_roles`)."""
    evidence = _Evidence(label)
    agent_phrases = client_phrases = 0
    for n, text in enumerate(texts):
        plain = normalise(text)
        tokens = plain.split()
        early = n < EARLY_TURNS
        if _SELF_INTRO.search(plain):
            evidence.once("intro", 3.0 if early else 1.0, "introduces themselves", strong=early)
        named = _advisor_cue(plain, tokens, advisor) if advisor and "advisor" not in evidence.given else None
        if named:
            evidence.once("advisor", named[0], named[1], strong=named[2])
        if any(_fuzzy_in(tokens, firm) for firm in firms):
            asked = "?" in tokens
            evidence.once("firm", 0.5 if asked else 2.0, "names the firm" + (" in a question" if asked else ""))
        if any(not _said_name([name], advisor, min_letters=3) for name in _ADDRESSED.findall(plain)):
            # the advisor calls the client by name; the client rarely knows the advisor's
            evidence.once("addressed", 1.0, "addresses the other by name")
        agent_phrases += len(_AGENT_PHRASES.findall(plain))
        client_phrases += len(_CLIENT_PHRASES.findall(plain))
    if agent_phrases:
        evidence.add(min(3.0, 0.75 * agent_phrases), f"{agent_phrases} advisor phrase(s)")
    if client_phrases:
        evidence.add(-min(2.0, 0.75 * client_phrases), f"{client_phrases} client phrase(s)")
    opening = _opening_cue(normalise(texts[0]), direction, firms) if first and texts else None
    if opening:
        evidence.add(*opening)
    return evidence


def _relative(share: float, speakers: int) -> float:
    """A share-of-the-call cue in [-1, 1]: 0 at an even split, 1 when one speaker has it all."""
    return (share - 1 / speakers) * speakers / (speakers - 1)


def confidence_of(margin: float) -> float:
    """0.5 at no margin (a coin toss), 0.82 at 2, 0.93 at 4, rounded to 2 decimals."""
    return round(1 - 0.5 * math.exp(-max(0.0, margin) / 2), 2)


def infer_roles(
    turns: Sequence[tuple[str, str]],
    *,
    advisor_name: str | None = None,
    firm_names: Sequence[str] = (),
    direction: Direction | None = None,
) -> RoleAssignment:
    """Map each speaker label of a recording's `turns` ((speaker, text) in call order) to a role.

    `direction` is the telephony direction when known: `out` when the agent called the client.
    """
    texts: dict[str, list[str]] = {}
    for speaker, text in turns:
        if text.strip():
            texts.setdefault(speaker, []).append(text)
    if not texts:
        return RoleAssignment({}, 0.0, ())
    labels = list(texts)  # in order of first speech
    advisor = _name_tokens(advisor_name or "")
    firms = [tokens for tokens in (_name_tokens(f) for f in firm_names) if tokens]
    evidence = {
        label: _speaker_evidence(label, texts[label], first=i == 0, direction=direction, advisor=advisor, firms=firms)
        for i, label in enumerate(labels)
    }
    words = {label: sum(len(normalise(t).split()) for t in texts[label]) for label in labels}
    if len(labels) > 1:
        questions = {label: sum(len(_QUESTION.findall(normalise(t))) for t in texts[label]) for label in labels}
        address = {label: sum(len(_ADDRESS.findall(normalise(t))) for t in texts[label]) for label in labels}
        for measure, weight, what, enough in (
            (words, 1.0, "talk share", 40),
            (questions, 2.0, "question share", 4),
            (address, 1.5, "share of « vous »", 6),
        ):
            total = sum(measure.values())
            if total == 0:
                continue
            scale = min(1.0, total / enough)
            for label in labels:
                share = measure[label] / total
                evidence[label].add(weight * scale * _relative(share, len(labels)), f"{what} {share:.0%}")
    return _assign(labels, evidence, words)


def _assign(labels: list[str], evidence: Mapping[str, _Evidence], words: Mapping[str, int]) -> RoleAssignment:
    ranked = sorted(labels, key=lambda label: -evidence[label].score)
    agent = ranked[0]
    cues = tuple(cue for label in labels for cue in evidence[label].cues)
    if len(ranked) == 1:
        score = evidence[agent].score
        if score >= SINGLE_SPEAKER_MIN:
            return RoleAssignment({agent: "agent"}, confidence_of(score - 1), cues)
        return RoleAssignment({agent: "unknown"}, 0.0, cues)
    # The client is the other side's main voice: a colleague who introduced themselves is not a candidate.
    client = max([label for label in ranked[1:] if not evidence[label].strong] or ranked[1:], key=words.__getitem__)
    margin = evidence[agent].score - evidence[client].score
    if margin < MIN_MARGIN:
        return RoleAssignment(dict.fromkeys(labels, "unknown"), 0.0, (*cues, "no decisive cue"))
    roles: dict[str, Role] = {agent: "agent", client: "client"}
    for label in ranked[1:]:  # a colleague who introduces themselves, the client's second label, or noise
        if label == client:
            continue
        other = evidence[label]
        roles[label] = (
            "agent" if other.strong else "client" if other.score <= evidence[client].score + 0.5 else "unknown"
        )
    return RoleAssignment({label: roles[label] for label in labels}, confidence_of(margin), cues)


def assign_roles(
    recording: TimelineRecording,
    *,
    advisor_name: str | None = None,
    firm_names: Sequence[str] = (),
    direction: Direction | None = None,
) -> TimelineRecording:
    """A copy of `recording` with every chunk's `role` and the mapping's `role_confidence` set."""
    assignment = infer_roles(
        [(c.speaker, c.text) for c in recording.chunks],
        advisor_name=advisor_name,
        firm_names=firm_names,
        direction=direction,
    )
    return with_roles(recording, assignment)


def with_roles(recording: TimelineRecording, assignment: RoleAssignment) -> TimelineRecording:
    return dataclasses.replace(
        recording,
        chunks=tuple(dataclasses.replace(c, role=assignment.role_of(c.speaker)) for c in recording.chunks),
        role_confidence=assignment.confidence,
    )
