"""The hand-written CRM payloads (`tests/fixtures/crm_payloads.py`) parse and cover the real fixtures'
shape, so they cannot drift from `/work/shared/fixtures/crm/*.json`."""

from __future__ import annotations

from typing import Any

from domain.crm.parsing import parse_fiche_details, parse_sales_page
from tests.fixtures.crm_payloads import FICHE_ID, details_payload, sales_payload, shared_fixture


def _keys(value: Any, path: str = "") -> set[str]:
    if isinstance(value, dict):
        return {f"{path}.{k}" for k in value} | {p for k, v in value.items() for p in _keys(v, f"{path}.{k}")}
    if isinstance(value, list):
        return {p for item in value for p in _keys(item, f"{path}[]")}
    return set()


def test_hand_written_payloads_parse() -> None:
    details = parse_fiche_details(details_payload())
    assert details.information is not None
    assert details.information.fiche_id == FICHE_ID
    assert len(parse_sales_page(sales_payload()).fiches or []) == 2


def test_hand_written_details_cover_the_real_payload_shape() -> None:
    real = shared_fixture("fiche-by-id.example.json")
    ours = details_payload()
    assert set(real) <= set(ours)
    # Inside the normalised sections every real key is exercised, but for a few product URLs and
    # the contents of free-form maps (questions, bank accounts). Ours adds unknown keys on purpose.
    normalised = (".information", ".prospect", ".commentaires", ".elements_souscription", ".recordings")
    missing = {key for key in _keys(real) - _keys(ours) if key.startswith(normalised)}
    free_form = (".questions_conseil.", ".questions_complementaires.", ".compte_prelevement.", ".compte_virement.")
    assert all(key.endswith("_url") or any(m in key for m in free_form) for key in missing), sorted(missing)


def test_hand_written_sales_list_covers_the_real_payload_shape() -> None:
    assert _keys(shared_fixture("sales-with-calls.example.json")) <= _keys(sales_payload())
