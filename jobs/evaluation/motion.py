"""Motion consistency from OpenCV Farneback optical flow.

At each anchor, flow is computed for two consecutive frame pairs (t→t+1 and t+1→t+2). Their
mean magnitude says how much moves; the per-pixel change between the two fields, relative to the
motion itself, says how jerky it is: smooth motion keeps its flow from one frame to the next.
"""

import cv2
import numpy as np

from jobs.evaluation.frames import VideoFrames
from jobs.evaluation.metric import Metric, metric_unavailable, unit_clip

FARNEBACK = {"pyr_scale": 0.5, "levels": 3, "winsize": 15, "iterations": 3, "poly_n": 5, "poly_sigma": 1.2,
             "flags": 0}  # fmt: skip
STILL_PIXELS = 0.5  # flow (px/frame at analysis size) below this is noise; keeps jitter finite on a still
MOTION_UNIT = "frame widths per second"
SMOOTHNESS_UNIT = "relative flow change between consecutive frame pairs"
SMOOTHNESS_EXPLANATION = (
    "Mean per-pixel difference between the optical flow of two consecutive frame pairs, divided by the "
    f"mean flow magnitude (+{STILL_PIXELS:g} px). 0 is perfectly steady motion. Score = 1 - value, floored at 0."
)


def motion_measure(frames: VideoFrames) -> tuple[Metric, Metric]:
    """(motion_magnitude, motion_smoothness)."""
    triples = [anchor for anchor in frames.anchors if len(anchor) == 3]
    if not triples:
        reason = "the clip is too short for optical flow (fewer than three frames)"
        return (
            metric_unavailable(unit=MOTION_UNIT, explanation="", reason=reason),
            metric_unavailable(unit=SMOOTHNESS_UNIT, explanation=SMOOTHNESS_EXPLANATION, reason=reason),
        )
    magnitudes, jitters = zip(*(_triple_flow(triple) for triple in triples))
    width = triples[0][0].shape[1]
    magnitude = float(np.mean(magnitudes)) / width * (frames.frames_per_second or 1.0)
    jitter = float(np.mean(jitters))
    return (
        Metric(
            value=round(magnitude, 4),
            unit=MOTION_UNIT,
            explanation="Mean optical-flow magnitude over the sampled frame pairs. Informative, not scored.",
        ),
        Metric(value=round(jitter, 4), unit=SMOOTHNESS_UNIT, explanation=SMOOTHNESS_EXPLANATION,
               score=unit_clip(1 - jitter), detail={"pairs": 2 * len(triples)}),  # fmt: skip
    )


def _triple_flow(triple: list[np.ndarray]) -> tuple[float, float]:
    grays = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in triple]
    first = cv2.calcOpticalFlowFarneback(grays[0], grays[1], None, **FARNEBACK)
    second = cv2.calcOpticalFlowFarneback(grays[1], grays[2], None, **FARNEBACK)
    magnitude = (np.linalg.norm(first, axis=2).mean() + np.linalg.norm(second, axis=2).mean()) / 2
    change = np.linalg.norm(second - first, axis=2).mean()
    return float(magnitude), float(change / (magnitude + STILL_PIXELS))
