"""`/api/automation`: schedules, triggers, runs."""
