"""Safety: NudeNet's ONNX detector (shipped inside the nudenet wheel) over several sampled stills.

Three outcomes, so that one-frame flukes stop costing creators their takes:

* **block**: a clear violation. An unsafe label at or above its *block* score on at least
  `BLOCK_AGREEMENT` of the sampled frames. Refunded and regenerated like any failed check.
* **needs review**: a doubtful flag. An unsafe label at or above its *review* score somewhere, but
  not clearly (one frame only, or a score between review and block). The take is delivered; the
  creator sees why and decides. Nothing automatic (escalation, regeneration, refund) follows it.
* **pass**: nothing unsafe above its review score.

Thresholds are per label: the detector is far less reliable on some classes than others (it reads
round shapes on animated animals as FEMALE_BREAST_EXPOSED at about 0.8, but rarely mistakes
genitalia). Faces, covered body parts and feet are detected too but are not unsafe. When the
detector cannot run, the gate fails closed (block, reason "could not be checked").
"""

from dataclasses import dataclass, field
from functools import cache

import numpy as np

from jobs.evaluation.metric import Metric, metric_unavailable


@dataclass(frozen=True)
class LabelThreshold:
    review: float  # at or above on any sampled frame: the creator should look
    block: float  # at or above on BLOCK_AGREEMENT frames: a clear violation


# Calibrated on NudeNet 3.4.2's 320n model: false positives on stylised/animated frames sit at
# 0.45-0.8 for breasts and buttocks and rarely pass 0.5 for genitalia.
LABEL_THRESHOLDS: dict[str, LabelThreshold] = {
    "FEMALE_GENITALIA_EXPOSED": LabelThreshold(review=0.35, block=0.6),
    "MALE_GENITALIA_EXPOSED": LabelThreshold(review=0.35, block=0.6),
    "ANUS_EXPOSED": LabelThreshold(review=0.35, block=0.6),
    "FEMALE_BREAST_EXPOSED": LabelThreshold(review=0.45, block=0.85),
    "BUTTOCKS_EXPOSED": LabelThreshold(review=0.45, block=0.8),
}
UNSAFE_LABELS = frozenset(LABEL_THRESHOLDS)
UNSAFE_MIN_SCORE = 0.45  # review and block score for an unsafe label without thresholds of its own
BLOCK_AGREEMENT = 2  # sampled frames that must agree on a label before it blocks (fewer if fewer sampled)
UNIT = "detected labels"
EXPLANATION = "NudeNet detections over the sampled frames (class and best score). Gated, not scored."

PASS, NEEDS_REVIEW, BLOCK = "pass", "needs_review", "block"


@dataclass(frozen=True)
class SafetyVerdict:
    outcome: str  # pass, needs_review or block
    unsafe_labels: list[str]  # sorted: the classes behind the outcome (none when it passes)
    reason: str
    frames_flagged: dict[str, int] = field(default_factory=dict)  # per label, frames at or above review

    @property
    def passed(self) -> bool:
        return self.outcome == PASS

    def as_gate(self) -> dict:
        return {"passed": self.passed, "outcome": self.outcome, "reason": self.reason, "labels": self.unsafe_labels,
                "frames_flagged": self.frames_flagged}  # fmt: skip


@cache
def nudity_detector():
    from nudenet import (
        NudeDetector,  # imported here: onnxruntime loads only when safety runs
    )

    return NudeDetector()


def frames_detect(stills: list[np.ndarray]) -> list[list[dict]]:
    """NudeNet detections for each RGB frame: [{'class', 'score', 'box'}, ...] per frame."""
    detector = nudity_detector()
    return [detector.detect(np.ascontiguousarray(still[:, :, ::-1])) for still in stills]  # NudeNet wants BGR


def thresholds_for(
    unsafe_labels: frozenset[str], min_score: float, overrides: dict[str, LabelThreshold] | None = None,
) -> dict[str, LabelThreshold]:  # fmt: skip
    """Per-label thresholds for a label set: the calibrated ones, `min_score` for the others."""
    table = {**LABEL_THRESHOLDS, **(overrides or {})}
    return {label: table.get(label, LabelThreshold(min_score, min_score)) for label in unsafe_labels}


def safety_gate(
    detections: list[list[dict]], *, unsafe_labels: frozenset[str] = UNSAFE_LABELS,
    min_score: float = UNSAFE_MIN_SCORE, overrides: dict[str, LabelThreshold] | None = None,
) -> SafetyVerdict:  # fmt: skip
    thresholds = thresholds_for(unsafe_labels, min_score, overrides)
    flagged = _frames_at_or_above(detections, {label: limit.review for label, limit in thresholds.items()})
    if not flagged:
        return SafetyVerdict(PASS, [], "")
    agreement = min(BLOCK_AGREEMENT, len(detections))
    clear = _frames_at_or_above(detections, {label: limit.block for label, limit in thresholds.items()})
    blocking = sorted(label for label, frames in clear.items() if frames >= agreement)
    if blocking:
        seen = ", ".join(f"{label} on {clear[label]} of {len(detections)} frames" for label in blocking)
        return SafetyVerdict(BLOCK, blocking, f"The video was flagged as unsafe: {seen}.", flagged)
    doubtful = sorted(flagged)
    seen = "; ".join(f"{label} on {_frames(flagged[label])} of {len(detections)}, best score {_best(detections, label):.2f}"
                     for label in doubtful)  # fmt: skip
    reason = (f"Check this video before using it: the safety check was unsure ({seen}). "
              "It is often wrong on animation and stylised pictures.")  # fmt: skip
    return SafetyVerdict(NEEDS_REVIEW, doubtful, reason, flagged)


def _frames_at_or_above(detections: list[list[dict]], limits: dict[str, float]) -> dict[str, int]:
    """Per label, the number of frames with a detection at or above its limit."""
    counts: dict[str, int] = {}
    for frame in detections:
        for label in {hit["class"] for hit in frame if hit["class"] in limits and hit["score"] >= limits[hit["class"]]}:
            counts[label] = counts.get(label, 0) + 1
    return dict(sorted(counts.items()))


def _best(detections: list[list[dict]], label: str) -> float:
    return max(float(hit["score"]) for frame in detections for hit in frame if hit["class"] == label)


def _frames(count: int) -> str:
    return "1 frame" if count == 1 else f"{count} frames"


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
