"""Labelled product faults of the simulator: a plan the catalogue lacks, an agent stating a wrong value."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from typing import Any

import pytest

from callaudit.demo_crm.calls import build_transcript, fiche_ground_truth
from callaudit.demo_crm.catalogue import demo_catalogue
from callaudit.demo_crm.config import SimulatorConfig
from callaudit.demo_crm.fiches import FicheCore, build_fiche
from callaudit.demo_crm.products import FORMULAS, UNLISTED_FORMULAS
from callaudit.demo_crm.sections import elements_souscription
from domain.audits.timeline import Timeline, TimelineRecording, recording_chunks
from domain.products.claims import check_claims
from domain.products.facts import ProductFacts
from domain.products.linking import PlanNames, ProductMatch, SoldProduct, link_product
from domain.transcripts.chunking import Word, build_chunks

DAY = date(2025, 11, 3)


def _fiches(rate: float, count: int = 60) -> list[FicheCore]:
    return [build_fiche(31, DAY + timedelta(days=n // 12), n % 12, 12, rate) for n in range(count)]


Entries = tuple[dict[str, Any], dict[str, Any], dict[str, Any]]


def _plans() -> list[tuple[PlanNames, Entries]]:
    found: list[tuple[PlanNames, Entries]] = []
    for groupe in demo_catalogue()["groupes"]:
        for gamme in groupe["gammes"]:
            for formule in gamme["formules"]:
                names = PlanNames(len(found), groupe["libelle"], gamme["libelle"], formule["libelle"])
                found.append((names, (groupe, gamme, formule)))
    return found


def _sold(core: FicheCore) -> SoldProduct:
    produit = elements_souscription(core)["produit"]
    return SoldProduct(produit["groupe_nom"], produit["gamme_nom"], produit["formule_nom"])


def _call(core: FicheCore, call_id: str) -> Timeline:
    """One call as the agent said it; the reference transcript labels the agent `speaker_0`."""
    rec = next(r for r in core.recordings if r.call_id == call_id)
    words = [Word(w.text, w.start, w.end, w.speaker) for w in build_transcript(core, rec).words]
    chunks = recording_chunks(0, build_chunks(call_id, words), words)
    chunks = tuple(dataclasses.replace(c, role="agent" if c.speaker == "speaker_0" else "client") for c in chunks)
    return Timeline(core.fiche_id, (TimelineRecording(0, call_id, "", None, None, None, None, None, None, chunks),))


def test_without_a_rate_no_fiche_has_a_fault_and_the_truth_says_so() -> None:
    for core in _fiches(0.0, 24):
        assert core.product_fault is None
        assert core == build_fiche(31, core.day, core.index, 12)
        assert fiche_ground_truth(core)["product_fault"] is None


def test_a_fault_changes_nothing_else_and_an_unlisted_plan_links_to_nothing() -> None:
    plans = [names for names, _ in _plans()]
    kinds = set()
    for plain, faulty in zip(_fiches(0.0), _fiches(1.0), strict=True):
        assert faulty.product_fault is not None
        kinds.add(faulty.product_fault.kind)
        assert (faulty.prospect, faulty.agent, faulty.cotisation, faulty.recordings) == (
            plain.prospect,
            plain.agent,
            plain.cotisation,
            plain.recordings,
        )
        if faulty.product_fault.kind == "unlisted_product":
            assert faulty.formula in UNLISTED_FORMULAS
            assert faulty.formula.level == plain.formula.level
            assert link_product(_sold(faulty), plans).strategy == "none"
        else:
            assert faulty.formula == plain.formula in FORMULAS
            assert link_product(_sold(faulty), plans).strategy == "exact"
    assert kinds == {"unlisted_product", "wrong_hospitalisation", "wrong_dentaire", "wrong_waiting_period"}


def test_a_wrong_promise_is_said_in_the_calls_the_truth_names_and_contradicts_the_plan() -> None:
    plans = _plans()
    said_somewhere = 0
    for core in _fiches(0.5):
        truth = fiche_ground_truth(core)["product_fault"]
        if truth is None or truth["kind"] == "unlisted_product":
            continue
        match = link_product(_sold(core), [names for names, _ in plans])
        assert match.formule_id is not None
        groupe, gamme, formule = plans[match.formule_id][1]
        facts = ProductFacts.from_document(
            groupe, gamme, formule, match=ProductMatch("exact"), sold=_sold(core), sale={}, needs=None
        )
        assert truth["plan"] == formule[truth["topic"]] != truth["said"]
        for rec in core.recordings:
            contradicted = check_claims(_call(core, rec.call_id), facts, offline=True).contradictions
            if rec.call_id in truth["said_in_calls"]:
                said_somewhere += 1
                assert {c.expected for c in contradicted} == {truth["plan"]}, rec.call_id
            else:
                assert contradicted == (), rec.call_id
    assert said_somewhere >= 5


def test_the_rate_is_read_from_the_environment_and_bounded() -> None:
    config = SimulatorConfig.from_env({"DEMO_CRM_PRODUCT_FAULT_RATE": "0.25"}, env_file=None)
    assert config.product_fault_rate == 0.25
    assert SimulatorConfig.from_env({}, env_file=None).product_fault_rate == 0.0
    with pytest.raises(ValueError, match="product_fault_rate"):
        SimulatorConfig.from_env({"DEMO_CRM_PRODUCT_FAULT_RATE": "1.5"}, env_file=None)
