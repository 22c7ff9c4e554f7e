"""Error messages built from an upstream's answer, made safe to store, log and show."""

from __future__ import annotations

import re

from callaudit.logging import redact

_URL_TAIL = re.compile(r"(https?://[^\s?#\"']+)[?#][^\s\"']*")
MESSAGE_LIMIT = 300


def sanitise(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """`text` without URL queries or fragments (signatures) and with secrets redacted, cut to `limit`."""
    cleaned = redact(_URL_TAIL.sub(r"\1?…", text)).strip()
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1] + "…"
