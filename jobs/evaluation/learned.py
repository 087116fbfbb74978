"""Learning from the creator's decisions: the metric vector, a small logistic regression, ROC AUC.

Plain numpy, no Django. A take's features are its metric scores (0-1) in a fixed order; a metric
that was unavailable takes the neutral 0.5 so one missing CLIP model does not read as a bad take.
The model is L2-regularised (decisions are few and correlated) and fitted by Newton's method,
which converges in a handful of steps on a few hundred rows.
"""

from dataclasses import dataclass

import numpy as np

from jobs.evaluation.aggregate import DEFAULT_WEIGHTS

RANKING_FEATURES: tuple[str, ...] = (*DEFAULT_WEIGHTS, "audio")
NEUTRAL_SCORE = 0.5
L2_PENALTY = 0.1  # enough to keep perfectly separable decisions finite, little enough to learn from a dozen
NEWTON_STEPS = 25


@dataclass(frozen=True)
class LogisticModel:
    features: tuple[str, ...]
    coefficients: tuple[float, ...]
    intercept: float

    def probability(self, scores: dict[str, float | None]) -> float:
        """How likely the creator is to approve a take with these metric scores (0-1)."""
        x = feature_vector(scores, self.features)
        return float(1 / (1 + np.exp(-(x @ np.array(self.coefficients) + self.intercept))))


def metric_scores(evaluation: dict) -> dict[str, float | None]:
    """The metric vector of a stored evaluation (`TakeEvaluation.as_dict`): name -> score or None."""
    return {name: metric.get("score") for name, metric in (evaluation or {}).get("metrics", {}).items()}


def feature_vector(scores: dict[str, float | None], features: tuple[str, ...] = RANKING_FEATURES) -> np.ndarray:
    return np.array([NEUTRAL_SCORE if scores.get(name) is None else float(scores[name]) for name in features])


def logistic_fit(rows: list[dict[str, float | None]], approved: list[bool], *,
                 features: tuple[str, ...] = RANKING_FEATURES, l2: float = L2_PENALTY) -> LogisticModel:  # fmt: skip
    """Fit P(approved | metric scores). Needs both approvals and rejections among the rows."""
    if len(set(approved)) < 2:
        raise ValueError("a ranking needs both approved and rejected takes to learn from")
    x = np.array([feature_vector(row, features) for row in rows])
    x = np.hstack([x, np.ones((len(x), 1))])  # the intercept, not penalised
    y = np.array(approved, dtype=float)
    penalty = np.diag([l2] * len(features) + [0.0])
    weights = np.zeros(x.shape[1])
    for _ in range(NEWTON_STEPS):
        p = 1 / (1 + np.exp(-x @ weights))
        gradient = x.T @ (p - y) + penalty @ weights
        hessian = x.T @ (x * (p * (1 - p))[:, None]) + penalty + 1e-9 * np.eye(x.shape[1])
        step = np.linalg.solve(hessian, gradient)
        weights -= step
        if np.abs(step).max() < 1e-8:
            break
    return LogisticModel(features, tuple(round(float(w), 6) for w in weights[:-1]), round(float(weights[-1]), 6))


def roc_auc(approved_scores: list[float], rejected_scores: list[float]) -> float | None:
    """How well a score separates approved from rejected takes: the chance an approved take scores
    above a rejected one (ties count half). 0.5 is no better than chance; None without both kinds."""
    if not approved_scores or not rejected_scores:
        return None
    a, r = np.array(approved_scores, dtype=float)[:, None], np.array(rejected_scores, dtype=float)[None, :]
    return float(((a > r).sum() + 0.5 * (a == r).sum()) / (a.size * r.size))
