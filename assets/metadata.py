"""Metadata shapes shared by the assets, as a data team reads them in the Dagster UI."""

import dagster as dg

FAILURES_SHOWN = 20


def failures_table(failures: dict[str, str], subject: str) -> dg.MetadataValue:
    """The first failures as a Markdown table (`subject` heads the key column), or "no failure"."""
    rows = [f"| {key} | {reason[:160]} |" for key, reason in list(failures.items())[:FAILURES_SHOWN]]
    return dg.MetadataValue.md(f"| {subject} | reason |\n|---|---|\n" + "\n".join(rows) if rows else "no failure")
