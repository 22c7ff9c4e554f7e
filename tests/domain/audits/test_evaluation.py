"""Agreement arithmetic of the audit-quality benchmark."""

from __future__ import annotations

import pytest

from domain.audits.evaluation import Agreement


def test_counts_and_kappa_of_a_known_table() -> None:
    # 20 TP, 5 FP, 10 FN, 15 TN: observed 0.7, expected 0.5 -> kappa 0.4
    pairs = [(True, True)] * 20 + [(False, True)] * 5 + [(True, False)] * 10 + [(False, False)] * 15
    table = Agreement.of(pairs)
    assert (table.true_positive, table.false_positive, table.false_negative, table.true_negative) == (20, 5, 10, 15)
    assert table.kappa == pytest.approx(0.4)
    assert table.recall == pytest.approx(20 / 30)
    assert table.precision == pytest.approx(0.8)


def test_perfect_and_chance_agreement() -> None:
    assert Agreement(3, 0, 0, 2).kappa == 1.0
    assert Agreement(5, 0, 0, 0).kappa == 1.0  # one class only, full agreement
    assert Agreement(4, 1, 0, 0).kappa == 0.0  # always "present": no better than chance
    assert Agreement().kappa == 1.0


def test_tables_add_up() -> None:
    assert Agreement(1, 2, 3, 4) + Agreement(1, 1, 1, 1) == Agreement(2, 3, 4, 5)
    assert Agreement(0, 1, 0, 1).recall == 1.0  # nothing to find
