"""Counters of one `CrmClient`, for MaterializeResult metadata and logs.

They answer the operator's questions about a run: how many requests did it cost the gateway, how
often was it throttled, and was the time spent in the CRM itself or waiting for the global caps?
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class CrmMetrics:
    requests: int = 0  # HTTP requests sent (attempts, not calls)
    retries: int = 0  # attempts that followed a failed one
    throttled: int = 0  # 429 answers
    cooldown_waits: int = 0  # times a caller waited for the shared cooldown
    cooldown_seconds: float = 0.0
    slot_wait_seconds: float = 0.0  # waiting for a slot of a global cap
    request_seconds: float = 0.0  # inside HTTP requests (time "in the CRM")

    def as_metadata(self) -> dict[str, int | float]:
        """`{"crm_requests": 12, "crm_request_seconds": 3.52, ...}`: flat values Dagster metadata accepts."""
        return {f"crm_{name}": _rounded(value) for name, value in asdict(self).items()}


def _rounded(value: int | float) -> int | float:
    return round(value, 3) if isinstance(value, float) else value
