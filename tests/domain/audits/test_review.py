"""`needs_review`: an audit whose level hinges on verdicts the auditor is unsure of."""

from __future__ import annotations

from domain.audits.auditor import PointAssessment
from domain.audits.gating import GatingRules, gate_step
from domain.audits.review import review_flag
from domain.audits.schema import PointStatus
from tests.fixtures.factories.timelines import cite, output, point, step, timeline

CALL = timeline([("speaker_0", "Je vous informe que cet appel est enregistré pour la qualité du service.")])
QUOTE = cite("cet appel est enregistré pour la qualité", 0, 0)
CRITICAL = step(1, points=("a", "b", "c"), is_critical=True)


def gated(*statuses_and_confidences: tuple[PointStatus, float, str], critical: bool = True):
    points = [point(s, QUOTE) if s is PointStatus.PRESENT else point(s) for s, _, _ in statuses_and_confidences]
    assessments = [PointAssessment(c, r) for _, c, r in statuses_and_confidences]
    card_step = CRITICAL if critical else step(2, points=("a", "b", "c"))
    return gate_step(card_step, output(*points), CALL, GatingRules(), assessments=assessments)


def test_sure_verdicts_need_no_review() -> None:
    flag = review_flag([gated((PointStatus.PRESENT, 0.9, "evidence"), (PointStatus.ABSENT, 0.9, "no_evidence"),
                              (PointStatus.PRESENT, 0.95, "evidence"))])  # fmt: skip
    assert not flag.needs_review
    assert flag.reasons == ()


def test_a_critical_step_whose_conformity_hinges_on_a_weak_verdict_is_flagged() -> None:
    step_ = gated((PointStatus.PRESENT, 0.9, "evidence"), (PointStatus.ABSENT, 0.4, "no_evidence"),
                  (PointStatus.PRESENT, 0.9, "evidence"))  # fmt: skip
    flag = review_flag([step_])
    assert flag.needs_review
    assert "1.2 (0.40)" in flag.reasons[0]


def test_weak_verdicts_that_cannot_change_the_step_or_a_non_critical_step_are_not_flagged() -> None:
    # two sure absences: the step is not CONFORME whatever the weak point is
    sure_fail = gated((PointStatus.ABSENT, 0.9, "no_evidence"), (PointStatus.ABSENT, 0.9, "no_evidence"),
                      (PointStatus.PRESENT, 0.5, "evidence"))  # fmt: skip
    non_critical = gated((PointStatus.PRESENT, 0.9, "evidence"), (PointStatus.ABSENT, 0.4, "no_evidence"),
                         (PointStatus.PRESENT, 0.9, "evidence"), critical=False)  # fmt: skip
    assert not review_flag([sure_fail, non_critical]).needs_review


def test_points_not_assessable_offline_are_listed() -> None:
    step_ = gated((PointStatus.PRESENT, 0.9, "evidence"), (PointStatus.NON_APPLICABLE, 0.0, "not_assessable_offline"),
                  (PointStatus.PRESENT, 0.9, "evidence"), critical=False)  # fmt: skip
    flag = review_flag([step_])
    assert flag.needs_review
    assert "2.2" in flag.reasons[0]
