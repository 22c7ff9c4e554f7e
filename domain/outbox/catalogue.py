"""The events the outbox carries, by their reference §11.4 names, and who may receive each.

A small mapping of our own, kept apart so it can be pointed at the realtime event catalogue when the two
meet: a webhook receives an event only if its owner could read the entity it is about, with the
permission named here (fiche events: on that fiche; job events: their own jobs, or ALL scope).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class EventRule:
    permission: str  # read grant needed on the fiche (fiche events) or with ALL scope (others' jobs)
    about: Literal["fiche", "job"]
    short_name: str  # the original's `X-Webhook-Event` value (`complete`, `failed`, ...)


EVENTS: Mapping[str, EventRule] = {
    "audit.completed": EventRule("audits", "fiche", "audit.completed"),
    "audit.failed": EventRule("audits", "fiche", "audit.failed"),
    "transcription.completed": EventRule("transcriptions", "fiche", "transcription.completed"),
    "transcription.failed": EventRule("transcriptions", "fiche", "transcription.failed"),
    "batch.completed": EventRule("audits", "job", "batch.completed"),
    "fiches.progressive_fetch.complete": EventRule("fiches", "job", "complete"),
    "fiches.progressive_fetch.failed": EventRule("fiches", "job", "failed"),
}

#: What a progressive-fetch `webhookUrl` receives (the original's default with a URL given, minus
#: `progress`, which is a realtime event rather than a committed change).
PROGRESSIVE_FETCH_EVENTS = ("fiches.progressive_fetch.complete", "fiches.progressive_fetch.failed")
