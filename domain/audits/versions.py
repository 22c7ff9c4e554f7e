"""Versions of what audits, kept apart from the code they version.

The audits asset's `code_version` names them, and every Dagster run process (sync and transcription
runs included) loads the definitions: importing the heuristic auditor for its version alone cost
0.42-0.45 s of CPU, a fifth of that load (decision 115).
"""

HEURISTIC_VERSION = "heuristic-9"
"""Bump when the heuristic auditor's search, weights or texts change: audits made before are redone."""
