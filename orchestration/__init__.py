"""Dagster wiring: the single Definitions, partitions, jobs, schedules and sensors."""
