"""API keys as people paste them."""

from __future__ import annotations


def normalise_key(value: str | None) -> str | None:
    """A pasted key without surrounding blanks or quotes; None when nothing is left."""
    key = (value or "").strip().strip("\"'").strip()
    return key or None
