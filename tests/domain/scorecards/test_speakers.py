"""Whose words count per control point: inferred for the original's documents, kept, edited, exported."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from domain.audits.scorecard import SpeakerRule
from domain.models import ScorecardStep
from domain.scorecards import service
from domain.scorecards.io import read_document
from domain.scorecards.speakers import infer_point_speaker
from domain.scorecards.validation import validate_document
from tests.fixtures.factories.scorecards import sample_document, step_json

FIXTURES = Path("/work/shared/fixtures/scorecards")
ORIGINALS = sorted(FIXTURES.glob("*.json")) if FIXTURES.is_dir() else []
AGENT, CLIENT, ANY = SpeakerRule.AGENT, SpeakerRule.CLIENT, SpeakerRule.ANY


@pytest.mark.parametrize(
    ("point", "rule"),
    [
        # the original's 18-point scorecard: what the advisor must say stays the advisor's
        ("Identité du conseiller (prénom + nom)", AGENT),
        ("Annonce 'appel enregistré'", AGENT),
        ("Conservation 2 ans mentionnée", AGENT),
        ("Droit d'opposition mentionné", AGENT),
        ("Réaction appropriée en cas de refus", AGENT),
        ("Question posée sur résidence EHPAD", AGENT),
        ("Traitement approprié de la réponse", AGENT),
        ("Frais de courtage mentionnés", AGENT),
        ("Confirmation que les frais sont dans le devis", AGENT),
        ("Respect du refus", AGENT),
        # ... facts established by question and answer: either side's words show them
        ("Compagnie actuelle identifiée", ANY),
        ("Montant actuel relevé", ANY),
        ("Budget maximum établi", ANY),
        ("Fréquence de paiement notée", ANY),
        ("Date de naissance vérifiée", ANY),
        ("Nom et prénom confirmés", ANY),
        # the client's consent or answer
        ("Accord du client pour l'adhésion", CLIENT),
        ("Consentement à l'enregistrement", CLIENT),
        ("Le client confirme son choix de formule", CLIENT),
        ("Réponse du client sur sa mutuelle actuelle", CLIENT),
        # the demo scorecard
        ("Saluer le client par un bonjour en début d'appel", AGENT),
        ("Le conseiller ou la conseillère décline son identité et sa fonction", AGENT),
        ("Annoncer que l'appel est enregistré (enregistrement de la conversation)", AGENT),
        ("Informer le client de son délai ou droit de rétractation", AGENT),
        ("Faire confirmer au client qu'il accepte d'adhérer, de souscrire ou de signer l'adhésion", CLIENT),
        ("Faire réaliser la signature électronique (code SMS, lien ou bulletin)", AGENT),
    ],
)
def test_point_speaker_is_inferred_from_its_wording(point: str, rule: SpeakerRule) -> None:
    assert infer_point_speaker(point) is rule


def test_facts_about_the_client_under_a_step_where_the_agent_asks_are_either_sides() -> None:
    asks = "Vérifier que le conseiller confirme: - Nom et prénom du client - Situation professionnelle"
    introduces = "Vérifier que le conseiller: - Se présente avec son prénom/nom - Donne le numéro ORIAS"
    assert infer_point_speaker("Régime professionnel (salarié/indépendant/retraité/etc.)", asks) is ANY
    assert infer_point_speaker("Composition du foyer (solo/couple/famille)", asks) is ANY
    assert infer_point_speaker("Dépassements d'honoraires évoqués", asks) is AGENT  # the agent's own act
    assert infer_point_speaker("Identité du conseiller (prénom + nom)", introduces) is AGENT
    assert infer_point_speaker("Régime professionnel (salarié/indépendant/retraité/etc.)") is AGENT


def test_a_short_point_takes_the_client_rule_from_its_step_prompt() -> None:
    prompt = "Vérifie que le client donne son accord explicite pour adhérer."
    assert infer_point_speaker("Accord pour adhérer", prompt) is CLIENT
    assert infer_point_speaker("Signature électronique réalisée", prompt) is AGENT
    assert infer_point_speaker("Accord pour adhérer") is AGENT


def test_the_demo_scorecard_gets_its_consent_point_as_the_clients() -> None:
    consent = service.demo_document()["auditSteps"][9]
    draft = read_document(service.demo_document())
    step = next(s for s in draft.steps if s.name == consent["name"])
    assert step.point_speakers == (CLIENT, AGENT)
    assert all(s.point_speakers for s in draft.steps)


@pytest.mark.skipif(not ORIGINALS, reason="the original's scorecards are not in this checkout's shared fixtures")
@pytest.mark.parametrize("path", ORIGINALS, ids=lambda p: p.name)
def test_the_originals_documents_round_trip_losslessly(db_session: Session, path: Path) -> None:
    document = json.loads(path.read_text(encoding="utf-8"))
    assert all("controlPointSpeakers" not in step for step in document["auditSteps"])

    imported = service.import_document(db_session, copy.deepcopy(document))
    exported = service.export(db_session, imported.scorecard.id)

    # Everything the original wrote comes back verbatim (positions and keys audits do not use
    # included); each step gains its rules, one per point.
    for original, step in zip(document["auditSteps"], exported["auditSteps"], strict=True):
        speakers = step.pop("controlPointSpeakers")
        assert len(speakers) == len(original["controlPoints"])
        assert set(speakers) <= {"agent", "client", "any"}
        assert step == original
    again = service.import_document(
        db_session, service.export(db_session, imported.scorecard.id), scorecard_id=imported.scorecard.id
    )
    assert not again.version_created  # the export is the stored content exactly


def test_the_18_point_scorecard_keeps_the_advisors_statements_for_the_advisor(db_session: Session) -> None:
    path = FIXTURES / "audit_config_18_points.json"
    if not path.is_file():
        pytest.skip("the original's 18-point scorecard is not in the shared fixtures")
    imported = service.import_document(db_session, json.loads(path.read_text(encoding="utf-8")))
    spec = service.current_spec(db_session, imported.scorecard.id)
    presentation = spec.step(1)
    rules = dict(zip(presentation.control_points, presentation.point_speakers, strict=True))
    assert rules["Conservation 2 ans mentionnée"] is AGENT
    assert rules["Annonce 'appel enregistré'"] is AGENT
    assert rules["Identité du conseiller (prénom + nom)"] is AGENT
    assert spec.step(4).speaker_rule(0) is ANY  # "Compagnie actuelle identifiée": the client names it


def test_given_speakers_are_kept_and_checked() -> None:
    step = step_json(1, controlPoints=["Accord", "Nom"], controlPointSpeakers=["CLIENT", "any"])
    (spec, *_) = read_document(sample_document(auditSteps=[step])).steps
    assert spec.point_speakers == (CLIENT, ANY)

    bad = sample_document(
        auditSteps=[
            step_json(1, controlPoints=["a", "b"], controlPointSpeakers=["agent"]),
            step_json(2, controlPoints=["a"], controlPointSpeakers=["conseiller"]),
        ]
    )
    issues = {i.field: i.message for i in validate_document(bad)}
    assert issues == {
        "auditSteps[0].controlPointSpeakers": "must have one entry per control point (2)",
        "auditSteps[1].controlPointSpeakers": "must be a list of agent, client, any",
    }


def test_blank_points_drop_with_their_speakers() -> None:
    step = step_json(1, controlPoints=["a", " ", "b"], controlPointSpeakers=["agent", "client", "any"])
    (spec, *_) = read_document(sample_document(auditSteps=[step])).steps
    assert spec.control_points == ("a", "b")
    assert spec.point_speakers == (AGENT, ANY)


def test_a_point_edit_keeps_the_rules_of_unchanged_points(db_session: Session) -> None:
    document = sample_document(steps=1)
    document["auditSteps"][0].update(controlPoints=["Nom", "Prénom"], controlPointSpeakers=["any", "client"])
    imported = service.import_document(db_session, document)
    step_id = imported.version.steps[0].id

    version = service.update_step(db_session, step_id, {"controlPoints": ["Prénom", "Consentement du client", "Nom"]})
    assert version.spec().steps[0].point_speakers == (CLIENT, CLIENT, ANY)

    step_id = version.steps[0].id
    version = service.update_step(db_session, step_id, {"controlPointSpeakers": ["agent", "any", "agent"]})
    assert version.spec().steps[0].point_speakers == (AGENT, ANY, AGENT)


def test_steps_stored_before_the_column_get_their_rules_inferred(db_session: Session) -> None:
    document: dict[str, Any] = sample_document(steps=1)
    document["auditSteps"][0]["controlPoints"] = ["Annonce du droit de rétractation", "Accord du client"]
    imported = service.import_document(db_session, document)
    db_session.execute(
        update(ScorecardStep).where(ScorecardStep.version_id == imported.version.id).values(point_speakers=None)
    )
    db_session.expire_all()

    spec = service.current_spec(db_session, imported.scorecard.id)
    assert spec.steps[0].point_speakers == (AGENT, CLIENT)
