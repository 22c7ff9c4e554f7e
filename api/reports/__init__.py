"""The audit report pages and their share links (issue 19)."""
