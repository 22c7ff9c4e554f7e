"""Automation schedules: timing, selection, run records (reference §9)."""
