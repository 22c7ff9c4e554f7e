"""Agreement of an auditor with labelled ground truth: counts, Cohen's kappa, recall. Pure arithmetic."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Agreement:
    """A 2x2 table of (truth, prediction) pairs, positive meaning "present"."""

    true_positive: int = 0
    false_positive: int = 0
    false_negative: int = 0
    true_negative: int = 0

    @classmethod
    def of(cls, pairs: Iterable[tuple[bool, bool]]) -> Agreement:
        counts = [0, 0, 0, 0]
        for truth, predicted in pairs:
            counts[(0 if predicted else 2) if truth else (1 if predicted else 3)] += 1
        return cls(*counts)

    def __add__(self, other: Agreement) -> Agreement:
        return Agreement(
            self.true_positive + other.true_positive,
            self.false_positive + other.false_positive,
            self.false_negative + other.false_negative,
            self.true_negative + other.true_negative,
        )

    @property
    def total(self) -> int:
        return self.true_positive + self.false_positive + self.false_negative + self.true_negative

    @property
    def accuracy(self) -> float:
        return (self.true_positive + self.true_negative) / self.total if self.total else 1.0

    @property
    def kappa(self) -> float:
        """Cohen's kappa; 1.0 when both sides agree on everything, even if chance agreement is total."""
        n = self.total
        if n == 0:
            return 1.0
        observed = self.accuracy
        truth_yes = (self.true_positive + self.false_negative) / n
        predicted_yes = (self.true_positive + self.false_positive) / n
        expected = truth_yes * predicted_yes + (1 - truth_yes) * (1 - predicted_yes)
        if expected >= 1.0:
            return 1.0 if observed >= 1.0 else 0.0
        return (observed - expected) / (1 - expected)

    @property
    def recall(self) -> float:
        """Share of true positives found; 1.0 when there were none to find."""
        positives = self.true_positive + self.false_negative
        return self.true_positive / positives if positives else 1.0

    @property
    def precision(self) -> float:
        claimed = self.true_positive + self.false_positive
        return self.true_positive / claimed if claimed else 1.0
