"""The authorization matrix, as data: every `/api` route x every kind of principal x own/other entity.

A new route joins the matrix by adding one `Route(...)` row: its guard, how to build a valid request
for an entity of the caller's own group or of the other group, and the expected status per principal.
`test_matrix.py` turns the rows into pytest cases and fails when a route of the app has no row.

Conventions the matrix enforces everywhere: 401 anonymous, 403 authenticated without the grant,
404 for an entity outside the caller's scope (never 403), 2xx otherwise.
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from api.auth.crypto import (
    REFRESH_TOKEN_PREFIX,  # noqa: F401 - documents the refresh token format used below
    REPORT_COOKIE_TYPE,
)
from api.auth.service import create_invite, issue_refresh_token
from api.reports import csrf
from api.reports.service import create_share_link
from api.reports.session import cookie_name
from api.reviews.service import open_dispute
from domain.audits.reviews import Actor
from domain.models import (
    OutboxDelivery,
    ProductFormule,
    ProductGamme,
    ProductGroupe,
    UserStatus,
    WebhookSubscription,
)
from domain.outbox import new_delivery_id
from domain.outbox.secrets_box import SecretBox
from domain.outbox.signing import generate_secret
from domain.rbac import Scope
from tests.fixtures.factories import scorecards as scorecard_factory
from tests.fixtures.factories.aio import add_audit, add_scorecard
from tests.fixtures.factories.automation import add_run, add_schedule
from tests.fixtures.factories.reports import add_reported_audit
from tests.fixtures.world import PASSWORD, PRINCIPALS, World

Expectation = int | tuple[int, int]  # one status, or (own entity, other group's entity)


@dataclass
class Request:
    path: dict[str, Any] = field(default_factory=dict)
    json: Any = None
    params: dict[str, Any] = field(default_factory=dict)
    form: dict[str, str] | None = None  # a form-encoded body (the report pages' sign-in and sign-out)
    headers: dict[str, str] = field(default_factory=dict)  # sent with the principal's


Prepare = Callable[[World, str], Awaitable[Request]]


async def _nothing(world: World, ownership: str) -> Request:
    return Request()


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    guard: str | None  # "<key>.<suffix>" checked by `require`, "user" (a user session), None (public)
    expect: Mapping[str, Expectation]
    prepare: Prepare = _nothing
    entity: bool = False  # whether the own / other axis applies
    enveloped: bool = True  # False: the success body is a bare document (the scorecard export)
    stream: bool = False  # the success is a server-sent event stream (checked by its headers)
    media: str = "application/json"  # the success body's type: report pages are HTML, recordings audio

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path

    def expected(self, principal: str, ownership: str) -> int:
        value = self.expect[principal]
        if isinstance(value, tuple):
            return value[0] if ownership == "own" else value[1]
        return value


def admin_only(ok: int = 200) -> dict[str, Expectation]:
    return {"anonymous": 401, "viewer": 403, "operator": 403, "self_user": 403, "admin": ok, "token": 403}


def public(ok: int = 200) -> dict[str, Expectation]:
    return dict.fromkeys(PRINCIPALS, ok)


def authenticated(ok: int = 200) -> dict[str, Expectation]:
    expect: dict[str, Expectation] = dict.fromkeys(PRINCIPALS, ok)
    return expect | {"anonymous": 401}


def users_only(ok: int = 200) -> dict[str, Expectation]:
    return {"anonymous": 401, "viewer": ok, "operator": ok, "self_user": ok, "admin": ok, "token": 403}


# --- request builders -----------------------------------------------------------------------------


async def _fiche_topic_query(world: World, ownership: str) -> Request:
    return Request(params={"topic": f"fiche:{world.fiche_ids[ownership]}", "replay": "false"})


async def _fiche_topic_body(world: World, ownership: str) -> Request:
    return Request(json={"topic": f"fiche:{world.fiche_ids[ownership]}"})


async def _login(world: World, ownership: str) -> Request:
    return Request(json={"email": world.emails["viewer"], "password": PASSWORD})


async def _refresh_token(world: World, ownership: str) -> Request:
    issued, _ = await issue_refresh_token(
        world.session, world.users["viewer"], ttl_seconds=3600, ip=None, user_agent=None
    )
    return Request(json={"refresh_token": issued.token})


async def _invitation(world: World, ownership: str) -> Request:
    user_id = await world.add_user(
        f"{world.unique('invited')}@example.test", status=UserStatus.INVITED, password=None, team="own"
    )
    token, _ = await create_invite(world.session, user_id, created_by_id=None, ttl_seconds=3600)
    return Request(json={"invite_token": token, "password": "a brand new password"})


async def _new_user_body(world: World, ownership: str) -> Request:
    return Request(json={"email": f"{world.unique('new')}@example.test", "role_keys": ["viewer"]})


async def _group_user(world: World, ownership: str) -> Request:
    return Request(path={"user_id": world.users["viewer" if ownership == "own" else "other"]})


async def _fresh_group_user(world: World, ownership: str) -> Request:
    user_id = await world.add_user(f"{world.unique('member')}@example.test", team=ownership)
    return Request(path={"user_id": user_id}, json={"crm_user_id": world.unique("crm")})


async def _fresh_invited_user(world: World, ownership: str) -> Request:
    user_id = await world.add_user(
        f"{world.unique('invitee')}@example.test", team=ownership, status=UserStatus.INVITED, password=None
    )
    return Request(path={"user_id": user_id})


async def _new_role_body(world: World, ownership: str) -> Request:
    return Request(
        json={
            "key": world.unique("role"),
            "name": "Auditors",
            "permission_grants": [{"key": "audits", "read": True, "write": False, "scope": "GROUP"}],
        }
    )


async def _agent_role(world: World, ownership: str) -> Request:
    return Request(path={"role_id": world.roles["agent"]})


async def _fresh_role(world: World, ownership: str) -> Request:
    role_id = await world.add_role(world.unique("temp"), {"fiches": (True, False, Scope.SELF)})
    return Request(path={"role_id": role_id}, json={"name": "Renamed", "permission_keys": ["fiches.read"]})


async def _new_team_body(world: World, ownership: str) -> Request:
    return Request(json={"crm_group_id": world.unique("G"), "name": "New team"})


async def _group_team(world: World, ownership: str) -> Request:
    return Request(path={"team_id": world.teams[ownership]}, json={"responsable_1": "Someone"})


async def _group_team_force(world: World, ownership: str) -> Request:
    return Request(path={"team_id": world.teams[ownership]}, params={"force": "true"})


async def _team_membership(world: World, ownership: str) -> Request:
    user = "viewer" if ownership == "own" else "other"
    return Request(
        path={"team_id": world.teams[ownership], "user_id": world.users[user]},
        json={"user_id": str(world.users[user])},
    )


async def _new_token_body(world: World, ownership: str) -> Request:
    return Request(
        json={
            "name": "ci",
            "owner_user_id": str(world.users["operator"]),
            "permission_grants": [{"key": "fiches", "read": True, "scope": "GROUP"}],
        }
    )


async def _group_token(world: World, ownership: str) -> Request:
    owner = "operator" if ownership == "own" else "other"
    token_id, _ = await world.add_api_token(owner, {"fiches": (Scope.GROUP, None)})
    return Request(path={"token_id": token_id})


async def _group_fiche(world: World, ownership: str) -> Request:
    return Request(path={"fiche_id": world.fiches[ownership]})


async def _group_fiche_id(world: World, ownership: str) -> Request:
    return Request(path={"fiche_id": world.fiche_ids[ownership]})


async def _group_fiche_with_details(world: World, ownership: str) -> Request:
    await world.store_details(ownership)
    return Request(path={"fiche_id": world.fiche_ids[ownership]})


async def _status_batch(world: World, ownership: str) -> Request:
    return Request(json={"fiche_ids": [world.fiche_ids["own"], world.fiche_ids["other"], "999"]})


async def _a_day(world: World, ownership: str) -> Request:
    return Request(params={"date": "2025-03-03"})


async def _future_range(world: World, ownership: str) -> Request:
    # Entirely in the future: nothing to fetch, so the matrix checks access without launching a job.
    return Request(params={"start_date": "2099-01-01", "end_date": "2099-01-05"})


async def _transcribed_recording(world: World, ownership: str) -> Request:
    call_id = await world.add_transcript(ownership)
    return Request(path={"fiche_id": world.fiche_ids[ownership], "call_id": call_id})


async def _transcription_batch(world: World, ownership: str) -> Request:
    # "other": the caller's own fiche plus the other group's; one out of scope refuses the whole batch.
    ids = [world.fiche_ids["own"]] + ([world.fiche_ids["other"]] if ownership == "other" else [])
    return Request(json={"fiche_ids": ids, "priority": "high"})


async def _group_audit(world: World, ownership: str) -> Request:
    audit_id = await add_audit(world.session, world.fiche_ids[ownership], await add_scorecard(world.session))
    return Request(path={"audit_id": audit_id, "position": 1, "index": 1}, json={"notes": "Relu"})


async def _step_review(world: World, ownership: str) -> Request:
    request = await _group_audit(world, ownership)
    return Request(path=request.path, json={"conforme": "PARTIEL", "score": 3, "reason": "Présentation incomplète"})


async def _point_review(world: World, ownership: str) -> Request:
    request = await _group_audit(world, ownership)
    return Request(path=request.path, json={"statut": "ABSENT", "reason": "Pas entendu"})


async def _rerun(world: World, ownership: str) -> Request:
    request = await _group_audit(world, ownership)
    return Request(path=request.path, json={"customPrompt": "Le consentement est dans le 2e appel"})


async def _dispute_body(world: World, ownership: str) -> Request:
    request = await _group_audit(world, ownership)
    return Request(path=request.path, json={"comment": "Le nom de la société a été dit à 00:42"})


async def _dispute(world: World, ownership: str) -> Request:
    request = await _group_audit(world, ownership)
    audit_id = request.path["audit_id"]

    def open_one(session: Session) -> int:
        actor = Actor(world.users["self_user"], "user:self")
        return open_dispute(session, audit_id, 1, index=2, comment="Dit à 00:42", actor=actor).id

    dispute_id = await world.session.run_sync(open_one)
    return Request(
        path={"dispute_id": dispute_id}, json={"decision": "accepted", "statut": "PRESENT", "comment": "Oui"}
    )


async def _chat_audit(world: World, ownership: str) -> Request:
    request = await _group_audit(world, ownership)
    return Request(path={"audit_id": request.path["audit_id"]}, json={"message": "Le délai de carence est-il cité ?"})


async def _chat_fiche(world: World, ownership: str) -> Request:
    return Request(path={"fiche_id": world.fiche_ids[ownership]}, json={"message": "Qui est l'assureur actuel ?"})


async def _audit_run(world: World, ownership: str) -> Request:
    scorecard = await add_scorecard(world.session)
    return Request(json={"fiche_id": world.fiche_ids[ownership], "scorecard_id": scorecard.id, "useRlm": True})


async def _audit_run_latest(world: World, ownership: str) -> Request:
    await add_scorecard(world.session)
    return Request(json={"fiche_id": world.fiche_ids[ownership], "priority": "high"})


async def _audit_batch(world: World, ownership: str) -> Request:
    # "other": the caller's own fiche plus the other group's; one out of scope refuses the whole batch.
    ids = [world.fiche_ids["own"]] + ([world.fiche_ids["other"]] if ownership == "other" else [])
    scorecard = await add_scorecard(world.session)
    return Request(json={"fiche_ids": ids, "audit_config_id": scorecard.id})


async def _group_fiche_audit(world: World, ownership: str) -> Request:
    await _group_audit(world, ownership)
    return Request(path={"fiche_id": world.fiche_ids[ownership]})


async def _audits_by_status(world: World, ownership: str) -> Request:
    return Request(params={"group_by": "status"})


async def _facts_week(world: World, ownership: str) -> Request:
    return Request(params={"from": "2026-11-23", "to": "2026-11-29"})


async def _fetch_job(world: World, ownership: str) -> Request:
    return Request(path={"job_id": await world.add_fetch_job("operator")})


async def _fetch_job_query(world: World, ownership: str) -> Request:
    return Request(params={"jobId": await world.add_fetch_job("operator")})


async def _crm_user(world: World, ownership: str) -> Request:
    return Request(json={"crm_user_id": await world.first_crm_user_id()})


async def _scorecard_ids(world: World, steps: int = 3) -> tuple[int, list[int]]:
    """A fresh scorecard (domain service) and its current step ids."""

    def create(session: Session) -> tuple[int, list[int]]:
        scorecard = scorecard_factory.add_scorecard(session, steps=steps)
        version = scorecard.current_version
        assert version is not None
        return scorecard.id, [step.id for step in version.steps]

    return await world.session.run_sync(create)


async def _scorecard(world: World, ownership: str) -> Request:
    scorecard_id, _ = await _scorecard_ids(world)
    return Request(path={"scorecard_id": scorecard_id, "version": 1}, json={"isActive": False})


async def _scorecard_step(world: World, ownership: str) -> Request:
    _, step_ids = await _scorecard_ids(world)
    return Request(path={"step_id": step_ids[0]}, json={"weight": 7})


async def _scorecard_new_step(world: World, ownership: str) -> Request:
    scorecard_id, _ = await _scorecard_ids(world)
    return Request(path={"scorecard_id": scorecard_id}, json=scorecard_factory.step_json(1, position=2))


async def _scorecard_reorder(world: World, ownership: str) -> Request:
    scorecard_id, step_ids = await _scorecard_ids(world)
    return Request(path={"scorecard_id": scorecard_id}, json={"stepIds": [str(i) for i in reversed(step_ids)]})


async def _scorecard_body(world: World, ownership: str) -> Request:
    return Request(json={"name": world.unique("Grille"), "steps": [scorecard_factory.step_json(1)]})


async def _scorecard_document(world: World, ownership: str) -> Request:
    return Request(json=scorecard_factory.sample_document())


async def _subscription_id(world: World, ownership: str) -> int:
    """A webhook subscription of the operator ("own") or of the other group's operator ("other")."""
    owner = "operator" if ownership == "own" else "other"
    subscription = WebhookSubscription(
        owner_user_id=world.users[owner],
        url="http://127.0.0.1:9/hooks",
        event_types=["audit.completed"],
        secret_encrypted=SecretBox(world.settings.webhook_secrets_source).seal(generate_secret()),
    )
    world.session.add(subscription)
    await world.session.flush()
    return subscription.id


async def _subscription(world: World, ownership: str) -> Request:
    return Request(path={"subscription_id": await _subscription_id(world, ownership)})


async def _subscription_patch(world: World, ownership: str) -> Request:
    return Request(path={"subscription_id": await _subscription_id(world, ownership)}, json={"enabled": False})


async def _secret_rotation(world: World, ownership: str) -> Request:
    return Request(path={"subscription_id": await _subscription_id(world, ownership)}, json={"overlap_seconds": 60})


async def _new_subscription_body(world: World, ownership: str) -> Request:
    return Request(json={"url": "http://127.0.0.1:9/hooks", "event_types": ["audit.failed"]})


async def _delivery(world: World, ownership: str) -> Request:
    subscription_id = await _subscription_id(world, ownership)
    delivery = OutboxDelivery(
        id=new_delivery_id(),
        channel="webhook",
        subscription_id=subscription_id,
        event_type="audit.completed",
        body="{}",
        status="failed",
        next_attempt_at=dt.datetime.now(dt.UTC),
    )
    world.session.add(delivery)
    await world.session.flush()
    return Request(path={"delivery_id": delivery.id})


_GROUPS = {"own": "G-OWN", "other": "G-OTHER"}


async def _new_schedule_body(world: World, ownership: str) -> Request:
    selection = {"dateRange": "yesterday", "groupes": [_GROUPS[ownership]]}
    return Request(json={"name": "Veille", "scheduleType": "MANUAL", "ficheSelection": selection})


async def _group_schedule(world: World, ownership: str) -> Request:
    schedule_id = await add_schedule(world.session, _GROUPS[ownership])
    run_id = await add_run(world.session, schedule_id)
    return Request(path={"schedule_id": schedule_id, "run_id": run_id}, json={"description": "Relu"})


async def _schedule_trigger(world: World, ownership: str) -> Request:
    schedule_id = await add_schedule(world.session, _GROUPS[ownership])
    return Request(json={"scheduleId": str(schedule_id)})


async def _reported_audit(world: World, ownership: str) -> Request:
    audit_id, call_id = await add_reported_audit(world, ownership)
    return Request(path={"audit_id": audit_id, "fiche_id": world.fiche_ids[ownership], "call_id": call_id})


async def _new_share_link(world: World, ownership: str) -> Request:
    audit_id, _ = await add_reported_audit(world, ownership)
    return Request(path={"audit_id": audit_id}, json={"expires_in_hours": 2})


async def _share_link(world: World, ownership: str) -> Request:
    audit_id, _ = await add_reported_audit(world, ownership)
    link, _token = await create_share_link(world.session, audit_id, None, dt.timedelta(hours=1))
    return Request(path={"audit_id": audit_id, "link_id": link.id})


async def _shared(world: World, ownership: str) -> Request:
    # Public: the link is the credential, so every caller reads the same (own group's) audit.
    audit_id, call_id = await add_reported_audit(world, "own")
    _, token = await create_share_link(world.session, audit_id, None, dt.timedelta(hours=1))
    return Request(path={"token": token, "call_id": call_id})


async def _report_day(world: World, ownership: str) -> Request:
    return Request(path={"day": "2025-03-03"})


async def _sign_in_form(world: World, ownership: str) -> Request:
    # Public: the form is the credential; the CSRF pair is what its GET gives a browser.
    nonce = secrets.token_urlsafe(32)
    token = csrf.issue_token(world.keyring, csrf.SIGN_IN, nonce)
    form = {"email": world.emails["viewer"], "password": PASSWORD, "csrf_token": token}
    return Request(form=form, headers={"Cookie": f"{csrf.login_cookie_name(world.settings)}={nonce}"})


async def _sign_out_form(world: World, ownership: str) -> Request:
    issued, _ = await issue_refresh_token(
        world.session, world.users["viewer"], ttl_seconds=3600, ip=None, user_agent=None
    )
    cookie = world.keyring.issue_access_token(
        str(world.users["viewer"]), 600, {"sid": issued.family_id}, typ=REPORT_COOKIE_TYPE
    )
    token = csrf.issue_token(world.keyring, csrf.SIGN_OUT, cookie)
    return Request(form={"csrf_token": token}, headers={"Cookie": f"{cookie_name(world.settings)}={cookie}"})


async def _product_ids(world: World) -> tuple[int, int, int]:
    """An insurer, one of its ranges and one of its plans (the catalogue is global: no own / other)."""
    groupe = ProductGroupe(code="QQ", libelle="QUALIA")
    world.session.add(groupe)
    await world.session.flush()
    gamme = ProductGamme(groupe_id=groupe.id, code="QUA", libelle="Qualia Santé")
    world.session.add(gamme)
    await world.session.flush()
    formule = ProductFormule(gamme_id=gamme.id, code="Q1", libelle="Q1", garanties_html="https://x.test/q1.html")
    world.session.add(formule)
    await world.session.flush()
    return groupe.id, gamme.id, formule.id


async def _product_groupe(world: World, ownership: str) -> Request:
    groupe_id, _, _ = await _product_ids(world)
    return Request(path={"groupe_id": groupe_id}, json={"libelle": "QUALIA 2"})


async def _product_gamme(world: World, ownership: str) -> Request:
    _, gamme_id, _ = await _product_ids(world)
    return Request(path={"gamme_id": gamme_id}, json={"libelle": "Qualia Plus"})


async def _product_formule(world: World, ownership: str) -> Request:
    _, _, formule_id = await _product_ids(world)
    return Request(path={"formule_id": formule_id}, json={"dentaire": "200 %"})


async def _new_product_groupe(world: World, ownership: str) -> Request:
    return Request(json={"code": "QN", "libelle": "NOUVEAU"})


async def _new_product_gamme(world: World, ownership: str) -> Request:
    groupe_id, _, _ = await _product_ids(world)
    return Request(json={"groupeId": str(groupe_id), "code": "NEW", "libelle": "Nouvelle"})


async def _new_product_formule(world: World, ownership: str) -> Request:
    _, gamme_id, _ = await _product_ids(world)
    return Request(
        json={"gammeId": str(gamme_id), "code": "Q2", "libelle": "Q2", "garantiesHtml": "https://x.test/q2.html"}
    )


async def _product_document(world: World, ownership: str) -> Request:
    plan = {"code": "Q1", "libelle": "Q1", "garanties_html": "https://x.test/q1.html"}
    gamme = {"code": "QUA", "libelle": "Qualia Santé", "formules": [plan]}
    groupe = {"code": "QQ", "libelle": "QUALIA", "gammes": [gamme]}
    return Request(json={"format": "callaudit.products/1", "groupes": [groupe]})


async def _product_search(world: World, ownership: str) -> Request:
    return Request(params={"q": "qual"})


# --- the matrix -----------------------------------------------------------------------------------

SCOPED_READ: dict[str, Expectation] = {
    "anonymous": 401,
    "viewer": (200, 404),
    "operator": (200, 404),
    "self_user": (200, 404),  # SELF: the own fiche is attributed to them, the other is not
    "admin": (200, 200),
    "token": (200, 404),  # fiches read GROUP, within its owner's (operator's) group
}
SCOPED_WRITE: dict[str, Expectation] = {
    "anonymous": 401,
    "viewer": 403,  # read-only role: no grant, whatever the entity
    "operator": (200, 404),
    "self_user": 403,
    "admin": (200, 200),
    "token": 403,  # the token only has fiches read
}

WEBHOOKS: dict[str, Expectation] = {
    "anonymous": 401,
    "viewer": 403,
    "operator": (200, 404),  # SELF: their own subscriptions only
    "self_user": 403,
    "admin": (200, 200),
    "token": 403,
}
WEBHOOKS_REDELIVER: dict[str, Expectation] = WEBHOOKS | {"operator": (202, 404), "admin": (202, 202)}
WEBHOOKS_LIST: dict[str, Expectation] = {
    "anonymous": 401,
    "viewer": 403,
    "operator": 200,
    "self_user": 403,
    "admin": 200,
    "token": 403,
}
WEBHOOKS_CREATE: dict[str, Expectation] = WEBHOOKS_LIST | {"operator": 201, "admin": 201}

FICHES_LIST: dict[str, Expectation] = users_only() | {"token": 200}
# a live CRM search needs `fiches.fetch` too: operator (GROUP) and admin only
FICHES_SEARCH: dict[str, Expectation] = FICHES_LIST | {"viewer": 403, "self_user": 403, "token": 403}
RECORDINGS_READ: dict[str, Expectation] = {
    "anonymous": 401,
    "viewer": (200, 404),
    "operator": (200, 404),
    "self_user": 403,
    "admin": (200, 200),
    "token": 403,
}

TRANSCRIPTIONS_READ: dict[str, Expectation] = RECORDINGS_READ  # same grants: viewer/operator GROUP, admin ALL
TRANSCRIPTIONS_WRITE: dict[str, Expectation] = {
    "anonymous": 401,
    "viewer": 403,
    "operator": (202, 404),
    "self_user": 403,
    "admin": (202, 202),
    "token": 403,
}

# audits: viewer reads GROUP, operator reads and writes GROUP, the agent reads SELF, the token has no audits grant
AUDITS_LIST: dict[str, Expectation] = users_only()
AUDITS_READ: dict[str, Expectation] = SCOPED_READ | {"token": 403}
AUDITS_WRITE: dict[str, Expectation] = SCOPED_WRITE
AUDITS_RUN: dict[str, Expectation] = {**SCOPED_WRITE, "operator": (202, 404), "admin": (202, 202)}
# overriding and rerunning: `audits.review` / `audits.rerun`, operator GROUP and admin only
AUDITS_REVIEW: dict[str, Expectation] = SCOPED_WRITE
# opening a dispute: whoever may read the audit (the agent on its own fiche)
AUDITS_DISPUTE: dict[str, Expectation] = {
    "anonymous": 401,
    "viewer": (201, 404),
    "operator": (201, 404),
    "self_user": (201, 404),
    "admin": (201, 201),
    "token": 403,
}

# chat: `chat.read` / `chat.use` plus read access to the audit or fiche, in the narrower scope of both;
# viewer and operator (GROUP), the agent (SELF, its own fiche), admin; the token has no chat grant
CHAT: dict[str, Expectation] = AUDITS_READ

# realtime: viewer and operator follow their group's topics, the agent and the API token have no grant
REALTIME: dict[str, Expectation] = {
    "anonymous": 401,
    "viewer": (200, 404),
    "operator": (200, 404),
    "self_user": 403,
    "admin": (200, 200),
    "token": 403,
}

# audit-configs: global (no scope); viewer and operator read, only admin writes, agent and token have no grant
SCORECARDS_READ: dict[str, Expectation] = users_only() | {"self_user": 403}

# automation: viewer reads GROUP, operator reads and writes GROUP (schedules of their teams' groups only);
# the agent and the token have no automation grant. Creating for another group's groupes is a 400 naming the field.
AUTOMATION_READ: dict[str, Expectation] = {**RECORDINGS_READ}
AUTOMATION_LIST: dict[str, Expectation] = users_only() | {"self_user": 403}
AUTOMATION_WRITE: dict[str, Expectation] = SCOPED_WRITE
AUTOMATION_CREATE: dict[str, Expectation] = {**SCOPED_WRITE, "operator": (201, 400), "admin": (201, 201)}
AUTOMATION_TRIGGER: dict[str, Expectation] = {**SCOPED_WRITE, "operator": (202, 404), "admin": (202, 202)}

# products: global catalogue; the agent role and the token (fiches read only) have no products grant
PRODUCTS_READ: dict[str, Expectation] = users_only() | {"self_user": 403}

HTML = "text/html"
AUDIO = "audio/wav"
PARQUET = "application/vnd.apache.parquet"

ROUTES: tuple[Route, ...] = (
    # auth: public bootstrap (credentials in the body), and the caller's identity
    Route("POST", "/api/auth/login", None, public(), _login),
    Route("POST", "/api/auth/refresh", None, public(), _refresh_token),
    Route("POST", "/api/auth/logout", None, public(), _refresh_token),
    Route("POST", "/api/auth/invite/accept", None, public(), _invitation),
    Route("GET", "/api/auth/me", "user", users_only()),
    # admin: users
    Route("GET", "/api/admin/users", "admin.users.read", admin_only()),
    Route("POST", "/api/admin/users", "admin.users.write", admin_only(201), _new_user_body),
    Route("GET", "/api/admin/users/{user_id}", "admin.users.read", admin_only(), _group_user, entity=True),
    Route("PATCH", "/api/admin/users/{user_id}", "admin.users.write", admin_only(), _fresh_group_user, entity=True),
    Route(
        "POST",
        "/api/admin/users/{user_id}/invite",
        "admin.users.write",
        admin_only(201),
        _fresh_invited_user,
        entity=True,
    ),
    # admin: roles and permissions
    Route("GET", "/api/admin/roles", "admin.roles.read", admin_only()),
    Route("POST", "/api/admin/roles", "admin.roles.write", admin_only(201), _new_role_body),
    Route("GET", "/api/admin/roles/{role_id}", "admin.roles.read", admin_only(), _agent_role),
    Route("PATCH", "/api/admin/roles/{role_id}", "admin.roles.write", admin_only(), _fresh_role),
    Route("DELETE", "/api/admin/roles/{role_id}", "admin.roles.write", admin_only(), _fresh_role),
    Route("GET", "/api/admin/permissions", "admin.permissions.read", admin_only()),
    # admin: teams
    Route("GET", "/api/admin/teams", "admin.users.read", admin_only()),
    Route("POST", "/api/admin/teams", "admin.users.write", admin_only(201), _new_team_body),
    Route("GET", "/api/admin/teams/{team_id}", "admin.users.read", admin_only(), _group_team, entity=True),
    Route("PATCH", "/api/admin/teams/{team_id}", "admin.users.write", admin_only(), _group_team, entity=True),
    Route("DELETE", "/api/admin/teams/{team_id}", "admin.users.write", admin_only(), _group_team_force, entity=True),
    Route(
        "POST",
        "/api/admin/teams/{team_id}/members",
        "admin.users.write",
        admin_only(),
        _team_membership,
        entity=True,
    ),
    Route(
        "DELETE",
        "/api/admin/teams/{team_id}/members/{user_id}",
        "admin.users.write",
        admin_only(),
        _team_membership,
        entity=True,
    ),
    # admin: API tokens
    Route("GET", "/api/admin/api-tokens", "admin.users.read", admin_only()),
    Route("POST", "/api/admin/api-tokens", "admin.users.write", admin_only(201), _new_token_body),
    Route("GET", "/api/admin/api-tokens/{token_id}", "admin.users.read", admin_only(), _group_token, entity=True),
    Route("DELETE", "/api/admin/api-tokens/{token_id}", "admin.users.write", admin_only(), _group_token, entity=True),
    # admin: the CRM directory (in-process simulator in tests)
    Route("GET", "/api/admin/crm/users", "admin.users.read", admin_only()),
    Route("GET", "/api/admin/crm/teams", "admin.users.read", admin_only()),
    Route("POST", "/api/admin/teams/sync-from-crm", "admin.users.write", admin_only()),
    Route("POST", "/api/admin/users/from-crm", "admin.users.write", admin_only(201), _crm_user),
    # fiches: scoped by the fiches grant (`token` reads GROUP within its owner's group)
    Route("GET", "/api/fiches", "fiches.read", FICHES_LIST),
    Route("GET", "/api/fiches/search", "fiches.read", FICHES_SEARCH, _a_day),
    Route("POST", "/api/fiches/search", "fiches.read", FICHES_SEARCH, _a_day),
    Route("POST", "/api/fiches/status/batch", "fiches.read", FICHES_LIST, _status_batch),
    Route("GET", "/api/fiches/status/by-date", "fiches.read", FICHES_LIST, _a_day),
    Route("GET", "/api/fiches/status/by-date-range", "fiches.read", FICHES_LIST, _future_range),
    Route("POST", "/api/fiches/status/by-date-range", "fiches.read", FICHES_LIST, _future_range),
    Route("GET", "/api/fiches/jobs", "fiches.read", FICHES_LIST),
    Route("GET", "/api/fiches/jobs/{job_id}", "fiches.read", FICHES_LIST, _fetch_job),
    Route("GET", "/api/fiches/webhooks/fiches", "fiches.read", FICHES_LIST, _fetch_job_query),
    Route("GET", "/api/fiches/{fiche_id}", "fiches.read", SCOPED_READ, _group_fiche_with_details, entity=True),
    Route(
        "POST", "/api/fiches/{fiche_id}/refresh", "fiches.read", SCOPED_WRITE, _group_fiche_with_details, entity=True
    ),
    Route("GET", "/api/fiches/{fiche_id}/cache", "fiches.read", SCOPED_READ, _group_fiche_id, entity=True),
    Route("GET", "/api/fiches/{fiche_id}/status", "fiches.read", SCOPED_READ, _group_fiche_id, entity=True),
    # recordings: the recordings grant (the agent role and the token have none)
    Route("GET", "/api/recordings/{fiche_id}", "recordings.read", RECORDINGS_READ, _group_fiche_id, entity=True),
    # transcriptions: the transcriptions grant (read for viewer, read/write for operator; none for agent, token)
    Route(
        "POST",
        "/api/transcriptions/batch",
        "transcriptions.write",
        TRANSCRIPTIONS_WRITE,
        _transcription_batch,
        entity=True,
    ),
    Route(
        "POST",
        "/api/transcriptions/{fiche_id}",
        "transcriptions.write",
        TRANSCRIPTIONS_WRITE,
        _group_fiche_id,
        entity=True,
    ),
    Route(
        "GET",
        "/api/transcriptions/{fiche_id}/status",
        "transcriptions.read",
        TRANSCRIPTIONS_READ,
        _group_fiche_id,
        entity=True,
    ),
    Route(
        "GET",
        "/api/transcriptions/{fiche_id}/logs",
        "transcriptions.read",
        TRANSCRIPTIONS_READ,
        _group_fiche_id,
        entity=True,
    ),
    Route(
        "GET",
        "/api/transcriptions/{fiche_id}/recordings/{call_id}",
        "transcriptions.read",
        TRANSCRIPTIONS_READ,
        _transcribed_recording,
        entity=True,
    ),
    # audits: scoped through the audit's fiche under the audits grant
    Route("GET", "/api/audits", "audits.read", AUDITS_LIST),
    Route("GET", "/api/audits/grouped-by-fiches", "audits.read", AUDITS_LIST),
    Route("GET", "/api/audits/grouped", "audits.read", AUDITS_LIST, _audits_by_status),
    Route("GET", "/api/audits/control-points/statuses", None, authenticated()),
    Route("POST", "/api/audits/run", "audits.run", AUDITS_RUN, _audit_run, entity=True),
    Route("POST", "/api/audits/run-latest", "audits.run", AUDITS_RUN, _audit_run_latest, entity=True),
    Route("POST", "/api/audits/batch", "audits.run", AUDITS_RUN, _audit_batch, entity=True),
    Route("GET", "/api/audits/by-fiche/{fiche_id}", "audits.read", AUDITS_READ, _group_fiche_audit, entity=True),
    Route("GET", "/api/audits/{audit_id}", "audits.read", AUDITS_READ, _group_audit, entity=True),
    Route(
        "GET",
        "/api/audits/{audit_id}/steps/{position}/control-points/{index}",
        "audits.read",
        AUDITS_READ,
        _group_audit,
        entity=True,
    ),
    Route("PATCH", "/api/audits/{audit_id}", "audits.write", AUDITS_WRITE, _group_audit, entity=True),
    Route("GET", "/api/audits/disputes", "audits.read", AUDITS_LIST),
    Route("GET", "/api/audits/calibration", "audits.read", AUDITS_LIST),
    Route(
        "POST", "/api/audits/disputes/{dispute_id}/resolve", "audits.review.write", AUDITS_REVIEW, _dispute, entity=True
    ),
    Route(
        "PATCH",
        "/api/audits/{audit_id}/steps/{position}/review",
        "audits.review.write",
        AUDITS_REVIEW,
        _step_review,
        entity=True,
    ),
    Route(
        "PATCH",
        "/api/audits/{audit_id}/steps/{position}/control-points/{index}/review",
        "audits.review.write",
        AUDITS_REVIEW,
        _point_review,
        entity=True,
    ),
    Route(
        "POST", "/api/audits/{audit_id}/steps/{position}/rerun", "audits.rerun.write", AUDITS_RUN, _rerun, entity=True
    ),
    Route(
        "POST",
        "/api/audits/{audit_id}/steps/{position}/control-points/{index}/rerun",
        "audits.rerun.write",
        AUDITS_RUN,
        _rerun,
        entity=True,
    ),
    Route(
        "GET",
        "/api/audits/{audit_id}/steps/{position}/revisions",
        "audits.read",
        AUDITS_READ,
        _group_audit,
        entity=True,
    ),
    Route("GET", "/api/audits/{audit_id}/trail", "audits.read", AUDITS_READ, _group_audit, entity=True),
    Route("GET", "/api/audits/{audit_id}/logs", "audits.read", AUDITS_READ, _group_audit, entity=True),
    # analytics export: the audits grant and scope (rows filtered in SQL, so a list: 200 for every reader)
    Route("GET", "/api/analytics/audit-facts", "audits.read", AUDITS_LIST, _facts_week, media=PARQUET),
    Route(
        "POST",
        "/api/audits/{audit_id}/steps/{position}/control-points/{index}/disputes",
        "audits.read",
        AUDITS_DISPUTE,
        _dispute_body,
        entity=True,
    ),
    Route("DELETE", "/api/audits/{audit_id}", "audits.write", AUDITS_WRITE, _group_audit, entity=True),
    # audit reports (HTML pages, recordings' audio, share links)
    Route("GET", "/reports/audits/{audit_id}", "audits.read", AUDITS_READ, _reported_audit, entity=True, media=HTML),
    Route("GET", "/reports/days/{day}", "audits.read", AUDITS_LIST, _report_day, media=HTML),
    Route("POST", "/reports/session", "user", users_only(303)),
    Route("GET", "/reports/login", None, public(), media=HTML),
    Route("POST", "/reports/login", None, public(303), _sign_in_form),
    Route("POST", "/reports/logout", None, public(303), _sign_out_form),
    Route("GET", "/reports/shared/{token}", None, public(), _shared, media=HTML),
    Route("GET", "/reports/shared/{token}/recordings/{call_id}", None, public(), _shared, media=AUDIO),
    Route(
        "GET",
        "/api/recordings/{fiche_id}/{call_id}/audio",
        "recordings.read",
        RECORDINGS_READ,
        _reported_audit,
        entity=True,
        media=AUDIO,
    ),
    Route(
        "POST",
        "/api/reports/audits/{audit_id}/share-links",
        "audits.write",
        {**SCOPED_WRITE, "operator": (201, 404), "admin": (201, 201)},
        _new_share_link,
        entity=True,
    ),
    Route("GET", "/api/reports/audits/{audit_id}/share-links", "audits.write", AUDITS_WRITE, _share_link, entity=True),
    Route(
        "DELETE",
        "/api/reports/audits/{audit_id}/share-links/{link_id}",
        "audits.write",
        AUDITS_WRITE,
        _share_link,
        entity=True,
    ),
    # audit-configs (scorecards)
    Route("GET", "/api/audit-configs", "audit-configs.read", SCORECARDS_READ, _scorecard),
    Route("POST", "/api/audit-configs", "audit-configs.write", admin_only(201), _scorecard_body),
    Route("POST", "/api/audit-configs/import", "audit-configs.write", admin_only(201), _scorecard_document),
    Route("PUT", "/api/audit-configs/steps/{step_id}", "audit-configs.write", admin_only(), _scorecard_step),
    Route("DELETE", "/api/audit-configs/steps/{step_id}", "audit-configs.write", admin_only(), _scorecard_step),
    Route("GET", "/api/audit-configs/{scorecard_id}", "audit-configs.read", SCORECARDS_READ, _scorecard),
    Route("PUT", "/api/audit-configs/{scorecard_id}", "audit-configs.write", admin_only(), _scorecard),
    Route("DELETE", "/api/audit-configs/{scorecard_id}", "audit-configs.write", admin_only(), _scorecard),
    Route("GET", "/api/audit-configs/{scorecard_id}/versions", "audit-configs.read", SCORECARDS_READ, _scorecard),
    Route(
        "GET", "/api/audit-configs/{scorecard_id}/versions/{version}", "audit-configs.read", SCORECARDS_READ, _scorecard
    ),
    Route(
        "POST", "/api/audit-configs/{scorecard_id}/steps", "audit-configs.write", admin_only(201), _scorecard_new_step
    ),
    Route(
        "PUT",
        "/api/audit-configs/{scorecard_id}/steps/reorder",
        "audit-configs.write",
        admin_only(),
        _scorecard_reorder,
    ),
    Route("GET", "/api/audit-configs/{scorecard_id}/validate", "audit-configs.read", SCORECARDS_READ, _scorecard),
    Route("GET", "/api/audit-configs/{scorecard_id}/stats", "audit-configs.read", SCORECARDS_READ, _scorecard),
    Route(
        "GET",
        "/api/audit-configs/{scorecard_id}/export",
        "audit-configs.read",
        SCORECARDS_READ,
        _scorecard,
        enveloped=False,
    ),
    # chat: history (get-or-create) and a streamed answer, per audit and per fiche
    Route("GET", "/api/audits/{audit_id}/chat/history", "chat.read", CHAT, _chat_audit, entity=True),
    Route("POST", "/api/audits/{audit_id}/chat", "chat.use", CHAT, _chat_audit, entity=True, stream=True),
    Route("GET", "/api/fiches/{fiche_id}/chat/history", "chat.read", CHAT, _chat_fiche, entity=True),
    Route("POST", "/api/fiches/{fiche_id}/chat", "chat.use", CHAT, _chat_fiche, entity=True, stream=True),
    # realtime: topics authorized by the scope on their entity (fiche topics here)
    Route("GET", "/api/realtime/stream", "realtime.auth", REALTIME, _fiche_topic_query, entity=True, stream=True),
    Route("POST", "/api/realtime/stream-tokens", "realtime.auth", REALTIME, _fiche_topic_body, entity=True),
    # webhooks: SELF for operators (their own subscriptions), ALL for admins
    Route("GET", "/api/webhooks/subscriptions", "webhooks.read", WEBHOOKS_LIST),
    Route("POST", "/api/webhooks/subscriptions", "webhooks.write", WEBHOOKS_CREATE, _new_subscription_body),
    Route(
        "GET", "/api/webhooks/subscriptions/{subscription_id}", "webhooks.read", WEBHOOKS, _subscription, entity=True
    ),
    Route(
        "PATCH",
        "/api/webhooks/subscriptions/{subscription_id}",
        "webhooks.write",
        WEBHOOKS,
        _subscription_patch,
        entity=True,
    ),
    Route(
        "DELETE",
        "/api/webhooks/subscriptions/{subscription_id}",
        "webhooks.write",
        WEBHOOKS,
        _subscription,
        entity=True,
    ),
    Route(
        "POST",
        "/api/webhooks/subscriptions/{subscription_id}/rotate-secret",
        "webhooks.write",
        WEBHOOKS,
        _secret_rotation,
        entity=True,
    ),
    Route(
        "POST",
        "/api/webhooks/subscriptions/{subscription_id}/test",
        "webhooks.write",
        WEBHOOKS_REDELIVER,
        _subscription,
        entity=True,
    ),
    Route(
        "GET",
        "/api/webhooks/subscriptions/{subscription_id}/deliveries",
        "webhooks.read",
        WEBHOOKS,
        _subscription,
        entity=True,
    ),
    Route("GET", "/api/webhooks/deliveries/{delivery_id}", "webhooks.read", WEBHOOKS, _delivery, entity=True),
    Route(
        "POST",
        "/api/webhooks/deliveries/{delivery_id}/redeliver",
        "webhooks.write",
        WEBHOOKS_REDELIVER,
        _delivery,
        entity=True,
    ),
    # automation: schedules and runs, scoped by the schedule's CRM groups
    Route("POST", "/api/automation/schedules", "automation.write", AUTOMATION_CREATE, _new_schedule_body, entity=True),
    Route("GET", "/api/automation/schedules", "automation.read", AUTOMATION_LIST),
    Route(
        "GET",
        "/api/automation/schedules/{schedule_id}",
        "automation.read",
        AUTOMATION_READ,
        _group_schedule,
        entity=True,
    ),
    Route(
        "PATCH",
        "/api/automation/schedules/{schedule_id}",
        "automation.write",
        AUTOMATION_WRITE,
        _group_schedule,
        entity=True,
    ),
    Route(
        "DELETE",
        "/api/automation/schedules/{schedule_id}",
        "automation.write",
        AUTOMATION_WRITE,
        _group_schedule,
        entity=True,
    ),
    Route("POST", "/api/automation/trigger", "automation.write", AUTOMATION_TRIGGER, _schedule_trigger, entity=True),
    Route(
        "GET",
        "/api/automation/schedules/{schedule_id}/runs",
        "automation.read",
        AUTOMATION_READ,
        _group_schedule,
        entity=True,
    ),
    Route("GET", "/api/automation/runs", "automation.read", AUTOMATION_LIST),
    Route("GET", "/api/automation/diagnostic", "automation.read", AUTOMATION_LIST),
    Route("GET", "/api/automation/runs/{run_id}", "automation.read", AUTOMATION_READ, _group_schedule, entity=True),
    Route(
        "GET", "/api/automation/runs/{run_id}/logs", "automation.read", AUTOMATION_READ, _group_schedule, entity=True
    ),
    # products: the catalogue is global; viewer and operator read, admin writes; linking a fiche reads it too
    # (`fiches.read` scope: another group's fiche is a 404)
    Route("GET", "/api/products/stats", "products.read", PRODUCTS_READ),
    Route("GET", "/api/products/search", "products.read", PRODUCTS_READ, _product_search),
    Route(
        "GET",
        "/api/products/link-fiche/{fiche_id}",
        "products.read",
        RECORDINGS_READ,
        _group_fiche_with_details,
        entity=True,
    ),
    Route("GET", "/api/products/export", "products.read", PRODUCTS_READ, enveloped=False),
    Route("POST", "/api/products/import", "products.write", admin_only(), _product_document),
    Route("GET", "/api/products/groupes", "products.read", PRODUCTS_READ),
    Route("POST", "/api/products/groupes", "products.write", admin_only(201), _new_product_groupe),
    Route("GET", "/api/products/groupes/{groupe_id}", "products.read", PRODUCTS_READ, _product_groupe),
    Route("PUT", "/api/products/groupes/{groupe_id}", "products.write", admin_only(), _product_groupe),
    Route("DELETE", "/api/products/groupes/{groupe_id}", "products.write", admin_only(), _product_groupe),
    Route("GET", "/api/products/gammes", "products.read", PRODUCTS_READ),
    Route("POST", "/api/products/gammes", "products.write", admin_only(201), _new_product_gamme),
    Route("GET", "/api/products/gammes/{gamme_id}", "products.read", PRODUCTS_READ, _product_gamme),
    Route("PUT", "/api/products/gammes/{gamme_id}", "products.write", admin_only(), _product_gamme),
    Route("DELETE", "/api/products/gammes/{gamme_id}", "products.write", admin_only(), _product_gamme),
    Route("GET", "/api/products/formules", "products.read", PRODUCTS_READ),
    Route("POST", "/api/products/formules", "products.write", admin_only(201), _new_product_formule),
    Route("GET", "/api/products/formules/{formule_id}", "products.read", PRODUCTS_READ, _product_formule),
    Route("PUT", "/api/products/formules/{formule_id}", "products.write", admin_only(), _product_formule),
    Route("DELETE", "/api/products/formules/{formule_id}", "products.write", admin_only(), _product_formule),
    # test-only scoped family (tests/api/probe.py): the SELF / GROUP / ALL behaviour later families copy
    Route("GET", "/api/_probe/fiches", "fiches.read", users_only() | {"token": 200}),
    Route("GET", "/api/_probe/fiches/{fiche_id}", "fiches.read", SCOPED_READ, _group_fiche, entity=True),
    Route("POST", "/api/_probe/fiches/{fiche_id}/refresh", "fiches.fetch", SCOPED_WRITE, _group_fiche, entity=True),
)
