"""The chat stream's wire frames (reference §8.5) and the filter that keeps inline markers out of them.

Frames, each `data: <payload>` (no event names, for the original's front ends): `{"text": ...}`
deltas, one `{"citations": [...]}` frame, then `[DONE]`; after a failure the API's error frame
(`api.errors.stream_error_frame`) then `[DONE]`.

Citations arrive as structured data (a tool call), so answer text should carry none. A model may
still write the original's inline `[CITATION:{...}]` marker; `MarkerFilter` removes it from the
text *across* deltas (the original filtered each delta alone, so a marker split in two leaked,
bug §13.7 #60): text that could be the start of a marker is held back until it is known not to
be one, and a marker's JSON is read with nested braces and strings until its closing bracket.
Markers are handed over (raw JSON) to be validated like the structured citations.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

MARKER = "[CITATION:"
DONE = "[DONE]"


def text_frame(text: str) -> str:
    return json.dumps({"text": text}, ensure_ascii=False)


def citations_frame(citations: list[dict[str, Any]]) -> str:
    return json.dumps({"citations": citations}, ensure_ascii=False)


def _json_end(text: str, start: int) -> int | None:
    """Index just past the JSON object starting at `text[start]` (`{`), or None if it is not closed yet."""
    depth, in_string, escaped = 0, False, False
    for i in range(start, len(text)):
        char = text[i]
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0:
                return i + 1
    return None


@dataclass
class MarkerFilter:
    """Feed model text deltas; get back what may be shown, never part of a marker."""

    markers: list[str] = field(default_factory=list)  # the raw JSON of every marker removed
    _pending: str = ""

    def feed(self, delta: str) -> str:
        self._pending += delta
        shown: list[str] = []
        while self._pending:
            at = self._pending.find(MARKER)
            if at < 0:
                keep = _partial_prefix(self._pending)
                shown.append(self._pending[: len(self._pending) - keep])
                self._pending = self._pending[len(self._pending) - keep :]
                break
            shown.append(self._pending[:at])
            rest = self._pending[at + len(MARKER) :]
            body_start = len(rest) - len(rest.lstrip())
            if body_start == len(rest):  # nothing after the prefix yet
                self._pending = self._pending[at:]
                break
            if rest[body_start] != "{":  # not a marker after all: show the prefix as text
                shown.append(MARKER)
                self._pending = rest
                continue
            end = _json_end(rest, body_start)
            if end is None:
                self._pending = self._pending[at:]
                break
            close = len(rest[end:]) - len(rest[end:].lstrip())
            if end + close == len(rest):  # the closing bracket may still come
                self._pending = self._pending[at:]
                break
            self.markers.append(rest[body_start:end])
            after = end + close
            self._pending = rest[after + 1 :] if rest[after] == "]" else rest[after:]
        return "".join(shown)

    def flush(self) -> str:
        """At the end of the answer: an unfinished marker is dropped, a mere `[CIT` shown."""
        pending, self._pending = self._pending, ""
        return "" if pending.startswith(MARKER) else pending


def _partial_prefix(text: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of the marker."""
    for size in range(min(len(MARKER) - 1, len(text)), 0, -1):
        if MARKER.startswith(text[-size:]):
            return size
    return 0
