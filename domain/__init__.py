"""Pure domain logic and data shapes shared by assets and the API (no Dagster or FastAPI imports)."""
