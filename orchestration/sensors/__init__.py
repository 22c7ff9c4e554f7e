"""Sensors by kind: `run_status` (run failures to the event streams), `partitions` (the dynamic
scorecard dimension), `automation` (the chain details -> transcripts -> audits), `maintenance`
(the audit watchdog)."""
