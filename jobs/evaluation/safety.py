"""Safety: NudeNet's ONNX detector (shipped inside the nudenet wheel) over the sampled stills.

A hard gate: any detection whose class is in the unsafe label set, at or above the minimum score,
fails the take with the detected labels as the reason. Faces, covered body parts and feet are
detected too but are not unsafe. When the detector cannot run, the gate fails closed.
"""

from dataclasses import dataclass
from functools import cache

import numpy as np

from jobs.evaluation.metric import Metric, metric_unavailable

UNSAFE_LABELS = frozenset(
    {
        "FEMALE_GENITALIA_EXPOSED",
        "MALE_GENITALIA_EXPOSED",
        "FEMALE_BREAST_EXPOSED",
        "BUTTOCKS_EXPOSED",
        "ANUS_EXPOSED",
    }
)
UNSAFE_MIN_SCORE = 0.45
UNIT = "detected labels"
EXPLANATION = "NudeNet detections over the sampled frames (class and best score). Gated, not scored."


@dataclass(frozen=True)
class SafetyVerdict:
    passed: bool
    unsafe_labels: list[str]  # sorted, the classes that failed the gate
    reason: str


@cache
def nudity_detector():
    from nudenet import NudeDetector  # imported here: onnxruntime loads only when safety runs

    return NudeDetector()


def frames_detect(stills: list[np.ndarray]) -> list[list[dict]]:
    """NudeNet detections for each RGB frame: [{'class', 'score', 'box'}, ...] per frame."""
    detector = nudity_detector()
    return [detector.detect(np.ascontiguousarray(still[:, :, ::-1])) for still in stills]  # NudeNet wants BGR


def safety_gate(
    detections: list[list[dict]], *, unsafe_labels: frozenset[str] = UNSAFE_LABELS,
    min_score: float = UNSAFE_MIN_SCORE,
) -> SafetyVerdict:  # fmt: skip
    hits = [hit for frame in detections for hit in frame]
    found = sorted({hit["class"] for hit in hits if hit["class"] in unsafe_labels and hit["score"] >= min_score})
    if not found:
        return SafetyVerdict(True, [], "")
    return SafetyVerdict(False, found, f"The video was flagged as unsafe: {', '.join(found)} detected.")


def safety_measure(stills: list[np.ndarray]) -> tuple[Metric, list[list[dict]] | None]:
    """The metric plus the raw detections (None when the detector could not run)."""
    try:
        detections = frames_detect(stills)
    except Exception as error:  # noqa: BLE001 - a missing or broken classifier must not pass a take unchecked
        reason = f"the safety classifier could not run ({type(error).__name__})"
        return metric_unavailable(unit=UNIT, explanation=EXPLANATION, reason=reason), None
    return Metric(value=_best_scores(detections), unit=UNIT, explanation=EXPLANATION,
                  detail={"frames": len(stills)}), detections  # fmt: skip


def _best_scores(detections: list[list[dict]]) -> dict[str, float]:
    best: dict[str, float] = {}
    for frame in detections:
        for hit in frame:
            best[hit["class"]] = max(best.get(hit["class"], 0.0), round(float(hit["score"]), 3))
    return dict(sorted(best.items()))
