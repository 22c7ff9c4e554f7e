"""The FastAPI sidecar: live API, realtime streams and the launch point for ad-hoc Dagster runs."""
