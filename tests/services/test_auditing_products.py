"""Product verification in audits, on simulator fiches with labelled product faults: the fiche linked to
the catalogue, the values the agent states checked against the plan, by either auditor."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, selectinload

from callaudit.demo_crm.catalogue import demo_catalogue
from callaudit.demo_crm.config import SimulatorConfig
from callaudit.demo_crm.server import run_in_thread
from domain.audits.heuristic import HeuristicAuditor
from domain.audits.reruns import RerunRequest
from domain.audits.scorecard import ScorecardSpec
from domain.models import Audit, AuditProductLink, AuditStep, FicheSubscription
from domain.products.audit_link import product_view
from domain.products.claims import step_topics
from domain.products.io import import_catalogue
from resources.llm.config import LlmConfig
from resources.llm.pricing import PriceTable
from resources.llm.resource import openai_auditor
from resources.redis.client import create_async_redis
from services.auditing import Outcome
from tests.fixtures.audit_runs import audit_engine, rerun, scorecard_spec
from tests.fixtures.crm_simulator import Simulator
from tests.fixtures.standins.llm import OpenAiStandIn, Reply, control_points, step_answer

CLAIM_TOPIC = {"hospitalisation": "hospitalisation", "dentaire": "dentaire", "delai_attente": "carence"}
FAULT_RATE = 0.9  # on the audit fixtures' day: fiches without fault, wrong promises said and unsaid, one unlisted plan


@pytest.fixture
def simulator() -> Iterator[Simulator]:
    with run_in_thread(SimulatorConfig(seed=7, fiches_per_day=10, product_fault_rate=FAULT_RATE)) as url:
        yield Simulator(url)


def _truth(simulator: Simulator, fiche_id: str) -> dict[str, Any] | None:
    fault: dict[str, Any] | None = httpx.get(f"{simulator.base_url}/__sim/ground-truth/{fiche_id}").json()[
        "product_fault"
    ]
    return fault


def _catalogue(sync_engine: Engine) -> None:
    with Session(sync_engine) as session, session.begin():
        import_catalogue(session, demo_catalogue())


def _product_steps(spec: ScorecardSpec) -> list[int]:
    return [s.position for s in spec.steps if s.verify_product_info]


def _audit(sync_engine: Engine, audit_id: int | None) -> Audit:
    with Session(sync_engine) as session:
        return session.get_one(
            Audit, audit_id, options=[selectinload(Audit.steps).selectinload(AuditStep.control_points)]
        )


def test_the_heuristic_auditor_flags_exactly_the_fiches_whose_agent_states_a_wrong_value(
    simulator: Simulator, transcribed_day: list[str], scorecard_id: int, sync_engine: Engine
) -> None:
    _catalogue(sync_engine)
    spec = scorecard_spec(sync_engine, scorecard_id)
    product = _product_steps(spec)
    seen: set[str] = set()
    flagged: list[int] = []
    for fiche_id in transcribed_day:
        truth = _truth(simulator, fiche_id)
        kind = "said" if truth and truth["said_in_calls"] else truth["kind"] if truth else "none"
        seen.add(kind if kind in ("said", "none", "unlisted_product") else "unsaid")
        result = asyncio.run(audit_engine(sync_engine, HeuristicAuditor()).audit_fiche(fiche_id, spec, force=True))
        assert result.outcome == Outcome.COMPLETED
        audit = _audit(sync_engine, result.audit_id)
        steps = [s for s in audit.steps if s.position in product]
        with Session(sync_engine) as session:
            link = session.get_one(AuditProductLink, audit.id)
            view = product_view(session, audit.id)
            sold = session.get_one(FicheSubscription, fiche_id)
        assert view is not None
        assert link.sold["formule_nom"] == sold.produit_formule_nom
        if kind == "unlisted_product":  # no match is an outcome: recorded, nothing checked
            assert (link.strategy, link.formule_id, view["steps"]) == ("none", None, [])
            assert link.scores["reason"]
            continue
        assert link.strategy == "exact"
        assert [s["position"] for s in view["steps"]] == product
        checks = [c for s in view["steps"] for c in s["checks"]]
        assert all(s["not_verifiable_offline"] for s in view["steps"])  # what no model read is said
        assert all(s["facts_used"]["plan"]["formule"] == sold.produit_formule_nom for s in view["steps"])
        contradicted = [c for c in checks if c["verdict"] == "contradicted"]
        if kind != "said":
            assert checks
            assert contradicted == []
            assert not any("annoncé «" in (s.commentaire_global or "") for s in steps)
            continue
        assert truth is not None
        said = float(re.sub(r"[^\d]", "", truth["said"]) or 0)  # "200 %" -> 200, "Aucun" -> 0
        assert {(c["said"].split()[0], c["expected"]) for c in contradicted} == {(f"{said:g}", truth["plan"])}
        for step in steps:  # the steps naming the wrong value's topic, or no topic at all, are flagged
            answers = step_topics(spec.step(step.position))
            if not answers or CLAIM_TOPIC[truth["topic"]] in answers:
                assert (step.conforme, step.score) == ("NON_CONFORME", 0)
                assert f"catalogue {truth['plan']}" in step.commentaire_global
            else:
                assert "annoncé «" not in step.commentaire_global
        flagged.append(audit.id)
    assert seen == {"none", "said", "unsaid", "unlisted_product"}  # the day covers every case

    # a rerun of a product step is checked against the facts the audit was given
    outcome = rerun(sync_engine, RerunRequest("product", flagged[0], product[0]))
    assert outcome.status == "completed"
    assert outcome.comparison["step_conforme"]["next"] == "NON_CONFORME"
    with Session(sync_engine) as session:
        view = product_view(session, flagged[0])
    assert view is not None
    assert [s["position"] for s in view["steps"]] == product
    assert any(c["verdict"] == "contradicted" for c in view["steps"][0]["checks"])


def _vouch_for(quote_words: re.Pattern[str]) -> Any:
    """A model that finds the sentence stating a value, quotes it and calls the step compliant."""

    def vouch(body: dict[str, Any]) -> Reply:
        prompt = body["messages"][-1]["content"]
        answer = step_answer(control_points(body))
        if "FICHE PRODUIT DE RÉFÉRENCE" in prompt:
            recording = chunk = 0
            for line in prompt.split("=== ÉTAPE À ANALYSER ===")[0].splitlines():
                if found := re.match(r"Enregistrement #(\d+)", line):
                    recording = int(found.group(1)) - 1
                elif found := re.match(r"─── Chunk (\d+) ───", line):
                    chunk = int(found.group(1)) - 1
                elif (said := quote_words.search(line)) and line.startswith("speaker_"):
                    citation = {
                        "texte": said.group(0),
                        "minutage": "00:00",
                        "minutage_secondes": 0.0,
                        "speaker": line.split(":", 1)[0],
                        "recording_index": recording,
                        "chunk_index": chunk,
                        "recording_date": "N/A",
                        "recording_time": "N/A",
                        "recording_url": "N/A",
                    }
                    answer = step_answer(control_points(body), score=10, citations=[citation])
                    answer.update(conforme="CONFORME", niveau_conformite="EXCELLENT")
                    break
        return Reply(content=json.dumps(answer, ensure_ascii=False))

    return vouch


def test_the_llm_auditor_reads_the_facts_and_its_vouching_for_a_wrong_value_is_overruled(
    simulator: Simulator, transcribed_day: list[str], scorecard_id: int, sync_engine: Engine, redis_url: str
) -> None:
    """The model gets the plan in the step part only, calls the wrong statement compliant and quotes it
    (the quote exists, so gating keeps it): the check against the plan still flags the step and the point.
    Vouching for a correct statement on a fiche without fault flags nothing."""
    _catalogue(sync_engine)
    spec = scorecard_spec(sync_engine, scorecard_id)
    correct = next(f for f in transcribed_day if _truth(simulator, f) is None)
    fiche_id, truth = next(
        (f, t)
        for f in transcribed_day
        if (t := _truth(simulator, f)) and t["kind"] == "wrong_hospitalisation" and t["said_in_calls"]
    )
    said = truth["said"].removesuffix(" %")
    words = re.compile(
        rf"(?:hospitalisation|hôpital|hopital)[^.,]*? {said}(?: %| pour cent)|{said} % en hospitalisation"
    )

    async def run_audit(server: OpenAiStandIn, fiche_id: str) -> Any:
        redis = create_async_redis(redis_url)
        config = LlmConfig(model="gpt-test", backoff_base=0.01, backoff_max=0.05, request_timeout=10.0)
        auditor = openai_auditor(config, redis, api_key=server.key, base_url=server.base_url, prices=PriceTable({}))
        try:
            return await audit_engine(sync_engine, auditor).audit_fiche(fiche_id, spec, force=True)
        finally:
            await auditor.aclose()
            await redis.aclose()

    with OpenAiStandIn(model="gpt-test") as server:
        server.responder = _vouch_for(words)
        result = asyncio.run(run_audit(server, fiche_id))
        informed = [s.body["messages"] for s in server.seen if "FICHE PRODUIT" in s.body["messages"][-1]["content"]]
        server.responder = _vouch_for(re.compile(r"(?:hospitalisation|hôpital)[^.,]*? \d+(?: %| pour cent)"))
        fine = asyncio.run(run_audit(server, correct))
    assert server.violations == []
    assert result.outcome == fine.outcome == Outcome.COMPLETED
    product = _product_steps(spec)
    assert len(informed) == len(product)
    for messages in informed:  # the facts are in the step part, after the prefix every step shares
        head, step_part = messages[-1]["content"].split("=== ÉTAPE À ANALYSER ===", 1)
        assert "FICHE PRODUIT" not in head
        assert f"- Hospitalisation : {truth['plan']}" in step_part
    audit = _audit(sync_engine, result.audit_id)
    assert audit.auditor == "openai"
    assert [step_topics(spec.step(p)) for p in product] == [set(), {"carence"}, {"cotisation", "frais"}]
    for step in (s for s in audit.steps if s.position == product[0]):  # the step naming no topic answers for all
        assert (step.conforme, step.score) == ("NON_CONFORME", 0)
        assert "Hospitalisation : annoncé « " in step.commentaire_global
        assert f"catalogue {truth['plan']}" in step.commentaire_global
        cited = step.control_points[0]
        assert cited.statut == "PARTIEL"  # the quote is real, the value it states is not the plan's
        assert "la citation contredit le tableau" in cited.commentaire
    for step in (s for s in audit.steps if s.position in product[1:]):  # waiting period, premium: not their topic
        assert "annoncé «" not in step.commentaire_global
    with Session(sync_engine) as session:
        view = product_view(session, audit.id)
    assert view is not None
    assert view["strategy"] == "exact"
    assert all(step["not_verifiable_offline"] == [] for step in view["steps"])  # a model read the call

    vouched = _audit(sync_engine, fine.audit_id)
    for step in (s for s in vouched.steps if s.position in product):
        assert "annoncé «" not in step.commentaire_global
        assert step.control_points[0].statut == "PRESENT"  # its quote states the plan's value


def test_without_a_catalogue_the_audit_records_no_match(
    transcribed_day: list[str], scorecard_id: int, sync_engine: Engine
) -> None:
    spec = scorecard_spec(sync_engine, scorecard_id)
    result = asyncio.run(
        audit_engine(sync_engine, HeuristicAuditor()).audit_fiche(transcribed_day[1], spec, force=True)
    )
    assert result.outcome == Outcome.COMPLETED
    with Session(sync_engine) as session:
        link = session.get_one(AuditProductLink, result.audit_id)
        assert link.strategy == "none"
        assert link.formule_id is None
        assert link.facts == {"facts": None, "steps": {}}
    audit = _audit(sync_engine, result.audit_id)
    assert not any("[Vérification produit]" in (s.commentaire_global or "") for s in audit.steps)
