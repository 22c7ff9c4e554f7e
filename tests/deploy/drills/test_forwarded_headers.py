"""Drill 9: any local process could set X-Forwarded-For and escape the per-address login limit.

The real uvicorn server, configured by the CLI's own options, answers with the client address it
believes; a forged header must not move it unless the peer is a configured proxy.
"""

from __future__ import annotations

import httpx

from tests.fixtures.uvicorn_server import serving


def test_by_default_nobody_may_claim_another_address() -> None:
    with serving() as url:
        seen = httpx.get(url, headers={"X-Forwarded-For": "6.6.6.6"}).text
    assert seen == "127.0.0.1"


def test_a_configured_proxy_is_believed() -> None:
    with serving(forwarded_allow_ips="127.0.0.1") as url:
        seen = httpx.get(url, headers={"X-Forwarded-For": "6.6.6.6"}).text
    assert seen == "6.6.6.6"


def test_a_proxy_other_than_the_peer_is_not_believed() -> None:
    with serving(forwarded_allow_ips="10.9.8.7") as url:
        seen = httpx.get(url, headers={"X-Forwarded-For": "6.6.6.6"}).text
    assert seen == "127.0.0.1"
