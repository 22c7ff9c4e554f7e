"""The paraphrase separation benchmark's own arithmetic: AUC, the false "present" a threshold adds,
and the two bag-of-vectors similarities."""

from __future__ import annotations

import numpy as np
import pytest
from paraphrase_separation import auc, false_present_at, windowed


def test_auc_counts_each_pair_and_ties_half() -> None:
    labels = np.array([True, True, False, False])
    assert auc(labels, np.array([0.9, 0.8, 0.1, 0.2])) == 1.0
    assert auc(labels, np.array([0.1, 0.2, 0.9, 0.8])) == 0.0
    # one positive above both negatives, the other tied with one and below the other: (2 + 0.5) / 4
    assert auc(labels, np.array([0.9, 0.5, 0.5, 0.7])) == pytest.approx(0.625)
    assert np.isnan(auc(np.array([True, True]), np.array([0.1, 0.2])))


def test_false_present_counts_the_negatives_at_the_threshold_including_ties() -> None:
    labels = np.array([True, False, True, False, True, False])
    scores = np.array([0.9, 0.8, 0.7, 0.7, 0.1, 0.0])
    assert false_present_at(labels, scores, 1) == 0
    assert false_present_at(labels, scores, 2) == 2  # 0.8, and 0.7 tied with the second positive
    assert false_present_at(labels, scores, 3) == 2
    assert false_present_at(labels, scores, 4) is None


def _unit(*rows: list[float]) -> np.ndarray:
    matrix = np.array(rows, dtype=np.float32)
    unit: np.ndarray = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
    return unit


def test_windowed_is_one_for_the_same_words_and_falls_with_unrelated_ones() -> None:
    words = (_unit([1, 0, 0], [0, 1, 0]), np.array([1.0, 2.0]))
    f1, soft = windowed(words, words)
    assert f1 == pytest.approx(1.0)
    assert soft == pytest.approx(1.0)
    other = (_unit([0, 0, 1]), np.array([1.0]))
    assert windowed(words, other) == (0.0, 0.0)
    # a rare word matched counts more than a common one matched
    rare = windowed(words, (_unit([0, 1, 0]), np.array([1.0])))
    common = windowed(words, (_unit([1, 0, 0]), np.array([1.0])))
    assert rare[0] > common[0]
    assert rare[1] > common[1]
