"""Automation runs and the scheduler on the real database, with the pipeline stages faked."""
