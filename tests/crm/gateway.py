"""Stand-ins for the CRM gateway: payloads shaped like its answers, and a tiny local HTTP server.

The server runs an asyncio loop in a thread, answers every request after `latency` seconds and keeps,
per endpoint family, the highest number of requests it was serving at once: what the global caps
must bound, observed from the gateway's side.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


def recording(call_id: str = "12258673469935556705") -> dict[str, Any]:
    return {
        "call_id": call_id,
        "start_time": "2025-09-25T17:45:05.454463+00:00",
        "duration_seconds": 521,
        "direction": "out",
        "from_number": "33640584584",
        "to_number": "33402917912",
        "answered": True,
        "recording_url": "https://recordings.example.invalid/records/1/abc-25-09-25-17h45-33640584584-33402917912.mp3",
    }


def sales_body(*ids: str) -> dict[str, Any]:
    fiches = [
        {
            "id": fiche_id,
            "cle": None,
            "nom": "ROUX",
            "prenom": "Léa",
            "telephone": "0640584584",
            "telephone_2": None,
            "email": "client@example.org",
            "statut": "Vente",
            "date_insertion": "25/09/2025 10:27",
            "date_modification": None,
            "recordings": [recording()],
        }
        for fiche_id in ids
    ]
    return {"fiches": fiches, "total": len(fiches)}


def details_body(fiche_id: str) -> dict[str, Any]:
    return {
        "success": True,
        "message": "Fiche parsed successfully",
        "information": {"fiche_id": fiche_id, "cle": "952563872a3e1eac2f533518cfbb5ec3", "groupe": "NCA R3"},
        "prospect": None,
        "conjoint": None,
        "enfants": [],
        "mails": [],
        "rendez_vous": [],
        "commentaires": [],
        "elements_souscription": None,
        "tarification": [],
        "reclamations": [],
        "autres_contrats": [],
        "documents": [],
        "alertes": [],
        "recordings": [recording()],
        "raw_sections": {},
    }


def family(path: str) -> str:
    if "/sales-with-calls" in path:
        return "search"
    if "/by-id/" in path:
        return "details"
    return "directory"


@dataclass
class Arrival:
    at: float  # time.monotonic() when the request line arrived
    path: str
    status: int


@dataclass
class LocalGateway:
    """`with LocalGateway(latency=0.2) as gw:` serves on `gw.base_url` until the block ends.

    The first `throttle` requests get `429 Retry-After: <retry_after>` (after the latency).
    """

    latency: float = 0.0
    throttle: int = 0
    retry_after: str = "1"
    arrivals: list[Arrival] = field(default_factory=list)
    peak: Counter[str] = field(default_factory=Counter)
    _active: Counter[str] = field(default_factory=Counter)
    base_url: str = ""

    def __enter__(self) -> LocalGateway:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        assert ready.wait(10), "local gateway did not start"
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def _run(self, ready: threading.Event) -> None:
        async def main() -> None:
            self._stop = asyncio.Event()
            server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            self.base_url = f"http://127.0.0.1:{port}"
            ready.set()
            async with server:
                await self._stop.wait()

        self._loop.run_until_complete(main())
        self._loop.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await reader.readline()
            while (await reader.readline()) not in (b"\r\n", b"\n", b""):
                pass  # headers: not needed
            arrived = time.monotonic()
            path = request_line.split()[1].decode().split("?", 1)[0]
            kind = family(path)
            self._active[kind] += 1
            self.peak[kind] = max(self.peak[kind], self._active[kind])
            try:
                await asyncio.sleep(self.latency)
                status, headers, body = self._answer(path, kind)
                self.arrivals.append(Arrival(arrived, path, status))
                payload = json.dumps(body).encode()
                head = [f"HTTP/1.1 {status} X", "Content-Type: application/json", "Connection: close"]
                head += [f"{name}: {value}" for name, value in headers.items()]
                head.append(f"Content-Length: {len(payload)}")
                writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + payload)
                await writer.drain()
            finally:
                self._active[kind] -= 1
        finally:
            writer.close()

    def _answer(self, path: str, kind: str) -> tuple[int, dict[str, str], dict[str, Any]]:
        if self.throttle > 0:
            self.throttle -= 1
            return 429, {"Retry-After": self.retry_after}, {"error": "Too many requests"}
        if kind == "search":
            return 200, {}, sales_body("1000001")
        if kind == "details":
            return 200, {}, details_body(path.rsplit("/", 1)[1])
        return 200, {}, {"success": True, "data": {"utilisateurs": [], "groupes": []}}
