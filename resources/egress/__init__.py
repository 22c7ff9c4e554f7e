"""Outbound HTTP to URLs a user can influence (webhooks, automation notices, recording downloads).

`check_url` refuses what can never be sent (scheme, credentials, blocked literal addresses, names
resolving to blocked addresses) with a message fit for a 400; `EgressClient` enforces the same rules
again at connect time, on the addresses it is about to connect to, and connects to exactly those.
`guarded_client` is the same guard for callers that stream what they download (recordings' audio).
"""

from resources.egress.client import EgressClient, EgressResponse, GuardedBackend, blocked, guarded_client
from resources.egress.policy import EgressPolicy, EgressRefused, Resolver, address_allowed, check_url, system_resolver

__all__ = [
    "EgressClient",
    "EgressPolicy",
    "EgressRefused",
    "EgressResponse",
    "GuardedBackend",
    "Resolver",
    "address_allowed",
    "blocked",
    "check_url",
    "guarded_client",
    "system_resolver",
]
