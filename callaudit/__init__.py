"""callaudit: self-hostable AI call-audit platform (CLI, settings and the embedded runtime)."""

__version__ = "0.1.0"
