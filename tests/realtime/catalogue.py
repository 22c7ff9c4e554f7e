"""Reading a topic's stream back and checking every event against the catalogue (`domain.events`)."""

from __future__ import annotations

import json
from typing import Any, cast

import redis

from domain.events import validate_event
from resources.redis.streams import stream_key


def catalogued(client: redis.Redis, topic: str) -> list[tuple[str, dict[str, Any]]]:
    """The topic's events as (type, payload), each validated against its catalogue entry."""
    entries = cast(list[tuple[str, dict[str, str]]], client.xrange(stream_key(topic)))
    events = []
    for _, fields in entries:
        payload = json.loads(fields["data"])
        validate_event(fields["type"], topic, payload)
        events.append((fields["type"], payload))
    return events
