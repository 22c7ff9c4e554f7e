"""The CRM client against `httpx.MockTransport` gateways (real Redis for the caps): requests, retries,
budgets, error mapping and sanitisation."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from domain.upstream import UpstreamError, UpstreamHalt, UpstreamNotFound
from resources.crm import (
    CrmAuthError,
    CrmBadResponse,
    CrmClient,
    CrmConfig,
    CrmError,
    CrmNotFound,
    CrmUnavailable,
)
from resources.redis import LeaseSemaphore
from tests.fixtures.crm_gateway import BASE, FAST, Gateway, status
from tests.fixtures.standins.crm import details_body, sales_body

TOKEN = "s3cr3t-token-value"

Handler = Callable[[httpx.Request], Awaitable[httpx.Response]]


def ok_details(fiche_id: str = "1762209") -> httpx.Response:
    return httpx.Response(200, json=details_body(fiche_id))


@pytest.fixture
async def make_client(aredis):
    clients: list[CrmClient] = []

    def make(gateway: Gateway, *, base_url: str = BASE, token: str | None = TOKEN, **config: float) -> CrmClient:
        client = CrmClient(
            base_url, aredis, auth_token=token, config=CrmConfig(**{**FAST, **config}), transport=gateway.transport()
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


# --- requests -------------------------------------------------------------------------------------


async def test_sales_search_request_and_page(make_client):
    gateway = Gateway(httpx.Response(200, json=sales_body("1000001", "1000002")))
    page = await make_client(gateway).search_sales(date(2025, 9, 25), date(2025, 9, 30), include_recordings=True)

    assert page.total == 2
    assert [f["id"] for f in page.fiches] == ["1000001", "1000002"]
    assert page.fiches[0]["recordings"][0]["call_id"] == "12258673469935556705"
    [request] = gateway.requests
    assert request.method == "GET"
    assert request.url.host == "gw.example"
    assert request.url.path == "/api/fiches/sales-with-calls"
    assert dict(request.url.params) == {
        "start_date": "2025-09-25",
        "end_date": "2025-09-30",
        "status_id": "53",
        "include_recordings": "true",
        "include_transcriptions": "false",
    }
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"


async def test_details_request_and_mail_devis_opt_in(make_client):
    gateway = Gateway(ok_details())
    client = make_client(gateway)
    fiche = await client.fiche_details("1762209")
    await client.fiche_details("1762209", include_mail_devis=True)

    assert fiche["information"]["fiche_id"] == "1762209"
    plain, with_mail = gateway.requests
    assert plain.url.path == "/api/fiches/by-id/1762209"
    assert dict(plain.url.params) == {"include_recordings": "true", "include_transcriptions": "false"}
    assert with_mail.url.params["include_mail_devis"] == "true"


@pytest.mark.parametrize("fiche_id", ["", "../admin", "1/2", "1?x=1", "x" * 65])
async def test_fiche_ids_that_could_change_the_path_are_refused(make_client, fiche_id):
    gateway = Gateway(ok_details())
    with pytest.raises(ValueError, match="fiche id"):
        await make_client(gateway).fiche_details(fiche_id)
    assert gateway.requests == []


async def test_users_and_groups(make_client):
    users = {"success": True, "data": {"utilisateurs": [{"id": "107", "nom": "SIMON"}], "total_count": 1}}
    groups = {"success": True, "data": {"groupes": [{"id": "19", "nom": "NCA R3", "user_ids": ["107"]}]}}
    gateway = Gateway(httpx.Response(200, json=users), httpx.Response(200, json=groups))
    client = make_client(gateway)

    assert await client.users() == [{"id": "107", "nom": "SIMON"}]
    assert await client.groups(include_users=True) == [{"id": "19", "nom": "NCA R3", "user_ids": ["107"]}]
    assert [r.url.path for r in gateway.requests] == ["/api/utilisateurs", "/api/utilisateurs/groupes"]
    assert gateway.requests[1].url.params["include_users"] == "true"


@pytest.mark.parametrize(
    "base_url",
    ["https://gw.example", "https://gw.example/", "https://gw.example/api", "https://gw.example/api/api/"],
)
async def test_every_base_url_spelling_reaches_the_same_endpoint(make_client, base_url):
    gateway = Gateway(ok_details())
    await make_client(gateway, base_url=base_url).fiche_details("1")
    assert str(gateway.requests[0].url).split("?")[0] == "https://gw.example/api/fiches/by-id/1"


@pytest.mark.parametrize(("token", "header"), [("abc", "Bearer abc"), ("Bearer abc", "Bearer abc"), (None, None)])
async def test_bearer_header(make_client, token, header):
    gateway = Gateway(ok_details())
    await make_client(gateway, token=token).fiche_details("1")
    assert gateway.requests[0].headers.get("Authorization") == header


async def test_health_probes_the_root_without_redis(make_client):
    gateway = Gateway(httpx.Response(200, json={"status": "ok"}))
    client = make_client(gateway)
    assert await client.health() is True
    assert gateway.requests[0].url.path == "/health"
    assert await make_client(Gateway(status(503))).health() is False
    assert await make_client(Gateway(httpx.ConnectError("refused"))).health() is False


# --- retries --------------------------------------------------------------------------------------


async def test_5xx_then_success(make_client):
    gateway = Gateway(status(502), status(503), status(500), ok_details())
    client = make_client(gateway)
    assert (await client.fiche_details("1762209"))["success"] is True
    assert len(gateway.requests) == 4
    assert client.metrics.requests == 4
    assert client.metrics.retries == 3


@pytest.mark.parametrize(
    "failure",
    [httpx.ReadTimeout("slow"), httpx.ConnectError("refused"), httpx.RemoteProtocolError("reset"), 0.5],
    ids=["read-timeout", "connect-error", "protocol-error", "hanging-server"],
)
async def test_timeouts_and_network_errors_then_success(make_client, failure):
    gateway = Gateway(failure, ok_details())
    client = make_client(gateway, details_timeout=0.1)
    started = time.monotonic()
    assert (await client.fiche_details("1"))["success"] is True
    assert len(gateway.requests) == 2
    assert time.monotonic() - started < 0.4  # the hanging attempt was cut at its 0.1 s timeout


async def test_gives_up_after_max_attempts(make_client):
    gateway = Gateway(status(503))
    with pytest.raises(CrmUnavailable, match="gave up after 4 attempts") as caught:
        await make_client(gateway).fiche_details("1")
    assert len(gateway.requests) == 4
    assert caught.value.status == 503
    assert caught.value.attempts == 4


async def test_429_retry_after_seconds_is_honoured(make_client):
    gateway = Gateway(status(429, **{"Retry-After": "1"}), ok_details())
    client = make_client(gateway)
    await client.fiche_details("1")
    assert gateway.times[1] - gateway.times[0] >= 1.0
    assert client.metrics.throttled == 1


async def test_503_retry_after_http_date_is_honoured(make_client):
    when = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    answers = (
        status(503, **{"Retry-After": format_datetime(when, usegmt=True)}),
        httpx.Response(200, json=sales_body()),
    )
    gateway = Gateway(*answers)
    page = await make_client(gateway).search_sales(date(2025, 1, 1), date(2025, 1, 1), include_recordings=False)
    assert page.total == 0
    # The retry reached the gateway no earlier than the date it named (1-2 s after the first answer).
    assert gateway.wall_times[1] >= when.timestamp() - 0.05
    assert gateway.times[1] - gateway.times[0] >= 0.9


async def test_transient_404_then_success(make_client):
    gateway = Gateway(status(404), status(404), ok_details())
    assert (await make_client(gateway).fiche_details("1"))["success"] is True
    assert len(gateway.requests) == 3


async def test_permanent_404_is_not_found_after_bounded_attempts(make_client):
    gateway = Gateway(status(404))
    with pytest.raises(CrmNotFound, match=r"HTTP 404 \(3 times\)") as caught:
        await make_client(gateway).fiche_details("1")
    assert len(gateway.requests) == 3
    assert caught.value.status == 404


async def test_404_final_at_once_when_configured_so(make_client):
    gateway = Gateway(status(404))
    with pytest.raises(CrmNotFound):
        await make_client(gateway, not_found_attempts=1).fiche_details("1")
    assert len(gateway.requests) == 1


async def test_404_interrupted_by_the_budget_is_unavailable_not_not_found(make_client):
    """Two 404s and then no time left: "maybe deleted" must not become a NOT_FOUND marker."""
    gateway = Gateway(status(404), status(404), 1.0)
    with pytest.raises(CrmUnavailable) as caught:
        await make_client(gateway, details_timeout=5, details_budget=0.3).fiche_details("1")
    assert not isinstance(caught.value, CrmNotFound)


async def test_repeated_404_on_a_list_endpoint_is_a_configuration_error(make_client):
    gateway = Gateway(status(404), status(404), status(404), status(404))
    with pytest.raises(CrmBadResponse, match="FICHE_API_BASE_URL"):
        await make_client(gateway).search_sales(date(2025, 1, 1), date(2025, 1, 2), include_recordings=False)
    assert len(gateway.requests) == 3  # not_found_attempts: a transient 404 under load is retried


async def test_transient_404_on_a_list_endpoint_is_retried(make_client):
    gateway = Gateway(status(404), httpx.Response(200, json={"fiches": [], "total": 0}))
    page = await make_client(gateway).search_sales(date(2025, 1, 1), date(2025, 1, 1), include_recordings=False)
    assert page.total == 0
    assert len(gateway.requests) == 2


@pytest.mark.parametrize("code", [401, 403])
async def test_auth_errors_are_not_retried(make_client, code):
    gateway = Gateway(status(code), ok_details())
    with pytest.raises(CrmAuthError, match=f"HTTP {code}"):
        await make_client(gateway).fiche_details("1")
    assert len(gateway.requests) == 1


async def test_the_client_errors_say_what_they_mean_at_the_port(make_client):
    """Ingestion catches `domain.upstream` errors: a 404 is "does not exist", 401 "stop the batch",
    a 503 "this item failed" (neither of the other two)."""
    with pytest.raises(UpstreamNotFound):
        await make_client(Gateway(status(404))).fiche_details("1")
    with pytest.raises(UpstreamHalt):
        await make_client(Gateway(status(401))).fiche_details("1")
    with pytest.raises(UpstreamError) as caught:
        await make_client(Gateway(status(503), status(503), status(503))).fiche_details("1")
    assert not isinstance(caught.value, UpstreamHalt | UpstreamNotFound)


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(200, content=b"<html>502 Bad Gateway</html>"),
        httpx.Response(200, content=b'{"fiches": [', headers={"Content-Type": "application/json"}),
        httpx.Response(200, json={"total": 1}),
        httpx.Response(200, json={"fiches": "nope", "total": 1}),
        httpx.Response(200, json={"fiches": [1, 2], "total": 2}),
        httpx.Response(200, json={"fiches": [], "total": "2"}),
        httpx.Response(200, json=[]),
        httpx.Response(400, json={"error": "bad date"}),
        httpx.Response(302, headers={"Location": "https://elsewhere.example/"}),
    ],
    ids=[
        "html",
        "truncated",
        "no-fiches",
        "fiches-not-list",
        "fiche-not-object",
        "total-string",
        "array",
        "400",
        "302",
    ],
)
async def test_unusable_answers_are_bad_responses_without_retry(make_client, answer):
    gateway = Gateway(answer)
    with pytest.raises(CrmBadResponse):
        await make_client(gateway).search_sales(date(2025, 1, 1), date(2025, 1, 2), include_recordings=False)
    assert len(gateway.requests) == 1


# --- success: false ---------------------------------------------------------------------------------


def refused(message: str | None) -> httpx.Response:
    body: dict[str, object] = {"success": False}
    if message is not None:
        body["message"] = message
    return httpx.Response(200, json=body)


@pytest.mark.parametrize("message", ["Fiche not found", "Fiche introuvable", "La fiche n'existe pas"])
async def test_success_false_saying_not_found_is_a_404(make_client, message):
    gateway = Gateway(refused(message))
    with pytest.raises(CrmNotFound, match="success=false"):
        await make_client(gateway).fiche_details("1")
    assert len(gateway.requests) == 3


async def test_other_success_false_is_transient(make_client):
    gateway = Gateway(refused("Session CRM expirée"), refused(None), ok_details())
    assert (await make_client(gateway).fiche_details("1"))["success"] is True

    gateway = Gateway(refused("Erreur interne de la passerelle"))
    with pytest.raises(CrmUnavailable, match="Erreur interne") as caught:
        await make_client(gateway).fiche_details("1")
    assert not isinstance(caught.value, CrmNotFound)
    assert len(gateway.requests) == 4


async def test_details_without_success_flag_is_a_bad_response(make_client):
    gateway = Gateway(httpx.Response(200, json={"information": {}}))
    with pytest.raises(CrmBadResponse, match="success"):
        await make_client(gateway).fiche_details("1")


async def test_directory_success_false_is_transient(make_client):
    gateway = Gateway(refused("not found"))
    with pytest.raises(CrmUnavailable) as caught:
        await make_client(gateway).users()
    assert not isinstance(caught.value, CrmNotFound)


# --- budgets ----------------------------------------------------------------------------------------

EPSILON = 0.15
DAY = date(2025, 1, 1)


async def test_retries_stop_within_the_budget(make_client):
    gateway = Gateway(status(503))
    client = make_client(gateway, max_attempts=100, backoff_base=0.05, backoff_cap=0.2, details_budget=0.6)
    started = time.monotonic()
    with pytest.raises(CrmUnavailable, match="budget"):
        await client.fiche_details("1")
    assert time.monotonic() - started <= 0.6 + EPSILON
    assert len(gateway.requests) >= 2


async def test_hanging_gateway_is_cut_at_the_budget(make_client):
    gateway = Gateway(30.0)
    client = make_client(gateway, details_timeout=60, details_budget=0.4)
    started = time.monotonic()
    with pytest.raises(CrmUnavailable):
        await client.fiche_details("1")
    assert time.monotonic() - started <= 0.4 + EPSILON
    assert len(gateway.requests) == 1


async def test_per_call_budget_overrides_the_default(make_client):
    gateway = Gateway(30.0)
    started = time.monotonic()
    with pytest.raises(CrmUnavailable):
        await make_client(gateway).search_sales(
            date(2025, 1, 1), date(2025, 1, 1), include_recordings=True, budget_seconds=0.3
        )
    assert time.monotonic() - started <= 0.3 + EPSILON


async def test_retry_after_beyond_the_budget_fails_at_once(make_client, redis_client):
    gateway = Gateway(status(429, **{"Retry-After": "30"}), ok_details())
    started = time.monotonic()
    with pytest.raises(CrmUnavailable) as caught:
        await make_client(gateway, details_budget=5).fiche_details("1")
    assert time.monotonic() - started < 1
    assert caught.value.retry_after == 30
    assert 29_000 < redis_client.pttl("crm:cooldown") <= 30_000  # everyone else backs off too

    # Another caller does not even send a request while the cooldown outlasts its budget.
    other = Gateway(ok_details())
    with pytest.raises(CrmUnavailable, match="wait") as caught:
        await make_client(other, details_budget=5).fiche_details("2")
    assert other.requests == []
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > 25


async def test_slot_is_not_held_while_sleeping_between_retries(make_client, aredis):
    gateway = Gateway(status(503), ok_details())
    call = asyncio.create_task(make_client(gateway, backoff_base=0.5, backoff_cap=0.5).fiche_details("1"))
    await asyncio.wait_for(gateway.reached.wait(), 5)
    await asyncio.sleep(0.2)  # the first answer is read; the client is sleeping before its retry
    assert len(gateway.requests) == 1
    assert await LeaseSemaphore(aredis, "crm_fiche_fetch", 3).count() == 0
    await call


async def test_cooldown_set_elsewhere_delays_the_request(make_client, redis_client):
    class CooldownWatcher(Gateway):
        """Notes, as each request arrives, whether the shared cool-down was still in force."""

        def __init__(self, *script: httpx.Response) -> None:
            super().__init__(*script)
            self.cooldown_in_force: list[bool] = []

        async def __call__(self, request: httpx.Request) -> httpx.Response:
            self.cooldown_in_force.append(bool(redis_client.exists("crm:cooldown")))
            return await super().__call__(request)

    redis_client.set("crm:cooldown", "HTTP 429", px=400)
    gateway = CooldownWatcher(ok_details())
    client = make_client(gateway)
    await client.fiche_details("1")
    # Whether the request waited is read off the key, not a clock, so a loaded machine cannot flake it.
    assert gateway.cooldown_in_force == [False]
    assert client.metrics.cooldown_waits == 1
    assert client.metrics.cooldown_seconds > 0


# --- sanitisation -----------------------------------------------------------------------------------


FAILURES: list[tuple[str, Callable[[], Gateway], type[CrmError]]] = [
    ("search", lambda: Gateway(status(401)), CrmAuthError),
    ("search", lambda: Gateway(status(503)), CrmUnavailable),
    ("search", lambda: Gateway(httpx.ConnectError(f"refused https://gw.example/api?token={TOKEN}")), CrmUnavailable),
    ("search", lambda: Gateway(httpx.Response(200, content=b"not json")), CrmBadResponse),
    ("details", lambda: Gateway(status(404)), CrmNotFound),
    ("details", lambda: Gateway(refused(f"bad token {TOKEN}")), CrmUnavailable),
]


@pytest.mark.parametrize(("call", "gateway", "kind"), FAILURES, ids=[f"{c}-{k.__name__}" for c, _, k in FAILURES])
async def test_errors_leak_neither_token_nor_query(make_client, call, gateway, kind):
    gateway = gateway()
    client = make_client(gateway)
    if call == "search":
        request = client.search_sales(date(2025, 1, 1), date(2025, 1, 2), include_recordings=True)
    else:
        request = client.fiche_details("1762209")
    with pytest.raises(kind) as caught:
        await request
    error = caught.value
    for text in (str(error), repr(error), repr(client)):
        assert TOKEN not in text
        assert "Bearer" not in text
        assert "start_date" not in text
        assert "include_recordings=" not in text
        assert "?" not in text
    assert ("GET /fiches/sales-with-calls" if call == "search" else "GET /fiches/by-id/1762209") in str(error)
    # No httpx exception (which holds the request and its headers) anywhere in the chain.
    chained, link = [], error.__cause__ or error.__context__
    while link is not None:
        chained.append(link)
        link = link.__cause__ or link.__context__
    assert not any(isinstance(e, httpx.HTTPError) for e in chained)


async def test_invalid_budget_is_refused(make_client):
    with pytest.raises(ValueError, match="budget"):
        await make_client(Gateway(ok_details())).fiche_details("1", budget_seconds=0)


async def test_details_are_returned_raw(make_client):
    """Parsing and normalising is `domain.crm`'s job: the client returns the JSON as it came."""
    body = details_body("42")
    gateway = Gateway(httpx.Response(200, content=json.dumps(body).encode()))
    assert await make_client(gateway).fiche_details("42") == body
