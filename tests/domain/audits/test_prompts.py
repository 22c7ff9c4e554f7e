"""Prompt layout: the shared prefix of prompt mode, the step part, tools mode without the timeline."""

from __future__ import annotations

from domain.audits.prompts import (
    STEP_SEPARATOR,
    prompt_messages,
    prompt_prefix_key,
    shared_prefix,
    step_part,
    tools_messages,
)
from domain.audits.timeline import render_timeline
from tests.fixtures.factories.timelines import FOLLOW_UP, SALE_CALL, sample_scorecard, timeline


def test_every_step_of_an_audit_starts_with_the_same_prefix() -> None:
    card, tl = sample_scorecard(), timeline(SALE_CALL, FOLLOW_UP)
    layouts = [prompt_messages(card, step, tl) for step in card.steps]
    assert len({m[0]["content"] for m in layouts}) == 1
    heads = {m[1]["content"].split(STEP_SEPARATOR)[0] for m in layouts}
    assert heads == {render_timeline(tl)}
    for step, messages in zip(card.steps, layouts, strict=True):
        assert messages[1]["content"].endswith(step_part(card, step))
        assert shared_prefix(card, tl).endswith(render_timeline(tl) + STEP_SEPARATOR)


def test_prefix_key_follows_the_timeline_and_scorecard() -> None:
    card = sample_scorecard()
    key = prompt_prefix_key(card, timeline(SALE_CALL))
    assert key == prompt_prefix_key(card, timeline(SALE_CALL))
    assert key != prompt_prefix_key(card, timeline(SALE_CALL, FOLLOW_UP))


def test_step_part_has_header_points_keywords_and_product_warning() -> None:
    card = sample_scorecard()
    first, _, third = (step_part(card, step) for step in card.steps)
    assert first.startswith("ÉTAPE 1/3 : Présentation cabinet et agent")
    assert "Sévérité : CRITICAL | Poids : 10 points | Point critique : OUI" in first
    assert "1. Identité de l'agent\n2. Mention du cabinet\n3. Numéro ORIAS" in first
    assert "MOTS-CLÉS : ORIAS, conseiller, Net Courtage" in first
    assert "VÉRIFICATION PRODUIT" not in first
    assert "N'inventez jamais de garanties" in third


def test_prompt_mode_rules_explain_the_one_based_labels() -> None:
    system = prompt_messages(sample_scorecard(), sample_scorecard().steps[0], timeline(SALE_CALL))[0]["content"]
    assert system.startswith("Vous êtes un auditeur qualité")
    assert "« Enregistrement #X » moins 1" in system
    assert "PRESENT : au moins une citation" in system


def test_tools_mode_keeps_the_timeline_out() -> None:
    card, tl = sample_scorecard(), timeline(SALE_CALL)
    system, user = tools_messages(card, card.steps[0])
    assert SALE_CALL[0][1] not in system["content"] + user["content"]
    assert "search_transcript" in system["content"]
    assert "moins 1" not in system["content"]
    assert user["content"] == step_part(card, card.steps[0])
    assert render_timeline(tl) not in user["content"]
