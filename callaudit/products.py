"""`callaudit products import|export`: the catalogue's exchange format (`domain.products.io`) from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from domain.products.io import ImportCounts, export_catalogue, import_catalogue

if TYPE_CHECKING:
    from callaudit.runtime import Runtime


def read_document(path: Path) -> Any:
    """The JSON document in `path`; `ValueError` saying what is wrong with the file."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path} is not JSON: {exc.msg} (line {exc.lineno})") from None


def import_document(runtime: Runtime, document: Any) -> ImportCounts:
    """Validated whole, then upserted in one transaction (`domain.errors.InvalidError` writes nothing)."""
    from resources.database import create_sync_engine

    engine = create_sync_engine(runtime.database_url, poolclass=NullPool)
    try:
        with Session(engine) as session, session.begin():
            return import_catalogue(session, document)
    finally:
        engine.dispose()


def export_document(runtime: Runtime) -> dict[str, Any]:
    from resources.database import create_sync_engine

    engine = create_sync_engine(runtime.database_url, poolclass=NullPool)
    try:
        with Session(engine) as session:
            return export_catalogue(session)
    finally:
        engine.dispose()
