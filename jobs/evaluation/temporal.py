"""Flicker and hard-cut metrics, read off the whole-clip analysis (frames.py, defects.py).

Flicker: the share of frames whose mean luma sits far from the average of its two neighbours (a
swing, not a fade: a steady fade is a straight line and leaves no residual). Hard cuts: the `cut`
defects, each an abrupt change of picture after the global camera shift is undone, standing well
above the change around it (so neither fast motion nor flicker counts). Fades are not cuts.
"""


from jobs.evaluation.defects import FLICKER_SWING, Defect, flicker_swings
from jobs.evaluation.frames import VideoFrames
from jobs.evaluation.metric import Metric, unit_clip

FLICKER_SWING_LEVELS = FLICKER_SWING
FLICKER_SHARE_LIMIT = 0.10  # share of swinging frames that scores 0


def flicker_measure(frames: VideoFrames, defects: list[Defect]) -> Metric:
    swings = flicker_swings(frames.signals)[1:-1]
    share = float((swings > FLICKER_SWING_LEVELS).mean()) if len(swings) else 0.0
    segments = [defect for defect in defects if defect.kind == "flicker"]
    if not segments:  # swings at cuts, fades and black edges are theirs, not flicker
        share = 0.0
    return Metric(
        value=round(share, 4),
        unit="share of frames",
        explanation=(
            f"Share of frames whose mean luma swings more than {FLICKER_SWING_LEVELS:g} levels (0-255) away from "
            f"the mean of its neighbours, within flickering segments. Score = 1 - share / {FLICKER_SHARE_LIMIT:g}, "
            "floored at 0."
        ),
        score=unit_clip(1 - share / FLICKER_SHARE_LIMIT),
        detail={"largest_swing_levels": round(float(swings.max()), 2) if len(swings) else 0.0,
                "segments": [[segment.start, segment.end] for segment in segments]},  # fmt: skip
    )


def hard_cuts_measure(defects: list[Defect]) -> Metric:
    cuts = [defect for defect in defects if defect.kind == "cut"]
    return Metric(
        value=len(cuts),
        unit="cuts",
        explanation=(
            "Abrupt changes to an unrelated picture between two consecutive frames, after undoing the camera's "
            "global shift; fades through black are not counted. Gated, not scored."
        ),
        detail={"at_seconds": [cut.start for cut in cuts]},
    )
