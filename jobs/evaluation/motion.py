"""Motion: how much moves (dynamic degree) and how steadily, from OpenCV Farneback optical flow.

At each anchor, flow is computed for two consecutive frame pairs (t→t+1 and t+1→t+2). Their
mean magnitude says how much moves; the per-pixel change between the two fields, relative to the
motion itself, says how jerky it is: smooth motion keeps its flow from one frame to the next.
Dynamic degree follows VBench: the mean of the largest 5 % of flow magnitudes of each pair, against
a threshold proportional to the frame's short side. Smoothness is judged relative to it: a still
picture is perfectly "smooth", so smoothness only counts for the motion there is, and a frozen
clip never outranks a moving one.
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
VBENCH_DYNAMIC_SHARE = 6.0 / 256  # VBench: top-5 % flow above 6 px at a 256 px short side is "dynamic"
FULL_MOTION_SHARE = 0.012  # top-5 % flow (share of the short side per frame) that scores dynamic degree 1
DYNAMIC_UNIT = "mean top-5 % flow, share of the short side per frame"
DYNAMIC_EXPLANATION = (
    "Amount of motion (VBench's dynamic degree): per sampled frame pair, the mean of the largest 5 % optical-flow "
    f"magnitudes over the frame's short side. Score = value / {FULL_MOTION_SHARE:g}, capped at 1; `dynamic_share` "
    f"is the share of pairs above VBench's threshold ({VBENCH_DYNAMIC_SHARE:.4f})."
)
SMOOTHNESS_EXPLANATION = (
    "Mean per-pixel difference between the optical flow of two consecutive frame pairs, divided by the "
    f"mean flow magnitude (+{STILL_PIXELS:g} px). 0 is perfectly steady motion. Score = (1 - value, floored at 0) "
    "x the dynamic-degree score: steadiness counts only for motion that happens."
)


def motion_measure(frames: VideoFrames) -> tuple[Metric, Metric, Metric]:
    """(motion_magnitude, motion_smoothness, dynamic_degree)."""
    triples = [anchor for anchor in frames.anchors if len(anchor) == 3]
    if not triples:
        reason = "the clip is too short for optical flow (fewer than three frames)"
        return (
            metric_unavailable(unit=MOTION_UNIT, explanation="", reason=reason),
            metric_unavailable(unit=SMOOTHNESS_UNIT, explanation=SMOOTHNESS_EXPLANATION, reason=reason),
            metric_unavailable(unit=DYNAMIC_UNIT, explanation=DYNAMIC_EXPLANATION, reason=reason),
        )
    magnitudes, jitters, peaks = zip(*(_triple_flow(triple) for triple in triples))
    height, width = triples[0][0].shape[:2]
    magnitude = float(np.mean(magnitudes)) / width * (frames.frames_per_second or 1.0)
    jitter = float(np.mean(jitters))
    peak_shares = np.array([peak for pair in peaks for peak in pair]) / min(height, width)
    dynamic = float(peak_shares.mean())
    dynamic_score = unit_clip(dynamic / FULL_MOTION_SHARE)
    return (
        Metric(
            value=round(magnitude, 4),
            unit=MOTION_UNIT,
            explanation="Mean optical-flow magnitude over the sampled frame pairs. Informative, not scored.",
        ),
        Metric(value=round(jitter, 4), unit=SMOOTHNESS_UNIT, explanation=SMOOTHNESS_EXPLANATION,
               score=unit_clip(1 - jitter) * dynamic_score,
               detail={"pairs": 2 * len(triples), "steadiness": round(unit_clip(1 - jitter), 4)}),  # fmt: skip
        Metric(value=round(dynamic, 5), unit=DYNAMIC_UNIT, explanation=DYNAMIC_EXPLANATION, score=dynamic_score,
               detail={"dynamic_share": round(float((peak_shares > VBENCH_DYNAMIC_SHARE).mean()), 3)}),  # fmt: skip
    )


def _triple_flow(triple: list[np.ndarray]) -> tuple[float, float, tuple[float, float]]:
    grays = [cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY) for frame in triple]
    first = cv2.calcOpticalFlowFarneback(grays[0], grays[1], None, **FARNEBACK)
    second = cv2.calcOpticalFlowFarneback(grays[1], grays[2], None, **FARNEBACK)
    first_norm, second_norm = np.linalg.norm(first, axis=2), np.linalg.norm(second, axis=2)
    magnitude = (first_norm.mean() + second_norm.mean()) / 2
    change = np.linalg.norm(second - first, axis=2).mean()
    return float(magnitude), float(change / (magnitude + STILL_PIXELS)), (_top_share_mean(first_norm),
                                                                          _top_share_mean(second_norm))  # fmt: skip


def _top_share_mean(norm: np.ndarray, share: float = 0.05) -> float:
    flat = norm.ravel()
    count = max(1, round(share * flat.size))
    return float(np.partition(flat, flat.size - count)[-count:].mean())
