"""The audit-facts export: validate the range, then stream the caller's rows encoded as they come.

Rows come from a server-side cursor in batches and each batch is encoded and sent before the next
is read (a Parquet row group, or CSV lines), so a year's export holds one batch in memory. The
stream opens its own session: the request's is closed before the body is sent.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Protocol

from api.analytics import repository
from api.analytics.schemas import ExportFormat
from api.chat.service import Sessions
from api.errors import BadRequest
from domain.scoping import ScopeSubject

if TYPE_CHECKING:
    import pyarrow as pa

MAX_DAYS = 366  # a year and a leap day: longer exports are several requests (or the Parquet files)
BATCH_ROWS = 10_000  # rows per cursor fetch and per Parquet row group


class _Writer(Protocol):
    def write_table(self, table: pa.Table) -> None: ...

    def close(self) -> None: ...


class _Chunks(io.RawIOBase):
    """A write-only file collecting what the writer produced since the last `take()`."""

    def __init__(self) -> None:
        self._chunks: list[bytes] = []
        self._position = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._chunks.append(bytes(data))
        self._position += len(data)
        return len(data)

    def tell(self) -> int:
        return self._position

    def take(self) -> bytes:
        data = b"".join(self._chunks)
        self._chunks.clear()
        return data


def check_range(first: dt.date, last: dt.date) -> None:
    if first > last:
        raise BadRequest("`to` must be on or after `from`", field="query.to")
    if (last - first).days + 1 > MAX_DAYS:
        raise BadRequest(f"At most {MAX_DAYS} days per export", field="query.to")


def _writer(fmt: ExportFormat, sink: _Chunks) -> _Writer:
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    from domain.analytics.facts import FACTS_SCHEMA

    writer: _Writer = (pq.ParquetWriter if fmt is ExportFormat.PARQUET else pa_csv.CSVWriter)(sink, FACTS_SCHEMA)
    return writer


async def export_facts(
    sessions: Sessions, subject: ScopeSubject, first: dt.date, last: dt.date, fmt: ExportFormat
) -> AsyncIterator[bytes]:
    """The encoded file, chunk by chunk (an empty range is a valid file with the header or schema only).

    pyarrow is imported by the first export, not with the app: it holds 35 MiB in every API process,
    and most never export (decision 124)."""
    import pyarrow as pa

    from domain.analytics.facts import FACTS_SCHEMA

    statement = repository.facts_in_scope(subject, first, last)
    sink = _Chunks()
    writer = _writer(fmt, sink)
    async with sessions() as session:
        async for rows in repository.fact_batches(session, statement, BATCH_ROWS):
            writer.write_table(pa.Table.from_pylist(rows, schema=FACTS_SCHEMA))
            yield sink.take()
    writer.close()
    yield sink.take()
