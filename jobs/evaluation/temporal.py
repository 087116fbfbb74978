"""Flicker and hard cuts, from a tiny grayscale thumbnail of every frame.

Flicker: a frame whose mean luma sits far from the average of its two neighbours (a swing, not a
fade: a steady fade is a straight line and leaves no residual). Hard cut: a spike in the change
between consecutive frames after each is normalised for brightness and contrast (so flicker does
not count), standing well above the change around it (so fast motion does not count either).
"""

import numpy as np

from jobs.evaluation.frames import VideoFrames
from jobs.evaluation.metric import Metric, unit_clip

FLICKER_SWING_LEVELS = 4.0  # luma levels (0-255) away from the neighbours' mean
FLICKER_SHARE_LIMIT = 0.10  # share of swinging frames that counts as a flickering clip
CUT_MIN_CHANGE = 0.5  # mean |z-score difference|; unrelated pictures measure ~1.1, smooth motion < 0.2
CUT_CONTRAST_RATIO = 4.0  # times the median change in the surrounding frames
CUT_WINDOW = 6  # frames either side used for that median
FLAT_STD_FLOOR = 4.0  # luma std below which a frame is treated as flat (no structure to compare)


def flicker_measure(frames: VideoFrames) -> Metric:
    luma = np.array([thumbnail.mean() for thumbnail in frames.thumbnails])
    swings = np.abs(luma[1:-1] - (luma[:-2] + luma[2:]) / 2) if len(luma) >= 3 else np.zeros(0)
    share = float((swings > FLICKER_SWING_LEVELS).mean()) if len(swings) else 0.0
    return Metric(
        value=round(share, 4),
        unit="share of frames",
        explanation=(
            f"Share of frames whose mean luma swings more than {FLICKER_SWING_LEVELS:g} levels (0-255) away "
            f"from the mean of its neighbours. Score = 1 - share / {FLICKER_SHARE_LIMIT:g}, floored at 0."
        ),
        score=unit_clip(1 - share / FLICKER_SHARE_LIMIT),
        detail={"largest_swing_levels": round(float(swings.max()), 2) if len(swings) else 0.0},
    )


def hard_cuts_measure(frames: VideoFrames) -> Metric:
    changes = _structural_changes(frames.thumbnails)
    cuts = [index + 1 for index in range(len(changes)) if _is_cut(changes, index)]
    fps = frames.frames_per_second or 1.0
    return Metric(
        value=len(cuts),
        unit="cuts",
        explanation=(
            "Abrupt changes of picture between two consecutive frames: normalised frame difference above "
            f"{CUT_MIN_CHANGE:g} and {CUT_CONTRAST_RATIO:g}x the median around it. Gated, not scored."
        ),
        detail={"at_seconds": [round(frame / fps, 2) for frame in cuts]},
    )


def _structural_changes(thumbnails: list[np.ndarray]) -> np.ndarray:
    normalised = [(t - t.mean()) / max(float(t.std()), FLAT_STD_FLOOR) for t in thumbnails]
    return np.array([float(np.abs(b - a).mean()) for a, b in zip(normalised, normalised[1:])])


def _is_cut(changes: np.ndarray, index: int) -> bool:
    change = changes[index]
    if change < CUT_MIN_CHANGE:
        return False
    around = np.concatenate([changes[max(0, index - CUT_WINDOW) : index], changes[index + 1 : index + 1 + CUT_WINDOW]])
    return len(around) == 0 or change > CUT_CONTRAST_RATIO * float(np.median(around))
