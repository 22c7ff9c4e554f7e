"""The CRM gateway client: sanitised errors, bounded retries, deployment-wide caps and cooldown.

`CrmResource` (Dagster) lives in `resources.crm.resource`, imported explicitly so that the API does
not import Dagster.
"""

from resources.crm.client import CrmClient
from resources.crm.config import CrmConfig, authorization_header, normalise_base_url
from resources.crm.envelopes import SalesPage
from resources.crm.errors import (
    CrmAuthError,
    CrmBadResponse,
    CrmCapUnavailable,
    CrmError,
    CrmNotFound,
    CrmUnavailable,
)
from resources.crm.metrics import CrmMetrics

__all__ = [
    "CrmAuthError",
    "CrmBadResponse",
    "CrmCapUnavailable",
    "CrmClient",
    "CrmConfig",
    "CrmError",
    "CrmMetrics",
    "CrmNotFound",
    "CrmUnavailable",
    "SalesPage",
    "authorization_header",
    "normalise_base_url",
]
