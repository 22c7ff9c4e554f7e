"""Whose words may prove a control point, and how prompts and gating notes name the rule."""

from __future__ import annotations

from collections.abc import Mapping

from domain.audits.scorecard import SpeakerRule
from domain.audits.timeline import Role

RULE_LABEL: Mapping[SpeakerRule, str] = {
    SpeakerRule.AGENT: "paroles du conseiller",
    SpeakerRule.CLIENT: "paroles du client",
    SpeakerRule.ANY: "paroles du conseiller ou du client",
}


def speaker_allowed(rule: SpeakerRule, role: Role) -> bool:
    """Whether words said by `role` can prove a point with `rule`; an unknown role is given the benefit."""
    return rule is SpeakerRule.ANY or role in {"unknown", rule.value}
