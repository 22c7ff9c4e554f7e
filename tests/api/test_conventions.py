"""App-wide conventions: the error contract, envelopes, ids, scoped lists, headers, CORS, OpenAPI."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest
import sqlalchemy
from fastapi import FastAPI

from api.errors import ErrorBody, install_error_handlers, stream_error_frame
from domain.errors import (
    ConflictError,
    DomainError,
    FieldIssue,
    InvalidError,
    LockHeld,
    NotFoundError,
    UnavailableError,
)
from domain.scorecards.service import LastStep, NameTaken, ScorecardInUse, ScorecardNotFound, StaleStep, StepNotFound
from domain.scorecards.validation import InvalidScorecard
from domain.upstream import UpstreamError
from resources.crm.errors import CrmAuthError, CrmCapUnavailable, CrmUnavailable
from resources.database import create_api_engine
from resources.redis import LockNotAcquired, RedisUnavailable, SemaphoreUnavailable
from runs.launcher import LaunchFailed
from tests.fixtures.world import World


async def test_validation_errors_name_the_field(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/login", json={"email": "a@b.c", "password": "short"})
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False
    assert body["code"] == "VALIDATION_ERROR"
    assert body["field"] == "body.password"
    assert body["error"].startswith("Validation error: body.password")
    assert body["details"][0]["field"] == "body.password"


async def test_invalid_json_has_its_own_code(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/login", content=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_JSON"


async def test_unknown_api_route_is_a_structured_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/nope")
    assert response.status_code == 404
    assert response.json() == {"success": False, "error": "Route not found", "code": "NOT_FOUND"}


@pytest.mark.parametrize("bad", ["0", "-1", "9223372036854775808", "1.5", "01"])
async def test_path_ids_are_validated(client: httpx.AsyncClient, world: World, bad: str) -> None:
    response = await client.get(f"/api/admin/users/{bad}", headers=world.headers("admin"))
    assert response.status_code == 400
    assert response.json()["field"] == "path.user_id"


async def test_a_word_where_an_id_goes_is_another_route(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get("/api/admin/users/abc", headers=world.headers("admin"))
    assert response.status_code == 404
    assert response.json()["error"] == "Route not found"


async def test_text_postgres_cannot_store_is_refused(client: httpx.AsyncClient, world: World) -> None:
    response = await client.post("/api/admin/teams", json={"name": "bad\u0000name"}, headers=world.headers("admin"))
    assert response.status_code == 400
    assert response.json()["field"] == "body.name"


async def test_success_envelope_ids_and_dates(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get(f"/api/admin/users/{world.users['viewer']}", headers=world.headers("admin"))
    data = response.json()["data"]
    assert response.json()["success"] is True
    assert data["id"] == str(world.users["viewer"])
    assert data["created_at"].endswith("Z") or "+" in data["created_at"]


async def test_instance_and_request_id_headers(client: httpx.AsyncClient, world: World) -> None:
    for response in (
        await client.get("/api/auth/me"),
        await client.get("/api/auth/me", headers=world.headers("viewer")),
    ):
        assert response.headers["X-Backend-Instance"]
        assert response.headers["X-Request-Id"]


async def test_cors_comes_from_configuration(app_factory: Any) -> None:
    application = await app_factory(cors_origins="https://app.example.test")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://test") as client:
        allowed = await client.options(
            "/api/auth/login",
            headers={"Origin": "https://app.example.test", "Access-Control-Request-Method": "POST"},
        )
        assert allowed.headers["access-control-allow-origin"] == "https://app.example.test"
        assert allowed.headers["access-control-allow-credentials"] == "true"
        denied = await client.options(
            "/api/auth/login",
            headers={"Origin": "https://evil.example.test", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in denied.headers


@pytest.mark.parametrize(
    ("principal", "visible"),
    [("viewer", ["F-OWN"]), ("operator", ["F-OWN"]), ("self_user", ["F-OWN"]), ("admin", ["F-OWN", "F-OTHER"]),
     ("token", ["F-OWN"])],
)  # fmt: skip
async def test_lists_are_filtered_in_sql(
    client: httpx.AsyncClient, world: World, principal: str, visible: list[str]
) -> None:
    response = await client.get("/api/_probe/fiches", headers=world.headers(principal))
    body = response.json()
    assert [f["fiche_id"] for f in body["data"]] == visible
    assert body["pagination"]["total"] == len(visible)


async def test_pages_and_totals_count_visible_rows_only(client: httpx.AsyncClient, world: World) -> None:
    for index in range(5):
        await world.add_fiche(f"F-OWN-{index}", "G-OWN", "crm-someone")
        await world.add_fiche(f"F-OTHER-{index}", "G-OTHER", "crm-someone")
    await world.commit()
    first = (await client.get("/api/_probe/fiches", params={"limit": 4}, headers=world.headers("viewer"))).json()
    assert first["pagination"] == {"page": 1, "limit": 4, "total": 6, "total_pages": 2}
    second = (
        await client.get("/api/_probe/fiches", params={"limit": 4, "page": 2}, headers=world.headers("viewer"))
    ).json()
    ids = [f["fiche_id"] for f in first["data"] + second["data"]]
    assert len(ids) == 6
    assert all(i.startswith("F-OWN") for i in ids)
    mine = (await client.get("/api/_probe/fiches", headers=world.headers("self_user"))).json()
    assert mine["pagination"]["total"] == 1  # SELF: only the fiche attributed to them


async def test_users_without_crm_link_or_team_see_nothing(client: httpx.AsyncClient, world: World) -> None:
    loner = await world.add_user("loner@example.test", roles=("operator", "agent"))
    token = world.token_for(loner)
    response = await client.get("/api/_probe/fiches", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.json()["pagination"]["total"] == 0


async def test_openapi_is_served_and_documents_the_contract(client: httpx.AsyncClient) -> None:
    docs = await client.get("/api-docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    spec = (await client.get("/api-docs.json")).json()
    assert {"bearer", "apiKey"} <= set(spec["components"]["securitySchemes"])
    login = spec["paths"]["/api/auth/login"]["post"]
    assert {"200", "400", "401", "429"} <= set(login["responses"])
    create_role = spec["paths"]["/api/admin/roles"]["post"]
    assert {"201", "401", "403", "409"} <= set(create_role["responses"])
    user = spec["components"]["schemas"]["UserOut"]
    assert user["properties"]["id"]["type"] == "string"


async def test_every_response_carries_security_headers(client: httpx.AsyncClient, world: World) -> None:
    """Drill 11: no X-Content-Type-Options, frame protection, Referrer-Policy or no-store on data."""
    responses = [
        await client.get("/api/auth/me", headers=world.headers("viewer")),  # data
        await client.get("/api/nope"),  # an error
        await client.get("/health"),
    ]
    for response in responses:
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Content-Security-Policy"] == "frame-ancestors 'none'"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "Strict-Transport-Security" not in response.headers  # plain HTTP
    assert responses[0].headers["Cache-Control"] == "no-store"
    tls = httpx.AsyncClient(transport=client._transport, base_url="https://test")
    async with tls:
        assert (await tls.get("/api/nope")).headers["Strict-Transport-Security"].startswith("max-age=")


def _raising_app(error: Exception) -> FastAPI:
    application = FastAPI()
    install_error_handlers(application)

    @application.get("/raise")
    async def _raise() -> None:
        raise error

    return application


@pytest.mark.parametrize(
    ("error", "status", "body", "retry_after"),
    [
        (NotFoundError("Scorecard 7 not found"), 404, {"error": "Scorecard 7 not found", "code": "NOT_FOUND"}, None),
        (
            ConflictError("name taken", extra={"scorecardId": "3"}),
            409,
            {"error": "name taken", "code": "CONFLICT", "scorecardId": "3"},
            None,
        ),
        (
            InvalidError("bad", issues=[FieldIssue("steps.0.weight", "must be positive"), FieldIssue("name", "empty")]),
            400,
            {
                "error": "Validation error: body.steps.0.weight: must be positive",
                "code": "VALIDATION_ERROR",
                "field": "body.steps.0.weight",
                "details": [
                    {"field": "body.steps.0.weight", "message": "must be positive"},
                    {"field": "body.name", "message": "empty"},
                ],
            },
            None,
        ),
        (
            InvalidError("unknown day", field="query.day"),
            400,
            {"error": "unknown day", "code": "VALIDATION_ERROR", "field": "query.day"},
            None,
        ),
        (
            UnavailableError("The audit could not be started: the Dagster webserver is unreachable"),
            503,
            {
                "error": "The audit could not be started: the Dagster webserver is unreachable",
                "code": "SERVICE_UNAVAILABLE",
            },
            "5",
        ),
        # Routes let a connector's failure through: the renderer names the service, never the call's path.
        (
            CrmUnavailable("HTTP 500 after 3 attempts", method="GET", path="/fiches/1?token=s3cret", attempts=3),
            502,
            {"error": "The CRM could not be reached or gave no usable answer", "code": "EXTERNAL_API_ERROR"},
            None,
        ),
        (
            CrmAuthError("HTTP 401", method="GET", path="/users"),
            502,
            {"error": "The CRM could not be reached or gave no usable answer", "code": "EXTERNAL_API_ERROR"},
            None,
        ),
        (
            UpstreamError("no answer"),
            502,
            {"error": "An outside service could not be reached or gave no usable answer", "code": "EXTERNAL_API_ERROR"},
            None,
        ),
        (
            CrmCapUnavailable("failing closed: Redis is unreachable", method="GET", path="/users"),
            503,
            {"error": "Service unavailable: cannot reach Redis to call the CRM", "code": "SERVICE_UNAVAILABLE"},
            "5",
        ),
    ],
    ids=[
        "not_found",
        "conflict",
        "invalid_issues",
        "invalid_field",
        "unavailable",
        "crm_down",
        "crm_refuses_credentials",
        "any_upstream",
        "crm_caps_down",
    ],
)
async def test_each_domain_error_kind_is_rendered_one_way(
    error: Exception, status: int, body: dict[str, Any], retry_after: str | None
) -> None:
    """Rules raise by kind, never an HTTP status, and a connector's failure reaches the same place;
    `api/errors.py` alone decides the answer."""
    transport = httpx.ASGITransport(app=_raising_app(error))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/raise")
    assert response.status_code == status
    assert response.json() == {"success": False, **body}
    assert response.headers.get("Retry-After") == retry_after


def test_the_domain_errors_the_routes_used_to_translate_are_domain_errors() -> None:
    """What routers once caught one by one now reaches the one renderer by kind."""
    assert issubclass(ScorecardNotFound, NotFoundError)
    assert issubclass(StepNotFound, NotFoundError)
    assert all(issubclass(e, ConflictError) for e in (StaleStep, ScorecardInUse, LastStep, NameTaken))
    assert issubclass(InvalidScorecard, InvalidError)
    assert issubclass(LaunchFailed, UnavailableError)
    assert NameTaken(3, "Grille").extra == {"scorecardId": "3"}


def test_the_redis_port_speaks_the_domains_errors() -> None:
    """Services catch `UnavailableError` and `LockHeld`; the Redis connector's classes are those."""
    assert all(issubclass(e, UnavailableError) for e in (RedisUnavailable, SemaphoreUnavailable))
    assert issubclass(LockNotAcquired, LockHeld)
    assert issubclass(CrmCapUnavailable, UnavailableError)
    assert not issubclass(CrmUnavailable, DomainError)  # the CRM's own failure is no kind of ours: a 502


def test_a_stream_that_already_answered_200_ends_with_the_error_body_as_its_last_event() -> None:
    frame = json.loads(stream_error_frame("the model endpoint could not be reached"))
    assert frame == {"type": "error", "error": "the model endpoint could not be reached", "code": "STREAM_ERROR"}
    assert set(frame) - {"type"} <= set(ErrorBody.model_fields)  # the renderer's fields, not a second shape


async def test_an_exhausted_pool_is_a_busy_503_not_a_database_outage(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A process with more requests at once than its pool holds answered "the database is unavailable"
    and logged an outage while Postgres was fine: an operator looked at the wrong thing."""
    engine = create_api_engine(database_url, pool_size=1, max_overflow=0, pool_timeout=0.2)
    application = FastAPI()
    install_error_handlers(application)

    @application.get("/two-connections")
    async def _two() -> None:
        async with engine.connect() as first, engine.connect() as second:  # the second never comes free
            await first.execute(sqlalchemy.text("SELECT 1"))
            await second.execute(sqlalchemy.text("SELECT 1"))

    transport = httpx.ASGITransport(app=application)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            with caplog.at_level(logging.INFO):
                answers = [await client.get("/two-connections") for _ in range(3)]
    finally:
        await engine.dispose()
    for answer in answers:
        assert answer.status_code == 503
        assert answer.json() == {
            "success": False,
            "error": "The server is busy; retry shortly",
            "code": "SERVICE_UNAVAILABLE",
        }
        assert int(answer.headers["Retry-After"]) > 0
    lines = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(lines) == 1, lines  # one line for the incident, not one per request
    assert lines[0].startswith("database connection pool exhausted")
    assert "database unavailable" not in lines[0]
