"""The OpenAPI document as the API really behaves, built once per app.

* FastAPI documents a 422 `HTTPValidationError` on every route with parameters or a body; this API
  answers every validation failure with a 400 and the error envelope (`api/errors.py`, documented on
  every `/api` route by `ERROR_RESPONSES`), so the 422 and its schemas are removed; public
  operations (login, refresh, logout, invitation) do not list 403 and 404, nor lists and searches
  (`GET` without path parameters) 404: statuses they never answer.
* Properties and parameters without a description of their own get the data dictionary's
  (`api/glossary.py`): one meaning per name across the API.
* Every JSON request body and response without an example gets one, built from its schema: the
  schema's own examples and defaults first, then `glossary.EXAMPLES` by field name, then its type.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.glossary import EXAMPLE_KEYS, EXAMPLES, FIELDS

_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")
_MAX_DEPTH = 8
#: Nullable fields whose usual value in an example is null (a completed, live, successful record).
_NULL_WHEN_NULLABLE = frozenset({"error", "deleted_at", "revoked_at", "failed_phase", "fetch_error", "job_error"})
_FORMATS = {
    "date-time": "2026-01-15T09:30:00Z",
    "date": "2026-01-15",
    "time": "09:30:00",
    "uuid": "5c1e3f0a-6d2b-4c8e-9a41-0f6b2d7e9c13",
    "email": "analyste@example.fr",
    "uri": "https://crm.example.fr/api",
}


def _operations(schema: dict[str, Any]) -> list[dict[str, Any]]:
    return [operation for item in schema.get("paths", {}).values() for operation in item.values()]


def _without_422(schema: dict[str, Any]) -> None:
    for operation in _operations(schema):
        operation.get("responses", {}).pop("422", None)
    schemas = schema.get("components", {}).get("schemas", {})
    for name in _FASTAPI_VALIDATION_SCHEMAS:
        schemas.pop(name, None)


def _statuses_it_never_answers(schema: dict[str, Any]) -> None:
    """A public operation (no security requirement) checks no permission and looks no entity up; a
    `GET` without path parameters lists or searches, and answers an empty result rather than 404, unless it
    declares `openapi_extra={"x-looks-up": "<parameter>"}` (an entity named by a query parameter)."""
    for item in schema.get("paths", {}).values():
        for method, operation in item.items():
            responses = operation.get("responses", {})
            if not operation.get("security"):
                responses.pop("403", None)
                responses.pop("404", None)
            looks_up = any(p["in"] == "path" for p in operation.get("parameters", [])) or operation.get("x-looks-up")
            if method == "get" and not looks_up:
                responses.pop("404", None)


def _describe(schema: dict[str, Any]) -> None:
    for model_name, model in schema.get("components", {}).get("schemas", {}).items():
        for name, prop in model.get("properties", {}).items():
            described = FIELDS.get(f"{model_name}.{name}") or FIELDS.get(name)
            if not prop.get("description") and described:
                prop["description"] = described
    for operation in _operations(schema):
        for parameter in operation.get("parameters", []):
            if not parameter.get("description") and parameter["name"] in FIELDS:
                parameter["description"] = FIELDS[parameter["name"]]


_MISSING = object()


def _given(schema: dict[str, Any], name: str | None, owner: str | None) -> Any:  # noqa: PLR0911
    """What the schema itself, or the glossary for this very field, says; `_MISSING` when nothing."""
    if "example" in schema:
        return schema["example"]
    if schema.get("examples"):
        return schema["examples"][0]
    if schema.get("default") is not None:
        return schema["default"]
    if name in _NULL_WHEN_NULLABLE and any(s.get("type") == "null" for s in schema.get("anyOf", ())):
        return None
    if f"{owner}.{name}" in EXAMPLES:
        return EXAMPLES[f"{owner}.{name}"]
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    return _MISSING


class _Examples:
    """An example value for a schema; a field's component and name (`Owner.name`) pick glossary examples."""

    def __init__(self, components: dict[str, Any]) -> None:
        self.components = components

    def of(self, schema: dict[str, Any], name: str | None = None, owner: str | None = None, depth: int = 0) -> Any:  # noqa: PLR0911
        if depth > _MAX_DEPTH:
            return None
        if "$ref" in schema:
            component = schema["$ref"].rsplit("/", 1)[-1]
            resolved = self.components[component]
            if "properties" in resolved:
                return self._object(resolved, component, depth + 1)
            return self.of(resolved, name, owner, depth + 1)
        given = _given(schema, name, owner)
        if given is not _MISSING:
            return given
        for key in ("anyOf", "oneOf"):
            if key in schema:
                choices = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
                return self.of(choices[0], name, owner, depth)
        if "allOf" in schema:
            return self.of(schema["allOf"][0], name, owner, depth)
        if name in EXAMPLES:
            return EXAMPLES[name]
        return self._typed(schema, name, owner, depth)

    def _object(self, schema: dict[str, Any], component: str | None, depth: int) -> dict[str, Any]:
        return {key: self.of(value, key, component, depth + 1) for key, value in schema["properties"].items()}

    def _typed(self, schema: dict[str, Any], name: str | None, owner: str | None, depth: int) -> Any:  # noqa: PLR0911
        kind = schema.get("type")
        if "properties" in schema:
            return self._object(schema, None, depth)
        if kind == "object":
            extra = schema.get("additionalProperties")
            if isinstance(extra, dict):
                return {EXAMPLE_KEYS.get(f"{owner}.{name}", "key"): self.of(extra, None, None, depth + 1)}
            return {}
        if kind == "array":
            return [self.of(schema.get("items", {}), None, None, depth + 1)]
        if kind == "string":
            if schema.get("format") in _FORMATS:
                return _FORMATS[schema["format"]]
            if schema.get("pattern", "").startswith("^[1-9][0-9]") or (name or "").lower().endswith("id"):
                return "42"
            return "text"
        if kind == "integer":
            return max(1, schema.get("minimum", 1))
        if kind == "number":
            return 1.5
        if kind == "boolean":
            return True
        return None


def _exemplify(schema: dict[str, Any]) -> None:
    examples = _Examples(schema.get("components", {}).get("schemas", {}))
    for operation in _operations(schema):
        bodies = [operation.get("requestBody", {}), *operation.get("responses", {}).values()]
        for body in bodies:
            media = body.get("content", {}).get("application/json")
            if media is not None and "schema" in media and "example" not in media and "examples" not in media:
                media["example"] = examples.of(media["schema"])


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
            _without_422(document)
            _statuses_it_never_answers(document)
            _describe(document)
            _exemplify(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
