"""Experiment: does a learned present / absent judge beat the rules? Cross-validated on the dev half.

Rows are (fiche, control point) pairs of the DEVELOPMENT half of the evaluation corpus, both
scorecards (`benchmarks/evaluation/`; the test half is never read here): the features of
`judge_features.py` and the label (present or absent; `na` rows and points not assessable offline are
left out). Models, deterministic: a logistic regression over standardised features (lbfgs), the same
with the rule-based verdict as one more feature ("stacked": it can only correct the rules), and
gradient-boosted trees (`HistGradientBoostingClassifier`, fixed seed). A point is compliant when
judged present, or when it is conditional (absent means not applicable), as in `audit_quality.py`.

Cross-validation holds out whole paraphrase families (`GroupKFold` on the family said for the point,
so no phrasing is both learned and scored) and, harder, a whole scorecard (trained on the other one).
Kappa is reported at each model's best threshold over the grouped folds, an optimistic choice made in
the models' favour; the rule-based judge is scored on the same rows.

    pip install scikit-learn                                   # needed here only, not to audit
    .venv/bin/python benchmarks/train_judge.py [--fiches 120] [--rows /tmp/rows.npz]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from audit_quality import SCORECARDS, load_scorecard, with_roles
from evaluation.corpus import build_corpus
from judge_features import FEATURES, scorecard_evidence

from domain.audits.heuristic import judge
from domain.audits.points import build_queries
from domain.audits.schema import PointStatus
from domain.language.utterances import parse_timeline

FOLDS = 5
THRESHOLDS = np.round(np.arange(0.2, 0.86, 0.05), 2)
SEED = 0


@dataclass
class Rows:
    features: list[np.ndarray]
    present: list[bool]
    conditional: list[bool]
    rule_compliant: list[bool]  # the rule-based judge's verdict, compliant = not ABSENT
    groups: list[str]  # the paraphrase or distractor family said for the point
    scorecard: list[str]


def collect(names: list[str], fiches: int) -> Rows:
    rows = Rows([], [], [], [], [], [])
    for name in names:
        scorecard = load_scorecard(SCORECARDS[name])
        for fiche in build_corpus(name, "dev", fiches):  # type: ignore[arg-type]
            parsed = parse_timeline(with_roles(fiche))
            queries = [q for step in scorecard.steps for q in build_queries(scorecard, step) if q.assessable]
            evidence = scorecard_evidence(queries, parsed)
            for query in queries:
                key = (query.step_position, query.index)
                if fiche.labels[key] == "na":
                    continue
                rows.features.append(evidence[key].features)
                rows.present.append(fiche.labels[key] == "present")
                rows.conditional.append(query.conditional)
                rows.rule_compliant.append(judge(query, parsed).status is not PointStatus.ABSENT)
                family = fiche.families.get(key)
                rows.groups.append(f"{name}:{family}" if family else f"{name}:silent:{fiche.fiche_id}")
                rows.scorecard.append(name)
        print(f"{name}: {sum(s == name for s in rows.scorecard)} rows", file=sys.stderr)
    return rows


def kappa(truth: np.ndarray, predicted: np.ndarray) -> float:
    agreement = float(np.mean(truth == predicted))
    p_truth, p_predicted = float(np.mean(truth)), float(np.mean(predicted))
    chance = p_truth * p_predicted + (1 - p_truth) * (1 - p_predicted)
    return (agreement - chance) / (1 - chance) if chance < 1 else 1.0


Model = Callable[[np.ndarray, np.ndarray], Callable[[np.ndarray], np.ndarray]]


def logistic(x: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, class_weight="balanced"))
    model.fit(x, y)
    return lambda rows: np.asarray(model.predict_proba(rows)[:, 1])


def boosted(x: np.ndarray, y: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    from sklearn.ensemble import HistGradientBoostingClassifier

    model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, max_leaf_nodes=15, random_state=SEED)
    model.fit(x, y)
    return lambda rows: np.asarray(model.predict_proba(rows)[:, 1])


def out_of_fold(model: Model, x: np.ndarray, y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    from sklearn.model_selection import GroupKFold

    out = np.zeros(len(y))
    for train, held in GroupKFold(n_splits=FOLDS).split(x, y, groups):
        out[held] = model(x[train], y[train])(x[held])
    return out


def best_threshold(truth: np.ndarray, probabilities: np.ndarray, conditional: np.ndarray) -> float:
    kappas = {float(t): kappa(truth, (probabilities >= t) | conditional) for t in THRESHOLDS}
    return max(kappas, key=lambda t: (round(kappas[t], 3), -abs(t - 0.5)))


def line(title: str, truth: np.ndarray, predicted: np.ndarray) -> str:
    return f"  {title:<34} kappa {kappa(truth, predicted):.3f}  agreement {np.mean(truth == predicted):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fiches", type=int, default=120, help="development fiches per scorecard")
    parser.add_argument("--rows", type=Path, help="keep the collected rows in this .npz and reuse them")
    args = parser.parse_args()
    names = [n for n, path in SCORECARDS.items() if path.exists()]
    if args.rows is not None and args.rows.exists():
        rows = Rows(**{k: list(v) for k, v in np.load(args.rows).items()})
    else:
        rows = collect(names, args.fiches)
        if args.rows is not None:
            np.savez(args.rows, **{k: np.array(v) for k, v in vars(rows).items()})  # type: ignore[arg-type]
    x = np.stack(rows.features)
    truth = np.array(rows.present)
    conditional = np.array(rows.conditional)
    rule = np.array(rows.rule_compliant)
    scorecard = np.array(rows.scorecard)
    groups = np.array(rows.groups)
    stacked = np.column_stack([x, rule])
    models: dict[str, tuple[Model, np.ndarray]] = {
        "logistic": (logistic, x),
        "logistic + rule verdict": (logistic, stacked),
        "boosted trees": (boosted, x),
    }
    out = [f"{len(truth)} rows ({', '.join(f'{n} {int(np.sum(scorecard == n))}' for n in names)}), "
           f"{len(FEATURES)} features, {len(set(groups))} families; present {np.mean(truth):.3f}"]  # fmt: skip
    predictions = {}
    for title, (model, features) in models.items():
        probabilities = out_of_fold(model, features, truth, groups)
        threshold = best_threshold(truth, probabilities, conditional)
        predictions[f"{title} (t={threshold})"] = (probabilities >= threshold) | conditional
    out.append(f"grouped {FOLDS}-fold cross-validation by paraphrase family")
    for name in [*names, "pooled"]:
        mask = scorecard == name if name != "pooled" else np.ones(len(truth), dtype=bool)
        out.append(f" {name} ({int(mask.sum())} rows)")
        out.append(line("rules (heuristic-2)", truth[mask], rule[mask]))
        out += [line(title, truth[mask], predicted[mask]) for title, predicted in predictions.items()]
    if len(names) > 1:
        out.append("held-out scorecard (trained on the other scorecard only, threshold 0.5)")
        for name in names:
            held = scorecard == name
            out.append(f" {name}")
            out.append(line("rules (heuristic-2)", truth[held], rule[held]))
            for title, (model, features) in models.items():
                probabilities = model(features[~held], truth[~held])(features[held])
                out.append(line(title, truth[held], (probabilities >= 0.5) | conditional[held]))
    print("\n".join(out))


if __name__ == "__main__":
    main()
