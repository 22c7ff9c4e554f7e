"""Recording metadata of a fiche: which calls exist, when, how long, and where their audio lives.

Ids are built so the simulator can find a call again from nothing but its id or its file name
(no index of all calls is kept): a call id ends with the fiche id and the call's position, and the
last group of the file name's UUID carries the same two numbers. Everything else is drawn from the
seed, so lookups regenerate the metadata and compare it in full.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from callaudit.demo_crm.seeding import derive_digits, derive_hex, derive_rng

CallKind = Literal["vente", "suivi", "rappel", "messagerie"]
"""`vente`: the sales call; `suivi`: a follow-up to finish the signature; `rappel`: a short call to
agree on a better time; `messagerie`: a voicemail left by the agent (not answered)."""

DURATION_RANGES: dict[CallKind, tuple[int, int]] = {
    "vente": (240, 1500),
    "suivi": (60, 300),
    "rappel": (15, 40),
    "messagerie": (15, 40),
}
SIGNED_URL_SHARE = 0.25
MISSING_URL_IN_SALES_LIST_SHARE = 0.1

_FILENAME = re.compile(
    r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-(?P<fiche>\d{10})(?P<index>\d{2})"
    r"-\d{2}-\d{2}-\d{2}-\d{2}h\d{2}-\d+-\d+\.wav$"
)


@dataclass(frozen=True)
class RecordingMeta:
    fiche_id: str
    index: int
    kind: CallKind
    call_id: str
    start: datetime
    duration_seconds: int
    direction: Literal["in", "out"]
    from_number: str
    to_number: str
    answered: bool
    uuid: str
    account: str
    token: str | None
    url_in_sales_list: bool

    @property
    def filename(self) -> str:
        """`<uuid>-DD-MM-YY-HHhMM-<from>-<to>.wav`, the telephony CDN's pattern (UTC clock)."""
        stamp = self.start.strftime("%d-%m-%y-%Hh%M")
        return f"{self.uuid}-{stamp}-{self.from_number}-{self.to_number}.wav"

    @property
    def path(self) -> str:
        return f"/records/{self.account}/{self.filename}"

    def url(self, base_url: str) -> str:
        """The audio URL on this simulator; some are signed with a query string like the CDN's."""
        query = f"?token={self.token}" if self.token else ""
        return f"{base_url.rstrip('/')}{self.path}{query}"

    def as_payload(self, base_url: str, sales_list: bool) -> dict[str, object]:
        """The gateway's recording object; in sales lists some URLs are not known yet (null)."""
        known = self.url_in_sales_list or not sales_list
        return {
            "call_id": self.call_id,
            "start_time": self.start.isoformat(),
            "duration_seconds": self.duration_seconds,
            "direction": self.direction,
            "from_number": self.from_number,
            "to_number": self.to_number,
            "answered": self.answered,
            "recording_url": self.url(base_url) if known else None,
        }


def call_id_for(seed: int, fiche_id: str, index: int) -> str:
    """20 digits: 9 seed-derived, then the fiche id on 10 digits, then the call position."""
    return derive_digits(seed, "call-id", fiche_id, index, length=9) + f"{int(fiche_id):010d}{index}"


def parse_call_id(call_id: str) -> tuple[str, int] | None:
    if len(call_id) != 20 or not call_id.isdigit():
        return None
    return str(int(call_id[9:19])), int(call_id[19])


def parse_filename(filename: str) -> tuple[str, int] | None:
    """(fiche id, call position) encoded in a recording file name, if it has our pattern."""
    match = _FILENAME.match(filename)
    if match is None:
        return None
    return str(int(match["fiche"])), int(match["index"])


def _uuid(seed: int, fiche_id: str, index: int) -> str:
    h = derive_hex(seed, "uuid", fiche_id, index)
    variant = "89ab"[int(h[16], 16) % 4]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{int(fiche_id):010d}{index:02d}"


def _kinds(count: int, draw: float, later: list[float]) -> list[CallKind]:
    """The sales call comes first most of the time, sometimes after a call that missed."""
    kinds: list[CallKind] = []
    if count > 1 and draw < 0.3:
        kinds.append("messagerie" if later.pop() < 0.5 else "rappel")
    kinds.append("vente")
    while len(kinds) < count:
        pick = later.pop()
        kinds.append("suivi" if pick < 0.6 else "rappel" if pick < 0.9 else "messagerie")
    return kinds


def _duration(kind: CallKind, u: float, z: float) -> int:
    low, high = DURATION_RANGES[kind]
    if kind == "vente":
        return int(min(high, max(low, 480 * math.exp(0.45 * z))))
    return int(low + u * (high - low))


def plan_recordings(
    seed: int, fiche_id: str, inserted_at: datetime, *, client_number: str, agency_number: str, account: str
) -> tuple[RecordingMeta, ...]:
    """1-4 calls: around the sales call on the day of insertion, follow-ups over the next days.

    From/to numbers follow the real payloads: an `out` call goes from the client's number to the
    agency line, an `in` call the other way round.
    """
    rng = derive_rng(seed, "recordings", fiche_id)
    count = rng.choices((1, 2, 3, 4), weights=(35, 35, 20, 10))[0]
    kinds = _kinds(count, rng.random(), [rng.random() for _ in range(4)])
    clock = inserted_at + timedelta(minutes=rng.uniform(3, 45))
    metas: list[RecordingMeta] = []
    sold = False
    for index, kind in enumerate(kinds):
        if sold:
            day_start = (clock + timedelta(days=rng.randint(1, 4))).replace(hour=9, minute=0)
            clock = day_start + timedelta(minutes=rng.uniform(0, 570))
        duration = _duration(kind, rng.random(), rng.gauss(0, 1))
        direction: Literal["in", "out"] = "out" if kind == "messagerie" or rng.random() < 0.75 else "in"
        start = clock.replace(microsecond=rng.randrange(1_000_000))
        from_number, to_number = (
            (client_number, agency_number) if direction == "out" else (agency_number, client_number)
        )
        metas.append(
            RecordingMeta(
                fiche_id=fiche_id,
                index=index,
                kind=kind,
                call_id=call_id_for(seed, fiche_id, index),
                start=start.astimezone(UTC),
                duration_seconds=duration,
                direction=direction,
                from_number=from_number,
                to_number=to_number,
                answered=kind != "messagerie",
                uuid=_uuid(seed, fiche_id, index),
                account=account,
                token=derive_hex(seed, "token", fiche_id, index) if rng.random() < SIGNED_URL_SHARE else None,
                url_in_sales_list=rng.random() >= MISSING_URL_IN_SALES_LIST_SHARE,
            )
        )
        sold = sold or kind == "vente"
        clock = start + timedelta(seconds=duration + rng.uniform(300, 5400))
    return tuple(metas)
