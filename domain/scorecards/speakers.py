"""Whose words can prove a control point, when a scorecard does not say (the original's format has
no such field, so an imported scorecard gets it inferred from each point's wording).

- `client`: the client's consent, agreement, answer or confirmation ("accord du client",
  "consentement", "le client confirme", "faire confirmer au client qu'il accepte").
- `any`: an outcome established by question and answer ("compagnie actuelle identifiée",
  "montant relevé", "date de naissance vérifiée"), or a fact about the client under a step where the
  agent asks or confirms ("Vérifier que le conseiller demande : ..." / "Régime professionnel"): the
  agent's question and the client's answer are both evidence of it.
- `agent` otherwise: what the agent must say or do ("annonce appel enregistré", "droit de copie mentionné").
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from domain.audits.scorecard import SpeakerRule
from domain.transcripts.roles import normalise

_CLIENT = re.compile(
    r"\b(?:accord|consentement|acceptation|confirmation|reponse|approbation) (?:explicite )?du client\b"
    r"|\bconsentement\b|\baccord explicite\b|\bconfirmer au client\b"
    r"|\ble client (?:confirme|accepte|consent|donne son accord|valide|repond|approuve)\b"
    r"|\bclient (?:accepte|confirme|consent)\b"
)
_CONSENT_WORD = re.compile(r"\b(?:accord|accepte\w*|consent\w*|adhere\w*|oui)\b")
# Past participles of finding something out: the fact comes out of an exchange, either side's words show it.
_ESTABLISHED = re.compile(
    r"\b(?:identifie|releve|etabli|note|evalue|confirme|verifie|valide|recueilli|questionne)(?:e|s|es)?\b"
)
# A step about what the agent asks the client, and the words of a point that is the agent's own act.
_ASKING_STEP = re.compile(r"\ble conseiller (?:confirme|demande|interroge|identifie|recueille|questionne|s enquiert)\b")
_AGENT_ACT = re.compile(
    r"\b(?:mentionn|annonc|expliqu|present|propos|communiqu|evoqu|precis|abord|trait|detaill|pose|donn|inform"
    r"|rappel|nomm|salu)\w*"
)


def infer_point_speaker(point_text: str, step_prompt: str = "") -> SpeakerRule:
    """The rule for one control point from its text, and its step's prompt for short points
    ("Accord pour adhérer" under a prompt about the client's consent is the client's)."""
    point = normalise(point_text)
    if _CLIENT.search(point) or (_CONSENT_WORD.search(point) and _CLIENT.search(normalise(step_prompt))):
        return SpeakerRule.CLIENT
    if _ESTABLISHED.search(point) or (_ASKING_STEP.search(normalise(step_prompt)) and not _AGENT_ACT.search(point)):
        return SpeakerRule.ANY
    return SpeakerRule.AGENT


def point_speakers(
    points: Sequence[str],
    prompt: str,
    given: Sequence[str | SpeakerRule] | None = None,
    known: Mapping[str, SpeakerRule] | None = None,
) -> tuple[SpeakerRule, ...]:
    """One rule per point: `given` (aligned with `points`) when sent, else what `known` says for
    the same point text (an edit keeps the rules of unchanged points), else inferred."""
    if given is not None:
        return tuple(SpeakerRule(rule) for rule in given)
    known = known or {}
    return tuple(known.get(point) or infer_point_speaker(point, prompt) for point in points)
