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
from pathlib import Path

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


@dataclass(frozen=True)
class NudityModel:
    session: object  # onnxruntime.InferenceSession of the 320n model shipped in the nudenet wheel
    input_name: str
    labels: tuple[str, ...]  # class names in the model's output order


@cache
def nudity_detector() -> NudityModel:
    """Loaded once per worker process and kept warm.

    The session is NudeNet's model with one change: worker threads sleep between runs instead of
    spinning. Spinning doubled the CPU time of an evaluation's detections (~200 ms for 8 stills
    against ~105 ms) for no gain in wall time on a 2-core worker that has other work to do.
    """
    import onnxruntime  # imported here: onnxruntime loads only when safety runs
    from nudenet import nudenet

    options = onnxruntime.SessionOptions()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(str(Path(nudenet.__file__).parent / "320n.onnx"), options,
                                           providers=["CPUExecutionProvider"])  # fmt: skip
    return NudityModel(session, session.get_inputs()[0].name, tuple(nudenet.__dict__["__labels"]))


# NudeNet's own constants: the model's input side, its candidate score and NMS limits.
DETECTOR_SIDE = 320
CANDIDATE_MIN_SCORE = 0.2
NMS_MIN_SCORE, NMS_OVERLAP = 0.25, 0.45


def frames_detect(stills: list[np.ndarray]) -> list[list[dict]]:
    """NudeNet detections for each RGB frame: [{'class', 'score', 'box'}, ...] per frame.

    Exactly NudeNet's input (the still padded right and bottom to a square, scaled to 320x320, BGR)
    and post-processing, so its scores and the thresholds calibrated on them hold; two costs removed:
    the stills go through the model as one batch, and the 2,100 candidate boxes per still are filtered
    with numpy instead of NudeNet's Python loop (which cost about as much as the inference).
    Padding only to the model's stride (320x192 for 16:9) would cut inference by ~40 % more, but it
    lowers scores by 0.02-0.09 on the same frames: it needs the thresholds recalibrated on positives first.
    """
    model = nudity_detector()
    inputs = [_model_input(still) for still in stills]
    if not inputs:
        return []
    outputs = model.session.run(None, {model.input_name: np.concatenate([blob for blob, _ in inputs])})[0]
    return [_detections_kept(output.T, to_still, still.shape, model.labels)
            for output, (_, to_still), still in zip(outputs, inputs, stills, strict=True)]  # fmt: skip


def _model_input(still: np.ndarray) -> tuple[np.ndarray, float]:
    """(1, 3, 320, 320) float blob as NudeNet builds it, and the factor from model pixels back to the still's."""
    import cv2

    height, width = still.shape[:2]
    side = max(height, width)
    square = np.zeros((side, side, 3), np.uint8)
    square[:height, :width] = still[:, :, ::-1]  # the model reads channels in BGR order, as NudeNet feeds it
    if side != DETECTOR_SIDE:
        square = cv2.resize(square, (DETECTOR_SIDE, DETECTOR_SIDE), interpolation=cv2.INTER_LINEAR)
    blob = (square.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
    return np.ascontiguousarray(blob), side / DETECTOR_SIDE


def _detections_kept(output: np.ndarray, to_original: float, shape: tuple, labels: tuple[str, ...]) -> list[dict]:
    """NudeNet's post-processing, vectorised: best class per candidate, boxes back to the still's pixels, NMS."""
    import cv2

    height, width = shape[:2]
    class_scores = output[:, 4:]
    best = class_scores.max(axis=1)
    candidates = np.flatnonzero(best >= CANDIDATE_MIN_SCORE)
    if not candidates.size:
        return []
    centre_x, centre_y, box_w, box_h = (output[candidates, column] * to_original for column in range(4))
    left = np.clip(centre_x - box_w / 2, 0, width)
    top = np.clip(centre_y - box_h / 2, 0, height)
    box_w, box_h = np.minimum(box_w, width - left), np.minimum(box_h, height - top)
    boxes = np.stack([left, top, box_w, box_h], axis=1).tolist()
    scores = best[candidates].tolist()
    classes = class_scores[candidates].argmax(axis=1)
    kept = cv2.dnn.NMSBoxes(boxes, scores, NMS_MIN_SCORE, NMS_OVERLAP)
    return [{"class": labels[classes[i]], "score": float(scores[i]), "box": [int(value) for value in boxes[i]]}
            for i in np.asarray(kept).ravel()]  # fmt: skip


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
