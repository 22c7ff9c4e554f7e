"""A small, complete world for API tests: seeded roles, two CRM groups, one principal of each kind.

Teams: "own" (CRM group G-OWN) and "other" (G-OTHER). Principals:

| name      | roles              | team  | CRM user     | notes                                  |
|-----------|--------------------|-------|--------------|----------------------------------------|
| viewer    | viewer (GROUP, R)  | own   | crm-viewer   |                                        |
| operator  | operator (GROUP)   | own   | crm-operator |                                        |
| self_user | agent (SELF)       | own   | crm-self     | custom role: fiches/audits R, chat RW  |
| admin     | admin (ALL)        | -     | -            |                                        |
| token     | API token          | own   | crm-operator | owned by operator, fiches read GROUP   |
| other     | operator           | other | crm-other    | a colleague of the other group         |

Fiches: "own" (group G-OWN, attributed to crm-self) and "other" (G-OTHER, attributed to crm-other).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from api.auth.crypto import API_TOKEN_PREFIX, Keyring, display_prefix, generate_token, keyring_for, passwords_for
from api.auth.service import issue_refresh_token
from callaudit.demo_crm.directory import build_directory
from callaudit.demo_crm.fiches import build_fiche
from callaudit.demo_crm.payloads import fiche_details as simulator_details
from callaudit.seed import seed_rbac
from callaudit.settings import Settings
from domain.crm.parsing import parse_fiche_details
from domain.crm.store import store_details
from domain.models import (
    ApiToken,
    ApiTokenGrant,
    Fiche,
    FicheFetchJob,
    FicheFetchJobStatus,
    Permission,
    Role,
    RolePermission,
    Team,
    TeamMember,
    User,
    UserRole,
    UserStatus,
)
from domain.rbac import Scope
from domain.transcripts.chunking import Word, build_chunks
from domain.transcripts.store import TranscriptWrite, load_recordings, store_transcript

PASSWORD = "correct horse battery staple"
PRINCIPALS = ("anonymous", "viewer", "operator", "self_user", "admin", "token")
OWNERSHIPS = ("own", "other")


@dataclass
class World:
    session: AsyncSession
    settings: Settings
    keyring: Keyring
    users: dict[str, int] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)
    teams: dict[str, int] = field(default_factory=dict)
    fiches: dict[str, int] = field(default_factory=dict)
    fiche_ids: dict[str, str] = field(default_factory=dict)
    roles: dict[str, int] = field(default_factory=dict)
    permissions: dict[str, int] = field(default_factory=dict)
    api_token: str = ""
    api_token_id: int = 0
    session_ids: dict[int, str] = field(default_factory=dict)  # user id -> its login session (`sid`)
    _counter: int = 0

    def access_token(self, name: str) -> str:
        return self.token_for(self.users[name])

    def token_for(self, user_id: int, claims: dict[str, object] | None = None) -> str:
        """An access token of the user's login session (made by `add_user`), with extra `claims`."""
        return self.keyring.issue_access_token(str(user_id), 900, {**(claims or {}), "sid": self.session_ids[user_id]})

    def headers(self, principal: str) -> dict[str, str]:
        if principal == "anonymous":
            return {}
        if principal == "token":
            return {"Authorization": f"Bearer {self.api_token}"}
        return {"Authorization": f"Bearer {self.access_token(principal)}"}

    def unique(self, stem: str) -> str:
        self._counter += 1
        return f"{stem}-{self._counter}"

    async def add_user(
        self,
        email: str,
        *,
        roles: tuple[str, ...] = ("viewer",),
        team: str | None = None,
        crm_user_id: str | None = None,
        status: UserStatus = UserStatus.ACTIVE,
        password: str | None = PASSWORD,
    ) -> int:
        user = User(
            email=email,
            status=status,
            crm_user_id=crm_user_id,
            password_hash=passwords_for(self.settings).hash_sync(password) if password else None,
        )
        self.session.add(user)
        await self.session.flush()
        self.session.add_all(UserRole(user_id=user.id, role_id=self.roles[r]) for r in roles)
        if team is not None:
            self.session.add(TeamMember(team_id=self.teams[team], user_id=user.id))
        await self.session.flush()
        issued, _ = await issue_refresh_token(self.session, user.id, ttl_seconds=86_400, ip=None, user_agent=None)
        self.session_ids[user.id] = issued.family_id
        return user.id

    async def add_team(self, name: str, crm_group_id: str | None) -> int:
        team = Team(name=name, crm_group_id=crm_group_id)
        self.session.add(team)
        await self.session.flush()
        return team.id

    async def add_role(self, key: str, grants: dict[str, tuple[bool, bool, Scope]]) -> int:
        role = Role(key=key, name=key.title(), built_in=False)
        self.session.add(role)
        await self.session.flush()
        self.session.add_all(
            RolePermission(role_id=role.id, permission_id=self.permissions[k], can_read=r, can_write=w, scope=s)
            for k, (r, w, s) in grants.items()
        )
        await self.session.flush()
        self.roles[key] = role.id
        return role.id

    async def add_api_token(
        self,
        owner: str,
        grants: dict[str, tuple[Scope | None, Scope | None]],
        *,
        expires_at: dt.datetime | None = None,
    ) -> tuple[int, str]:
        secret = generate_token(API_TOKEN_PREFIX)
        token = ApiToken(
            owner_id=self.users[owner],
            name=self.unique("token"),
            token_prefix=display_prefix(secret),
            token_hash=self.keyring.hash_api_token(secret),
            expires_at=expires_at,
        )
        self.session.add(token)
        await self.session.flush()
        self.session.add_all(
            ApiTokenGrant(token_id=token.id, permission_id=self.permissions[k], read_scope=r, write_scope=w)
            for k, (r, w) in grants.items()
        )
        await self.session.flush()
        return token.id, secret

    async def add_fiche(self, fiche_id: str, crm_group_id: str | None, attribution: str | None) -> int:
        # A Core insert naming only the scoping columns: robust to columns other work adds to `fiches`.
        statement = insert(Fiche).values(
            fiche_id=fiche_id,
            groupe=f"groupe {crm_group_id}",
            crm_group_id=crm_group_id,
            attribution_user_id=attribution,
        )
        fiche_pk: int = (await self.session.execute(statement.returning(Fiche.id))).scalar_one()
        return fiche_pk

    async def store_details(self, ownership: str) -> None:
        """Full details (a simulator payload) for the world's fiche, its scope columns kept."""
        fiche_id = self.fiche_ids[ownership]
        core = build_fiche(7, dt.date(2025, 3, 3), 1 if ownership == "own" else 2, 4)
        raw = simulator_details(core, "http://demo-crm.test", include_recordings=True, include_mail_devis=False)
        raw["information"]["fiche_id"] = fiche_id
        now = dt.datetime.now(dt.UTC)
        payload = parse_fiche_details(raw)
        await self.session.run_sync(
            lambda s: store_details(s, fiche_id, payload, now, now + dt.timedelta(days=10), dt.date(2025, 3, 3))
        )
        group, owner = ("G-OWN", "crm-self") if ownership == "own" else ("G-OTHER", "crm-other")
        await self.session.execute(
            update(Fiche).where(Fiche.fiche_id == fiche_id).values(crm_group_id=group, attribution_user_id=owner)
        )

    async def add_transcript(
        self, ownership: str, turns: Sequence[tuple[str, str]] = (), words: Sequence[Word] = ()
    ) -> str:
        """Details for the world's fiche and a transcript of its first recording (two short turns,
        `turns` of (speaker, text), a word a second, or `words` as they are); its call id."""
        await self.store_details(ownership)
        fiche_id = self.fiche_ids[ownership]
        if not words:
            words = [Word("Bonjour", 0.0, 0.5, "speaker_0"), Word("madame", 0.6, 1.0, "speaker_0"),
                     Word("Oui", 1.2, 1.4, "speaker_1", 0.9)]  # fmt: skip
        if turns:
            said = [(speaker, word) for speaker, text in turns for word in text.split()]
            words = [Word(word, float(i), i + 0.8, speaker) for i, (speaker, word) in enumerate(said)]

        def write(session: Session) -> str:
            recording = (load_recordings(session, fiche_id) or [])[0]
            transcript = TranscriptWrite(
                provider="reference",
                model="demo-simulator-reference",
                text=" ".join(w.text for w in words),
                words=list(words),
                chunks=build_chunks(recording.call_id, words),
                language="fr",
                language_probability=None,
                duration_seconds=1.4,
                provider_transcript_id=None,
                attempts=1,
            )
            store_transcript(session, fiche_id, recording, transcript, dt.datetime.now(dt.UTC))
            return recording.call_id

        return await self.session.run_sync(write)

    async def add_fetch_job(self, requested_by: str) -> str:
        job_id = str(uuid.uuid4())
        self.session.add(
            FicheFetchJob(
                id=job_id,
                start_date=dt.date(2025, 3, 1),
                end_date=dt.date(2025, 3, 2),
                days=["2025-03-01", "2025-03-02"],
                requested_by_id=self.users[requested_by],
                status=FicheFetchJobStatus.LAUNCHED.value,
            )
        )
        await self.session.flush()
        return job_id

    async def first_crm_user_id(self) -> str:
        return str(build_directory(7).users[0].id)

    async def commit(self) -> None:
        await self.session.commit()


async def build_world(session: AsyncSession, settings: Settings) -> World:
    await session.run_sync(seed_rbac)
    world = World(session=session, settings=settings, keyring=keyring_for(settings))
    world.permissions = dict((await session.execute(select(Permission.key, Permission.id))).all())
    world.roles = dict((await session.execute(select(Role.key, Role.id))).all())
    world.teams["own"] = await world.add_team("Team Own", "G-OWN")
    world.teams["other"] = await world.add_team("Team Other", "G-OTHER")
    await world.add_role(
        "agent",
        {
            "fiches": (True, False, Scope.SELF),
            "audits": (True, False, Scope.SELF),
            "chat": (True, True, Scope.SELF),
        },
    )
    for name, roles, team, crm in (
        ("viewer", ("viewer",), "own", "crm-viewer"),
        ("operator", ("operator",), "own", "crm-operator"),
        ("self_user", ("agent",), "own", "crm-self"),
        ("admin", ("admin",), None, None),
        ("other", ("operator",), "other", "crm-other"),
    ):
        email = f"{name.replace('_', '-')}@example.test"
        world.emails[name] = email
        world.users[name] = await world.add_user(email, roles=roles, team=team, crm_user_id=crm)
    world.api_token_id, world.api_token = await world.add_api_token("operator", {"fiches": (Scope.GROUP, None)})
    world.fiches["own"] = await world.add_fiche("F-OWN", "G-OWN", "crm-self")
    world.fiches["other"] = await world.add_fiche("F-OTHER", "G-OTHER", "crm-other")
    world.fiche_ids = {"own": "F-OWN", "other": "F-OTHER"}
    await world.commit()
    return world
