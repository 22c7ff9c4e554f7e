"""Flat, stable views of the audits for data teams (the `analytics` schema and its Parquet files)."""
