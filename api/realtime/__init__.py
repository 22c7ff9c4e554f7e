"""Realtime: the stages' events (`domain.events`) followed over server-sent events."""
