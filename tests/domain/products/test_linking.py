"""Linking a fiche's sold product to the catalogue (reference §7.9): exact, fuzzy, or recorded as no match."""

from __future__ import annotations

from domain.products.linking import PlanNames, SoldProduct, link_product, normalise, similarity

PLANS = [
    PlanNames(1, "MUTALYS", "Essentiel Santé", "HOSPI"),
    PlanNames(2, "MUTALYS", "Essentiel Santé", "E2", "Essentiel 2"),
    PlanNames(3, "MUTALYS", "Sénior Plus", "S1"),
    PlanNames(4, "PREVALIA", "Confort", "Médium"),
    PlanNames(5, "PREVALIA", "Confort", "Premium"),
]


def test_exact_match_ignores_case_and_spacing() -> None:
    match = link_product(SoldProduct("mutalys", "essentiel  santé", "hospi"), PLANS)
    assert match.strategy == "exact"
    assert match.formule_id == 1
    assert match.picked == {"groupe": "MUTALYS", "gamme": "Essentiel Santé", "formule": "HOSPI"}


def test_exact_match_on_the_alternative_label() -> None:
    assert link_product(SoldProduct("MUTALYS", "Essentiel Santé", "essentiel 2"), PLANS).formule_id == 2


def test_accents_missing_match_fuzzily_with_full_scores() -> None:
    match = link_product(SoldProduct("MUTALYS", "Senior Plus", "S1"), PLANS)
    assert match.strategy == "fuzzy"
    assert match.formule_id == 3
    assert match.scores == {"groupe": 1.0, "gamme": 1.0, "formule": 1.0}


def test_abbreviated_range_and_accentless_plan_match_fuzzily() -> None:
    match = link_product(SoldProduct("Prévalia", "Confort", "Medium"), PLANS)
    assert (match.strategy, match.formule_id) == ("fuzzy", 4)
    abbreviated = link_product(SoldProduct("MUTALYS", "Essentiel", "HOSPI"), PLANS)
    assert (abbreviated.strategy, abbreviated.formule_id) == ("fuzzy", 1)
    assert abbreviated.scores["gamme"] == 0.92  # one label contains the other


def test_a_typo_in_the_insurer_still_matches_above_the_threshold() -> None:
    match = link_product(SoldProduct("MUTALIS", "Essentiel Santé", "HOSPI"), PLANS)
    assert (match.strategy, match.formule_id) == ("fuzzy", 1)
    assert 0.6 <= match.scores["groupe"] < 1


def test_unknown_insurer_is_a_recorded_no_match() -> None:
    match = link_product(SoldProduct("CEGEMA", "Essentiel2", "HOSPI"), PLANS)
    assert match.strategy == "none"
    assert match.formule_id is None
    assert match.scores["groupe"] < 0.6
    assert "CEGEMA" in (match.reason or "")


def test_unknown_plan_of_a_known_range_is_no_match() -> None:
    match = link_product(SoldProduct("PREVALIA", "Confort", "Zénith"), PLANS)
    assert match.strategy == "none"
    assert set(match.scores) == {"groupe", "gamme", "formule"}
    assert match.scores["formule"] < 0.65


def test_a_fiche_without_a_complete_product_is_no_match() -> None:
    assert link_product(SoldProduct("MUTALYS", None, "HOSPI"), PLANS).strategy == "none"
    assert link_product(SoldProduct("MUTALYS", "Essentiel Santé", "  "), PLANS).strategy == "none"


def test_similarity_rules() -> None:
    assert normalise("  Sénior-Plus! ") == "senior plus"
    assert similarity("Sénior Plus", "SENIOR PLUS") == 1.0
    assert similarity("Essentiel", "Essentiel Santé") == 0.92
    assert similarity("abcd", "abce") == 0.75
    assert similarity("", "x") == 0.0
