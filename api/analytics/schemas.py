"""Wire shapes of `/api/analytics`: the export's formats and their media types."""

from __future__ import annotations

import enum
from typing import Any


class ExportFormat(enum.StrEnum):
    PARQUET = "parquet"
    CSV = "csv"

    @property
    def media_type(self) -> str:
        return MEDIA_TYPES[self]


MEDIA_TYPES = {ExportFormat.PARQUET: "application/vnd.apache.parquet", ExportFormat.CSV: "text/csv"}

#: The 200 response in the OpenAPI document: a file, one media type per format.
EXPORT_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The facts as a file (`Content-Disposition: attachment`), one row per audit x control point,"
        " with the columns of the Parquet files of the `audit_facts` asset",
        "content": {media: {"schema": {"type": "string", "format": "binary"}} for media in MEDIA_TYPES.values()},
    }
}
