"""The OpenAPI document as the API really behaves, built once per app.

FastAPI documents a 422 `HTTPValidationError` on every route with parameters or a body; this API
answers every validation failure with a 400 and the error envelope (`api/errors.py`, documented on
every `/api` route by `ERROR_RESPONSES`), so the 422 and its schemas are removed here rather than
left to mislead client generators.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def _without_422(schema: dict[str, Any]) -> dict[str, Any]:
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            operation.get("responses", {}).pop("422", None)
    schemas = schema.get("components", {}).get("schemas", {})
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)
    return schema


def install_openapi(app: FastAPI) -> None:
    """Replace `app.openapi` by the corrected, cached document."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                description=app.description,
                routes=app.routes,
                tags=app.openapi_tags,
                servers=app.servers,
            )
            app.openapi_schema = _without_422(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
