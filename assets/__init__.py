"""Dagster assets, one module per pipeline stage (sales, fiches, transcripts, audits)."""
