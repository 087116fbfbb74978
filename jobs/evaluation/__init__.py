"""Evaluation of stored takes: technical checks, quality metrics, gates and the aggregate.

`evaluate_video_technical` is the cheap check the pipeline has always run (PyAV and numpy only);
`evaluate_take_video` adds every quality metric on top of it. Plain Python, no Django. The quality
modules (OpenCV, NudeNet, transformers) load on first use, so importing the technical check stays
light.
"""

from importlib import import_module

from jobs.evaluation.technical import TechnicalEvaluation, evaluate_video_technical

_LAZY = {
    "DEFAULT_WEIGHTS": "aggregate",
    "Aggregate": "aggregate",
    "aggregate_compute": "aggregate",
    "Metric": "metric",
    "UNSAFE_LABELS": "safety",
    "SafetyVerdict": "safety",
    "frames_detect": "safety",
    "safety_gate": "safety",
    "DEFAULT_GATES": "take",
    "EvaluationGates": "take",
    "TakeEvaluation": "take",
    "evaluate_take_video": "take",
}

__all__ = ["TechnicalEvaluation", "evaluate_video_technical", *_LAZY]


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"jobs.evaluation.{_LAZY[name]}"), name)
