"""Scorecards (the original's "audit configs"): validation and the JSON exchange format (pure), and
the versioned storage the API, the seed and the assets share (`service`)."""
