"""Synthetic fiches: deterministic, lazy, and shaped exactly like the real gateway's payloads."""

from __future__ import annotations

import json
import re
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from callaudit.demo_crm.directory import GROUPS, build_directory
from callaudit.demo_crm.fiches import build_fiche, fiche_id_for, parse_fiche_id
from callaudit.demo_crm.payloads import fiche_details, sales_list
from callaudit.demo_crm.recordings import parse_call_id, parse_filename

FIXTURES = Path("/work/shared/fixtures/crm")
DAY = date(2025, 9, 25)
BASE = "http://sim.test"
FR_DATETIME = re.compile(r"\d{2}/\d{2}/\d{4} \d{2}:\d{2}")
FR_DATE = re.compile(r"\d{2}/\d{2}/\d{4}")
FREE_FORM_MAPS = {"raw_sections", "raw_data"}
"""Maps whose keys are data, not schema."""


def details(seed: int, day: date, index: int, per_day: int = 12, mail_devis: bool = False) -> dict[str, Any]:
    return fiche_details(build_fiche(seed, day, index, per_day), BASE, True, mail_devis)


def assert_same_shape(ours: Any, theirs: Any, path: str = "$") -> None:
    """Same keys wherever the real payload shows an object; same formats wherever it shows a value."""
    if theirs is None or (ours is None and not isinstance(theirs, dict)):
        return
    if isinstance(theirs, dict):
        assert isinstance(ours, dict), f"{path}: expected an object, got {ours!r}"
        if path.rsplit(".", 1)[-1] not in FREE_FORM_MAPS:
            assert set(ours) == set(theirs), (
                f"{path}: extra {set(ours) - set(theirs)}, missing {set(theirs) - set(ours)}"
            )
        for key in theirs.keys() & ours.keys():
            assert_same_shape(ours[key], theirs[key], f"{path}.{key}")
    elif isinstance(theirs, list):
        assert isinstance(ours, list), f"{path}: expected a list"
        for n, item in enumerate(ours):
            if theirs:
                assert_same_shape(item, theirs[0], f"{path}[{n}]")
    else:
        assert type(ours) is type(theirs), (
            f"{path}: {type(ours).__name__} where the gateway has {type(theirs).__name__}"
        )
        if isinstance(theirs, str) and ours:
            if FR_DATETIME.fullmatch(theirs):
                datetime.strptime(ours, "%d/%m/%Y %H:%M")
            elif FR_DATE.fullmatch(theirs):
                datetime.strptime(ours, "%d/%m/%Y")


def load_fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def test_same_seed_same_payloads_and_other_seed_differs() -> None:
    first = sales_list(7, 12, DAY, DAY, base_url=BASE, include_recordings=True)
    build_fiche.cache_clear()
    again = sales_list(7, 12, DAY, DAY, base_url=BASE, include_recordings=True)
    other = sales_list(8, 12, DAY, DAY, base_url=BASE, include_recordings=True)
    assert first == again
    assert first != other
    assert [f["id"] for f in first["fiches"]] == [f["id"] for f in other["fiches"]], "ids depend on (day, index)"
    assert details(7, DAY, 3, mail_devis=True) == details(7, DAY, 3, mail_devis=True)
    assert details(7, DAY, 3) != details(8, DAY, 3)


def test_fiche_ids_are_numeric_and_decode_to_their_day_and_index() -> None:
    fiche_id = fiche_id_for(DAY, 11)
    assert fiche_id.isdigit()
    assert parse_fiche_id(fiche_id, 12) == (DAY, 11)
    assert parse_fiche_id(fiche_id, 11) is None, "index beyond the day's count"
    assert parse_fiche_id("0012", 12) is None
    assert parse_fiche_id("abc", 12) is None


def test_a_thousand_fiches_a_day_are_generated_quickly_and_on_demand() -> None:
    started = time.perf_counter()
    body = sales_list(3, 1000, DAY, DAY, base_url=BASE, include_recordings=True)
    assert body["total"] == len(body["fiches"]) == 1000
    assert len({f["id"] for f in body["fiches"]}) == 1000
    far = build_fiche(3, date(2031, 5, 4), 999, 1000)  # no other fiche of that day is needed
    assert far.fiche_id == fiche_id_for(date(2031, 5, 4), 999)
    assert time.perf_counter() - started < 5


def test_ranges_cover_each_day_and_insertions_fall_on_their_day() -> None:
    body = sales_list(1, 5, date(2025, 9, 29), date(2025, 10, 1), base_url=BASE, include_recordings=False)
    assert body["total"] == 15
    days = {datetime.strptime(f["date_insertion"], "%d/%m/%Y %H:%M").date() for f in body["fiches"]}
    assert days == {date(2025, 9, 29), date(2025, 9, 30), date(2025, 10, 1)}
    assert all(f["recordings"] == [] for f in body["fiches"])


def test_sales_list_and_details_agree() -> None:
    body = sales_list(5, 12, DAY, DAY, base_url=BASE, include_recordings=True)
    for summary in body["fiches"]:
        index = parse_fiche_id(summary["id"], 12)
        assert index is not None
        full = details(5, *index)
        assert full["information"]["fiche_id"] == summary["id"]
        assert full["prospect"]["nom"] == summary["nom"]
        assert full["prospect"]["telephone"] == summary["telephone"]
        assert [r["call_id"] for r in full["recordings"]] == [r["call_id"] for r in summary["recordings"]]
        assert all(r["recording_url"] for r in full["recordings"]), "details always know the URL"


def test_recordings_look_like_the_telephony_cdn() -> None:
    body = sales_list(9, 40, DAY, DAY, base_url=BASE, include_recordings=True)
    recordings = [r for f in body["fiches"] for r in f["recordings"]]
    assert all(1 <= len(f["recordings"]) <= 4 for f in body["fiches"])
    assert any(r["recording_url"] is None for r in recordings), "some sales-list URLs are unknown"
    assert any("?token=" in (r["recording_url"] or "") for r in recordings), "some URLs are signed"
    pattern = re.compile(
        r"http://sim\.test/records/[\d-]+/[0-9a-f-]{36}-(\d\d)-(\d\d)-(\d\d)-(\d\d)h(\d\d)-(\d+)-(\d+)\.wav(\?token=\w+)?"
    )
    for rec in recordings:
        assert len(rec["call_id"]) >= 19
        assert rec["call_id"].isdigit()
        assert parse_call_id(rec["call_id"]) is not None
        start = datetime.fromisoformat(rec["start_time"])
        assert rec["start_time"].endswith("+00:00")
        assert rec["from_number"].startswith("33")
        assert rec["to_number"].startswith("33")
        if rec["recording_url"]:
            match = pattern.fullmatch(rec["recording_url"])
            assert match, rec["recording_url"]
            assert match.group(1, 2, 3, 4, 5) == tuple(start.strftime("%d %m %y %H %M").split())
            assert (match[6], match[7]) == (rec["from_number"], rec["to_number"])
            filename = rec["recording_url"].split("?")[0].rsplit("/", 1)[1]
            assert parse_filename(filename) is not None


def test_prospects_are_french_and_synthetic() -> None:
    body = sales_list(2, 30, DAY, DAY, base_url=BASE, include_recordings=False)
    for fiche in body["fiches"]:
        assert re.fullmatch(r"0[67]\d{8}", fiche["telephone"])
        assert fiche["email"].endswith("@example.org")
        assert fiche["statut"] == "Vente"


def test_agents_belong_to_the_fiche_group() -> None:
    directory = build_directory(4)
    assert len(GROUPS) == 4
    for index in range(12):
        info = details(4, DAY, index)["information"]
        agent = next(u for u in directory.users if u.id == info["attribution_user_id"])
        assert agent.group.nom == info["groupe"]
        assert agent.active
        assert info["attribution_user_nom"] == agent.person.display


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="real anonymised payloads not available")
def test_sales_list_has_the_real_shape() -> None:
    real = load_fixture("sales-with-calls.example.json")
    ours = sales_list(11, 20, DAY, date(2025, 9, 27), base_url=BASE, include_recordings=True)
    assert_same_shape(ours, real)


@pytest.mark.skipif(not FIXTURES.is_dir(), reason="real anonymised payloads not available")
def test_details_have_the_real_shape() -> None:
    real = load_fixture("fiche-by-id.example.json")
    for index in range(30):
        assert_same_shape(details(11, DAY, index, per_day=30), real)


CONTRACT_KEYS = {
    "conjoint": {"conjoint_id", "civilite", "civilite_text", "nom", "prenom", "date_naissance", "regime",
                 "regime_text", "telephone", "mobile", "mail", "profession", "csp", "csp_text"},
    "enfants": {"enfant_id", "civilite", "civilite_text", "nom", "prenom", "date_naissance", "regime", "regime_text"},
    "rendez_vous": {"rdv_id", "etiquette", "etiquette_color", "utilisateur", "date_debut", "date_fin",
                    "commentaire", "statut"},
    "documents": {"document_id", "type", "nom", "taille", "date_creation", "selection_mail", "partage_prospect",
                  "signer", "download_url"},
    "reclamations": {"reclamation_id", "date_creation", "assureur", "type_reclamation", "description", "statut",
                     "date_traitement", "utilisateur_creation", "utilisateur_traitement"},
    "autres_contrats": {"contrat_id", "type_contrat", "assureur", "numero_contrat", "date_souscription", "montant",
                        "commentaire"},
    "tarification": {"nom", "gammes"},
}  # fmt: skip
"""Sections the real sample leaves empty, checked against the gateway client's validated schema."""


def test_sections_the_sample_leaves_empty_follow_the_contract() -> None:
    seen: set[str] = set()
    for index in range(200):
        body = details(13, DAY, index, per_day=200, mail_devis=True)
        for section, keys in CONTRACT_KEYS.items():
            rows = body[section] if isinstance(body[section], list) else [body[section]] if body[section] else []
            for row in rows:
                assert set(row) == keys, section
                seen.add(section)
        for tarif in body["tarification"]:
            for gamme in tarif["gammes"]:
                assert set(gamme) == {"nom", "logo_url", "garanties_url", "conditions_generales_url",
                                      "bulletin_adhesion_url", "formules"}  # fmt: skip
                assert all(set(f) == {"formule_id", "nom", "prix", "details"} for f in gamme["formules"])
        assert all(isinstance(v, str) for v in body["raw_sections"].values())
        if body["mail_devis"] is not None:
            seen.add("mail_devis")
            assert set(body["mail_devis"]) == {"mail_devis", "customer_info", "garanties_link", "garanties_details"}
    assert seen == {*CONTRACT_KEYS, "mail_devis"}, "every optional section appears somewhere"
