"""Amounts and durations said in a call, checked against the plan; the facts block in the prompt."""

from __future__ import annotations

import dataclasses

from domain.audits.gating import GatedStep, GatingRules, gate_step
from domain.audits.prompts import STEP_SEPARATOR, prompt_messages, shared_prefix
from domain.audits.schema import Conformity, PointStatus
from domain.audits.timeline import Role
from domain.products.claims import apply_check, check_claims, for_step, plan_value
from domain.products.facts import ProductFacts
from tests.fixtures.factories.timelines import cite, output, point, scorecard, step, timeline

FACTS = ProductFacts(
    match={"strategy": "exact", "scores": {"groupe": 1.0}, "picked": {}, "reason": None},
    plan={"formule_id": 1, "groupe": "MUTALYS", "gamme": "Essentiel Santé", "formule": "E2", "codes": "MU/ESS/E2"},
    coverage={
        "hospitalisation": "150 %",
        "dentaire": "125 %",
        "optique": "150 €/an",
        "medecines": "100 %",
        "delai_attente": "3 mois",
    },
    tables=[
        {
            "title": "Tableau E2",
            "intro_text": ["Remboursements sécurité sociale incluse."],
            "formule_indicator": "E2",
            "notes_and_legal": "Délai de rétractation de 14 jours. Contrat responsable.",
            "categories": [
                {"name": "Dentaire", "section_index": 0, "items": [{"name": "Prothèses", "value": "125 %"}]}
            ],
        }
    ],
    documents={"dipa": "https://x.test/dipa.pdf"},
    sold={"groupe_nom": "MUTALYS", "cotisation": "42.10"},
    client_needs={"Vous souhaitez privilégier un contrat": "Responsable"},
)
ROLES: dict[str, Role] = {"speaker_0": "agent", "speaker_1": "client"}


def _call(*agent: str, client: str = "D'accord.") -> list[tuple[str, str]]:
    turns: list[tuple[str, str]] = []
    for line in agent:
        turns += [("speaker_0", line), ("speaker_1", client)]
    return turns


def test_plan_values_are_read_with_their_unit() -> None:
    assert plan_value("150 %") == (150.0, "pct")
    assert plan_value("250 €/an") == (250.0, "eur")
    assert plan_value("6 mois") == (6.0, "mois")
    assert plan_value("Aucun") == (0.0, "mois")
    assert plan_value("42.10 €") == (42.1, "eur")
    assert plan_value("selon contrat") is None


def test_correct_statements_in_words_or_digits_are_confirmed() -> None:
    call = timeline(
        _call(
            "L'hospitalisation est prise en charge à cent cinquante pour cent, le dentaire à 125 % "
            "et l'optique jusqu'à cent cinquante euros par an.",
            "Côté délai de carence, trois mois sur les prothèses dentaires.",
            "Vous avez quatorze jours de rétractation, c'est un contrat responsable.",
        ),
        roles=ROLES,
    )
    check = check_claims(call, FACTS, offline=True)
    assert sorted((c.claim.topic, c.verdict) for c in check.checks) == [
        ("carence", "confirmed"),
        ("dentaire", "confirmed"),
        ("hospitalisation", "confirmed"),
        ("optique", "confirmed"),
    ]
    assert check.notices == {"rétractation": True, "contrat responsable": True}
    assert any("Soins courants" in line for line in check.unverifiable)  # said nowhere: cannot be checked
    assert check_claims(call, FACTS, offline=False).unverifiable == ()


def test_a_wrong_reimbursement_or_waiting_period_is_contradicted() -> None:
    call = timeline(
        _call("Le dentaire est remboursé à 200 %.", "Il n'y a aucun délai de carence sur cette formule."),
        roles=ROLES,
    )
    check = check_claims(call, FACTS, offline=True)
    contradicted = {(c.claim.topic, c.claim.amount, c.expected) for c in check.contradictions}
    assert contradicted == {("dentaire", 200.0, "125 %"), ("carence", 0.0, "3 mois")}
    assert check.notices == {"rétractation": False, "contrat responsable": False}


def test_the_premium_said_is_checked_against_the_premium_sold_with_its_cents() -> None:
    call = timeline(
        _call(
            "Votre cotisation sera de 42,10 euros par mois, prélevée le 5 de chaque mois.",
            "Alors votre cotisation, c'est 42 euros 10 par mois, plus vingt euros de frais de dossier.",
            "Niveau cotisation, on est à quarante-deux euros par mois.",
        ),
        roles=ROLES,
    )
    checks = check_claims(call, FACTS, offline=True).checks
    assert [(c.claim.topic, c.claim.amount, c.verdict) for c in checks] == [
        ("cotisation", 42.1, "confirmed"),
        ("cotisation", 42.1, "confirmed"),
        ("cotisation", 42.0, "contradicted"),
    ]
    assert checks[2].expected == "42.10 €"
    flagged = apply_check(
        gate_step(step(points=("Prix",)), output(point(PointStatus.PRESENT)), call, GatingRules()),
        check_claims(call, FACTS, offline=True),
    )
    assert (
        "Cotisation mensuelle : annoncé « on est à quarante-deux euros par mois », fiche 42.10 €"
        in flagged.commentaire_global
    )


def test_a_step_answers_for_the_topics_it_names_or_for_all_when_it_names_none() -> None:
    call = timeline(
        _call("Le dentaire est remboursé à 200 %.", "Votre cotisation sera de 40 euros par mois."), roles=ROLES
    )
    check = check_claims(call, FACTS, offline=True)
    assert {c.claim.topic for c in check.contradictions} == {"dentaire", "cotisation"}
    guarantees = dataclasses.replace(step(points=("Détailler les garanties de la formule",)), name="Garanties")
    premium = dataclasses.replace(step(points=("Annoncer la cotisation mensuelle",)), name="Cotisation et frais")
    waiting = dataclasses.replace(step(points=("Exclusions",)), keywords=("délai d'attente",))
    assert for_step(check, guarantees) == check
    assert [c.claim.topic for c in for_step(check, premium).checks] == ["cotisation"]
    assert for_step(check, waiting).checks == ()


def test_the_client_and_holds_make_no_claims() -> None:
    call = timeline(
        [
            ("speaker_1", "Ma voisine a le dentaire remboursé à 400 %."),
            ("speaker_0", "Je vous mets en attente, ne quittez pas."),
        ],
        roles=ROLES,
    )
    assert check_claims(call, FACTS, offline=True).checks == ()


def test_a_contradiction_fails_the_step_and_says_which_value() -> None:
    call = timeline(_call("Le dentaire est remboursé à 200 %."), roles=ROLES)
    product_step = step(points=("Garanties présentées",))
    gated: GatedStep = gate_step(product_step, output(point(PointStatus.ABSENT), score=8), call, GatingRules())
    flagged = apply_check(gated, check_claims(call, FACTS, offline=True))
    assert flagged.conforme == Conformity.NON_CONFORME
    assert flagged.score == 0
    assert "annoncé « Le dentaire est remboursé à 200 % »" in flagged.commentaire_global
    assert "catalogue 125 %" in flagged.commentaire_global
    fine = timeline(
        _call("Le dentaire est remboursé à 125 %. Quatorze jours de rétractation, contrat responsable."), roles=ROLES
    )
    assert apply_check(gated, check_claims(fine, FACTS, offline=True)) == gated


def test_a_point_citing_the_wrong_statement_as_its_evidence_is_lowered() -> None:
    call = timeline(
        _call("Le dentaire est remboursé à 200 %.", "Vous avez quatorze jours de rétractation."), roles=ROLES
    )
    vouched = output(
        point(PointStatus.PRESENT, cite("Le dentaire est remboursé à 200 %"), text="Garanties présentées"),
        point(
            PointStatus.PRESENT, cite("Vous avez quatorze jours de rétractation", chunk_index=2), text="Rétractation"
        ),
    )
    gated = gate_step(step(points=("Garanties présentées", "Rétractation")), vouched, call, GatingRules())
    assert [p.statut for p in gated.points] == [PointStatus.PRESENT, PointStatus.PRESENT]  # the quotes exist
    flagged = apply_check(gated, check_claims(call, FACTS, offline=False))
    wrong, fine = flagged.points
    assert wrong.statut == PointStatus.PARTIEL
    assert "la citation contredit le tableau : Dentaire : annoncé « Le dentaire est remboursé à 200 % »" in (
        wrong.commentaire
    )
    assert fine == gated.points[1]
    assert flagged.conforme == Conformity.NON_CONFORME


def test_the_facts_block_sits_in_the_step_part_after_the_shared_prefix() -> None:
    product = dataclasses.replace(step(2, points=("Garanties",)), verify_product_info=True)
    card = scorecard(step(1), product)
    call = timeline(_call("Bonjour."), roles=ROLES)
    asked = dataclasses.replace(product, product_context=FACTS.prompt_block())
    plain = prompt_messages(card, product, call)
    informed = prompt_messages(card, asked, call)
    prefix = shared_prefix(card, call)
    system, head = prefix.split("\x00")
    assert informed[0]["content"] == system == plain[0]["content"]
    assert informed[1]["content"].startswith(head)
    step_text = informed[1]["content"].split(STEP_SEPARATOR, 1)[1]
    assert "FICHE PRODUIT DE RÉFÉRENCE" in step_text
    assert "- Dentaire : 125 %" in step_text
    assert "- Maternité : NON COUVERT / NON SPÉCIFIÉ" in step_text
    assert "MENTIONS LÉGALES (à communiquer au client) : Délai de rétractation" in step_text
    assert "Vous souhaitez privilégier un contrat : Responsable" in step_text
    assert "impossible pour cet audit" in plain[1]["content"]
    assert "impossible pour cet audit" not in step_text
