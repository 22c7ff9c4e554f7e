"""The OpenAPI document explains the API: every operation, field and parameter, and one naming rule.

The rule (README, "API conventions"): ids are strings of digits in every response (any `id`,
`*_id`, `*Id`, `*_ids` field), and accepted as strings or numbers in requests; a schema's fields
are all snake_case, except the original system's camelCase shapes kept for its clients (the
audit-config routes and the original's audit statistics); lists are paginated with
`{page, limit, total, total_pages}`, except the original's offset shape on the audit lists.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from api.app import create_app
from callaudit.settings import Settings

ERROR_STATUSES = {"400", "401", "403", "404", "429", "503"}
SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")
CAMEL = re.compile(r"^[a-z][a-z0-9]*([A-Z][a-z0-9]*)+$")
ID_NAME = re.compile(r"(^id$|_id$|Id$|_ids$|Ids$)")
INDEX_NAMES = {
    "position", "index", "page", "current_page", "turn_index", "chunk_index", "recording_index",
    "step_position", "control_point_index",
}  # fmt: skip

#: The original system's camelCase shapes, kept so its clients can move (reference §4): nothing new.
ORIGINAL_CAMEL_SCHEMAS = {
    "AuditGroup", "FicheAuditsSummary", "ImportOut", "ReorderIn", "ScorecardCreate", "ScorecardOut",
    "ScorecardStats", "ScorecardUpdate", "StepIn", "UsageOut", "VersionDetailOut", "VersionOut",
    "VersionUsageOut", "api__scorecards__schemas__StepOut",
    "JobNotification", "JobData", "PartialFiche",  # GET /api/fiches/webhooks/fiches (reference §4.5)
    # automation (reference §9.1, §4.10)
    "FailedFiche", "FicheResultOut", "FicheSelectionIn", "FicheSelectionOut", "IgnoredFiche", "LogOut",
    "ResultSummary", "RunDetail", "RunList", "RunOut", "ScheduleDetail", "ScheduleFields", "ScheduleList",
    "ScheduleOut", "ScheduleSaved", "TriggerIn", "Triggered",
    "ChatHistoryOut", "ChatMessageOut",  # chat history (reference §4.13)
    # products (reference §4.11: `groupeId`, `gammeId`, `garantiesHtml`...)
    "CatalogueImportOut", "DocumentOut", "FormuleDetail", "FormuleIn", "FormuleOut", "FormulePatch", "GammeDetail",
    "GammeIn", "GammeOut", "GammePatch", "GroupeDetail", "GroupeIn", "GroupeOut", "GroupePatch",
    "GuaranteeCategoryOut", "GuaranteeItemOut", "GuaranteeTableOut", "MatchOut", "ProductDeletedOut",
    "ProductLinkOut", "SearchOut", "SoldOut", "StatsOut",
}  # fmt: skip
#: The original's offset pagination, kept on its audit lists.
ORIGINAL_OFFSET_PAGINATION_PATHS = {"/api/audits", "/api/audits/grouped", "/api/audits/grouped-by-fiches"}


@pytest.fixture(scope="module")
def spec(api_settings: Settings) -> dict[str, Any]:
    return create_app(api_settings).openapi()


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, item in spec["paths"].items() for method, op in item.items()]


def _refs(node: Any, schemas: dict[str, Any], seen: set[str] | None = None) -> set[str]:
    """Every component schema `node` uses, transitively."""
    seen = set() if seen is None else seen
    for name in re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(node)):
        if name not in seen:
            seen.add(name)
            _refs(schemas[name], schemas, seen)
    return seen


def test_every_operation_has_a_summary_a_description_and_examples(spec: dict[str, Any]) -> None:
    lacking = []
    for method, path, op in _operations(spec):
        if not op.get("summary") or not op.get("description"):
            lacking.append(f"{method} {path}: summary/description")
        bodies = [("request", op.get("requestBody", {}))]
        bodies += [(status, response) for status, response in op["responses"].items() if status.startswith("2")]
        for where, body in bodies:
            media = body.get("content", {}).get("application/json")
            if media is not None and "example" not in media and "examples" not in media:
                lacking.append(f"{method} {path}: {where} example")
    assert lacking == []


def test_examples_follow_their_schemas(spec: dict[str, Any]) -> None:
    run = spec["paths"]["/api/audits/run"]["post"]
    request = run["requestBody"]["content"]["application/json"]["example"]
    assert request["fiche_id"] == "1983200000"
    launched = run["responses"]["202"]["content"]["application/json"]["example"]
    assert launched["success"] is True
    assert isinstance(launched["data"]["scorecard_id"], str)
    error = run["responses"]["400"]["content"]["application/json"]["example"]
    assert (error["success"], error["code"]) == (False, "VALIDATION_ERROR")


def test_real_error_statuses_are_documented_and_422_is_not(spec: dict[str, Any]) -> None:
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    for method, path, op in _operations(spec):
        assert "422" not in op["responses"], f"{method} {path}"
        if not op.get("security"):  # public: no permission checked, no entity looked up
            assert not {"403", "404"} & set(op["responses"]), f"{method} {path}"
        elif method == "GET" and "{" not in path and not op.get("x-looks-up"):  # a list or search: never 404
            assert set(op["responses"]) >= ERROR_STATUSES - {"404"}, f"{method} {path}"
            assert "404" not in op["responses"], f"{method} {path}"
        elif path.startswith("/api/"):
            assert set(op["responses"]) >= ERROR_STATUSES, f"{method} {path}"
        if path.startswith("/api/"):
            body = op["responses"]["400"]["content"]["application/json"]["schema"]
            assert body == {"$ref": "#/components/schemas/ErrorBody"}, f"{method} {path}"
    for method, path in [
        ("post", "/api/audit-configs/import"),
        ("delete", "/api/audits/{audit_id}"),
        ("post", "/api/admin/roles"),
    ]:
        assert "409" in spec["paths"][path][method]["responses"], path
    login = spec["paths"]["/api/auth/login"]["post"]["responses"]
    assert {"200", "400", "401", "429"} <= set(login)


def test_every_field_and_parameter_is_described(spec: dict[str, Any]) -> None:
    fields = [
        f"{schema}.{name}"
        for schema, body in spec["components"]["schemas"].items()
        for name, prop in body.get("properties", {}).items()
        if not prop.get("description")
    ]
    parameters = [
        f"{method} {path} {p['name']}"
        for method, path, op in _operations(spec)
        for p in op.get("parameters", [])
        if not p.get("description")
    ]
    assert fields == []
    assert parameters == []


def test_indices_state_whether_they_are_0_or_1_based(spec: dict[str, Any]) -> None:
    described = [
        (f"{schema}.{name}", prop["description"])
        for schema, body in spec["components"]["schemas"].items()
        for name, prop in body.get("properties", {}).items()
        if name in INDEX_NAMES
    ]
    described += [
        (f"{method} {path} {p['name']}", p["description"])
        for method, path, op in _operations(spec)
        for p in op.get("parameters", [])
        if p["name"] in INDEX_NAMES
    ]
    assert described
    assert [where for where, text in described if "1-based" not in text and "0-based" not in text] == []
    step = spec["paths"]["/api/audits/{audit_id}/steps/{position}/control-points/{index}"]["get"]
    assert all("1-based" in p["description"] for p in step["parameters"] if p["name"] in {"position", "index"})


def test_ids_are_strings_in_every_schema(spec: dict[str, Any]) -> None:
    def kinds(prop: dict[str, Any]) -> set[str]:
        found = {prop["type"]} if "type" in prop else set()
        for choice in prop.get("anyOf", []):
            found |= kinds(choice)
        if "items" in prop:
            found |= kinds(prop["items"])
        return found - {"null", "array"}

    numeric = [
        f"{schema}.{name}"
        for schema, body in spec["components"]["schemas"].items()
        for name, prop in body.get("properties", {}).items()
        if ID_NAME.search(name) and kinds(prop) != {"string"}
    ]
    assert numeric == []


def test_field_names_are_snake_case_except_the_originals_camel_case_shapes(spec: dict[str, Any]) -> None:
    camel, mixed = set(), []
    for schema, body in spec["components"]["schemas"].items():
        names = list(body.get("properties", {}))
        if any(CAMEL.match(n) for n in names):
            camel.add(schema)
        style = CAMEL if schema in ORIGINAL_CAMEL_SCHEMAS else SNAKE
        mixed += [f"{schema}.{n}" for n in names if not (style.match(n) or (n.isalpha() and n.islower()))]
    assert camel <= ORIGINAL_CAMEL_SCHEMAS, "new schemas use snake_case"
    assert mixed == []


def test_one_pagination_shape_except_the_originals_audit_lists(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    paginated: dict[str, set[str]] = {}
    for method, path, op in _operations(spec):
        used = _refs(op["responses"], schemas)
        shapes = used & {"Pagination", "OffsetPagination"}
        if shapes:
            paginated[f"{method} {path}"] = shapes
    assert paginated
    offset = {key for key, shapes in paginated.items() if "OffsetPagination" in shapes}
    assert offset == {f"GET {path}" for path in ORIGINAL_OFFSET_PAGINATION_PATHS}
    assert {"page", "limit", "total", "total_pages"} == set(schemas["Pagination"]["properties"])


def test_the_readme_states_the_rule() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    conventions = readme[readme.index("### API conventions") :]
    for phrase in ("strings of digits", "snake_case", "camelCase", "`page`", "1-based"):
        assert phrase in conventions[:3000], phrase
