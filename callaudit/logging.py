"""Logging set-up shared by every process, with a filter that scrubs secrets from each record.

Redaction happens on the formatted message of every record, so a secret cannot slip through `%s`
arguments, exception text or a library's own log line.
"""

from __future__ import annotations

import logging
import re
import sys

REDACTED = "[REDACTED]"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization values and bearer tokens.
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), rf"\1 {REDACTED}"),
    # Credentials inside URLs: scheme://user:password@host
    (re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^:/@\s]*:)[^@\s/]+@"), rf"\1{REDACTED}@"),
    # key=value / "key": "value" pairs whose key names a secret.
    (
        re.compile(
            r"(?i)([\"']?\b[\w.-]*(?:password|passwd|secret|token|api[_-]?key|apikey|authorization|cookie|signature|"
            r"xi-api-key|pass)\b[\"']?\s*[:=]\s*[\"']?)([^\"'\s,;&}]+)"
        ),
        rf"\1{REDACTED}",
    ),
    # Compound keys such as token_hash, password_hash, refresh_token, client_secret (e.g. in SQL parameters);
    # not the identifiers that merely name one (api_token_id, token_prefix, ...): who did what must stay.
    (
        re.compile(
            r"(?i)([\"']?\b[\w-]*(?:_hash|_token|token_|_secret|secret_|password_|_password)[\w-]*"
            r"(?<![_-]id)(?<![_-]ids)(?<![_-]prefix)(?<![_-]count)[\"']?\s*[:=]\s*[\"']?)([^\"'\s,;&}]+)"
        ),
        rf"\1{REDACTED}",
    ),
    # Our own token formats and argon2 / JWT material, wherever they appear.
    (re.compile(r"\bca_(?:pat|rt|inv|shr)_[A-Za-z0-9_-]{8,}"), REDACTED),
    (re.compile(r"\$argon2(?:id|i|d)\$[^\s\"']+"), REDACTED),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), REDACTED),
)


def redact(text: str) -> str:
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


#: Loggers whose formatters read `record.args` themselves (uvicorn's access log unpacks them): their
#: arguments are scrubbed one by one instead of being folded into the message.
_STRUCTURED_ARGS = frozenset({"uvicorn.access"})


def _scrub(record: logging.LogRecord) -> logging.LogRecord:
    if record.name in _STRUCTURED_ARGS and isinstance(record.args, tuple) and not record.exc_info:
        record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return record
    message = record.getMessage()
    if record.exc_info:
        message = f"{message}\n{logging.Formatter().formatException(record.exc_info)}"
        record.exc_info = None
        record.exc_text = None
    record.msg = redact(message)
    record.args = None
    return record


_installed = False


def install_redaction() -> None:
    """Scrub every log record at creation, whichever logger or handler it later reaches.

    A record factory (rather than a handler filter) also covers handlers added later, such as
    uvicorn's, Dagster's or a test's log capture.
    """
    global _installed  # noqa: PLW0603 - one process-wide switch
    if _installed:
        return
    base_factory = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        return _scrub(base_factory(*args, **kwargs))

    logging.setLogRecordFactory(factory)
    _installed = True


def configure_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        root.addHandler(handler)
    root.setLevel(level)
    install_redaction()
    # httpx logs every request URL at INFO: noise, and URLs may carry signed query strings.
    logging.getLogger("httpx").setLevel(logging.WARNING)
