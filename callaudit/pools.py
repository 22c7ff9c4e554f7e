"""Dagster pool limits, derived from the product's concurrency settings.

Pools count steps across every run of the instance (not HTTP calls, which the Redis semaphores
cap); their limits live in Dagster's storage, so `callaudit migrate` writes them on every deploy.
"""

from __future__ import annotations

from callaudit.settings import Settings

CRM_SEARCH = "crm_search"
CRM_FICHE_FETCH = "crm_fiche_fetch"
STT = "stt"
LLM = "llm"


def pool_limits(settings: Settings) -> dict[str, int]:
    return {
        CRM_SEARCH: settings.fiche_sales_search_concurrency,
        CRM_FICHE_FETCH: settings.fiche_fetch_concurrency,
        STT: settings.transcription_recording_concurrency,
        LLM: settings.audit_step_concurrency,
    }
