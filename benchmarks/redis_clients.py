"""Do the API's Redis connections grow with use, or stop at the pools' high-water mark?

The 30-minute soak saw the Redis client count rise (24 -> 49 -> 100) and could not tell a leak from
connection pools keeping what the busiest moment opened (redis-py's pools never shrink, up to their
`max_connections`). This repeats the same burst against one `callaudit api` over embedded Postgres
and Redis: `--streams` SSE streams of one fiche topic opened at once (each reads its backlog on
start) and followed for 2 s, beside 50 audit-list reads, then a pause; after each round it counts
Redis's clients and the last command each ran. A pool keeps the burst's connections and stops
growing once the burst is repeated; a leak adds some each round. `ratio` = clients after the last
round / after the second (bound 1.0: no growth once the high-water mark is reached).

    .venv/bin/python benchmarks/redis_clients.py [--rounds 5] [--streams 40]
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import time
from collections import Counter

import httpx
import redis
from _embedded import migrated_servers, running_api
from sqlalchemy import insert

from domain.models import Fiche
from resources.database import create_sync_engine

FICHE_ID = "BENCH-REDIS-CLIENTS-1"


def _clients(client: redis.Redis) -> list[dict[str, str]]:
    return [c for c in client.client_list() if c.get("cmd") != "client|list"]


async def _burst(port: int, token: str, streams: int) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as http:

        async def follow() -> None:
            async with http.stream("GET", f"/api/realtime/stream?topic=fiche:{FICHE_ID}&replay=false") as response:
                response.raise_for_status()
                started = time.monotonic()
                async for _ in response.aiter_bytes():
                    if time.monotonic() - started > 2:
                        break

        async def read() -> None:
            for _ in range(50):
                (await http.get("/api/audits?limit=20")).raise_for_status()

        await asyncio.gather(*(follow() for _ in range(streams)), read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--streams", type=int, default=40)
    args = parser.parse_args()
    if args.rounds < 2:
        parser.error("--rounds must be at least 2")
    token = secrets.token_urlsafe(24)
    with migrated_servers("callaudit-redis-clients-") as servers:
        engine = create_sync_engine(servers.database_url)
        with engine.begin() as connection:
            connection.execute(insert(Fiche).values(fiche_id=FICHE_ID, fetch_status="summary"))
        engine.dispose()
        env = {
            "JWT_ACCESS_SECRET": secrets.token_urlsafe(48),
            "API_AUTH_TOKEN": token,
            "API_AUTH_TOKEN_SCOPE": "ALL",
            "LOG_LEVEL": "WARNING",
        }
        client = redis.Redis.from_url(servers.redis_url, decode_responses=True)
        with running_api(servers, env) as (_, port):
            counts = [len(_clients(client))]
            print(f"Redis clients of one API replica, {args.rounds} rounds of {args.streams} streams + 50 reads")
            print(f"  before: {counts[0]}")
            for index in range(args.rounds):
                asyncio.run(_burst(port, token, args.streams))
                time.sleep(3)  # streams closed, reads answered: what is left is kept by the pools
                seen = _clients(client)
                counts.append(len(seen))
                commands = Counter(c.get("cmd") for c in seen).most_common(4)
                print(f"  after round {index + 1}: {len(seen)} clients (last command: {commands})")
    ratio = counts[-1] / counts[2]
    print(
        f"rounds={args.rounds} streams={args.streams} first={counts[1]} second={counts[2]} "
        f"last={counts[-1]} ratio={ratio:.3f}"
    )


if __name__ == "__main__":
    main()
