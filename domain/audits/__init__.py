"""The audit engine's pure logic: scorecards as values, the LLM step schema, timelines, evidence
gating, scoring, the heuristic auditor, transcript tools and prompts. No database, no HTTP here."""
