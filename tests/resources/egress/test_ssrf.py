"""The SSRF corpus: every form of a private destination is refused, at check time and at connect time.

Connections go to a real HTTP receiver on loopback; DNS answers that the machine cannot produce (a
public name pointing inside, an answer changing between check and connect) come from a resolver
stand-in, every other name is resolved by the system.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from resources.egress import (
    EgressClient,
    EgressPolicy,
    EgressRefused,
    Resolver,
    address_allowed,
    check_url,
    system_resolver,
)
from tests.fixtures.standins.receiver import Receiver, receiving

PUBLIC = "93.184.215.14"


def fake_dns(answers: dict[str, list[list[str]]]) -> Resolver:
    """Names answered from `answers` (successive lookups get successive lists), others by the system."""
    calls: dict[str, int] = {}

    async def resolve(host: str, port: int) -> list[str]:
        if host not in answers:
            return await system_resolver(host, port)
        seen = calls.get(host, 0)
        calls[host] = seen + 1
        return answers[host][min(seen, len(answers[host]) - 1)]

    return resolve


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as r:
        yield r


REFUSED_URLS = [
    "http://127.0.0.1/",
    "http://127.0.0.2:8080/x",
    "http://10.1.2.3/",
    "http://172.16.0.1/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://0.0.0.0/",
    "http://[::1]/",
    "http://[::]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[fd00:ec2::254]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[64:ff9b::a00:1]/",
    "http://[2002:7f00:1::]/",
    "http://224.0.0.1/",
    "http://2130706433/",  # decimal 127.0.0.1
    "http://0x7f000001/",  # hex
    "http://0177.0.0.1/",  # octal
    "http://0x7f.0.0.1/",
    "http://127.1/",
    "http://localhost/",  # a name resolving to loopback (system resolver)
    "http://private.example.test/",  # DNS-resolved private v4
    "http://private6.example.test/",  # DNS-resolved private v6
    "http://mixed.example.test/",  # one public, one private answer: every address counts
    "ftp://example.com/",
    "file:///etc/passwd",
    "http://user:secret@example.com/",
    "http://@example.com/",
    "https://",
]


@pytest.mark.parametrize("url", REFUSED_URLS)
async def test_refused_at_check_time(url: str) -> None:
    policy = EgressPolicy.build(
        [],
        resolver=fake_dns(
            {
                "private.example.test": [["10.0.0.5"]],
                "private6.example.test": [["fd12:3456::1"]],
                "mixed.example.test": [[PUBLIC, "192.168.0.10"]],
            }
        ),
    )
    with pytest.raises(EgressRefused):
        await check_url(url, policy)


async def test_public_destination_passes_the_check() -> None:
    policy = EgressPolicy.build([], resolver=fake_dns({"hooks.example.com": [[PUBLIC]]}))
    target = await check_url("https://hooks.example.com/in", policy)
    assert (target.host, target.port, target.allowlisted) == ("hooks.example.com", 443, False)


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "::1", "::ffff:127.0.0.1", "100.64.0.1", "169.254.169.254", "0.0.0.0", "10.0.0.1"]
)
def test_blocked_addresses(address: str) -> None:
    assert not address_allowed(address)


def test_global_addresses_allowed() -> None:
    assert address_allowed(PUBLIC)
    assert address_allowed("2606:4700::1111")
    assert address_allowed("::ffff:93.184.215.14")


async def test_loopback_only_when_configured(receiver: Receiver) -> None:
    assert address_allowed("127.0.0.1", allow_loopback=True)
    assert not address_allowed("10.0.0.1", allow_loopback=True)
    dev = EgressClient(EgressPolicy.build([], allow_loopback=True))
    try:
        response = await dev.post(receiver.url + "/hook", b"{}", {"content-type": "application/json"})
    finally:
        await dev.aclose()
    assert response.status_code == 200
    assert len(receiver.requests) == 1


async def test_connect_time_refuses_loopback_receiver(receiver: Receiver) -> None:
    client = EgressClient(EgressPolicy.build([]))
    try:
        response = await client.post(receiver.url + "/hook", b"{}", {})
    finally:
        await client.aclose()
    assert response.status_code is None
    assert response.error is not None
    assert "blocked" in response.error
    assert receiver.requests == []


async def test_allowlisted_origin_is_accepted(receiver: Receiver) -> None:
    policy = EgressPolicy.build([receiver.url])
    assert (await check_url(receiver.url + "/hook", policy)).allowlisted
    client = EgressClient(policy)
    try:
        response = await client.post(receiver.url + "/hook", b'{"a":1}', {"content-type": "application/json"})
    finally:
        await client.aclose()
    assert response.status_code == 200
    assert receiver.requests[0].body == b'{"a":1}'
    # the allowlist is exact: another port of the same host is not in it
    other = receiver.url.rsplit(":", 1)[0] + ":1"
    with pytest.raises(EgressRefused):
        await check_url(other + "/hook", policy)


async def test_dns_answer_changing_between_check_and_connect(receiver: Receiver) -> None:
    port = int(receiver.url.rsplit(":", 1)[1])
    url = f"http://rebind.example.test:{port}/hook"
    policy = EgressPolicy.build([], resolver=fake_dns({"rebind.example.test": [[PUBLIC], ["127.0.0.1"]]}))
    await check_url(url, policy)  # first answer: public
    client = EgressClient(policy)
    try:
        response = await client.post(url, b"{}", {})
    finally:
        await client.aclose()
    assert response.status_code is None
    assert response.error is not None
    assert "private or reserved" in response.error
    assert receiver.requests == []


async def test_redirect_to_private_address_is_not_followed(receiver: Receiver) -> None:
    with receiving() as inner:
        receiver.answers = [(302, {"Location": inner.url + "/admin"}, b"")]
        client = EgressClient(EgressPolicy.build([receiver.url]))
        try:
            response = await client.post(receiver.url + "/hook", b"{}", {})
        finally:
            await client.aclose()
        assert response.status_code == 302
        assert not response.ok
        assert inner.requests == []


async def test_response_body_is_capped(receiver: Receiver) -> None:
    receiver.answers = [(200, {}, b"x" * 100_000)]
    client = EgressClient(EgressPolicy.build([receiver.url]), max_response_bytes=1000)
    try:
        response = await client.post(receiver.url + "/hook", b"{}", {})
    finally:
        await client.aclose()
    assert response.status_code == 200
    assert len(response.body) == 1000
