"""Quality metrics and gates of evaluate_take_video, against a labelled set of clips made here.

Every defect in the set must be caught (recall 1) and no clean clip flagged (precision 1), each by
the gate that names it. The real OpenCV, NudeNet and PyAV code runs; nothing is faked.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from jobs.evaluation import DEFAULT_WEIGHTS, aggregate_compute, evaluate_take_video
from tests.jobs.test_evaluation import (
    FPS,
    HEIGHT,
    WIDTH,
    black_clip,
    clip_write,
    frozen_clip,
    moving_clip,
    moving_frames,
    short_clip,
    textured_picture,
    truncated_clip,
)

SECONDS = 2


def checker_picture(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    board = ((x // 32 + y // 32) % 2).astype(np.uint8)
    return np.stack([board * 200 + 30, 180 - board * 150, np.full_like(board, 90)], axis=-1).astype(np.uint8)


def noise_picture(width: int, height: int, seed: int = 3) -> np.ndarray:
    """Blotchy colour noise: texture everywhere, so optical flow has something to follow."""
    coarse = np.random.default_rng(seed).integers(0, 256, (height // 8 + 1, width // 8 + 1, 3), dtype=np.uint8)
    return np.ascontiguousarray(np.repeat(np.repeat(coarse, 8, axis=0), 8, axis=1)[:height, :width])


def panning_frames(seconds: float, step: int = 4) -> list[np.ndarray]:
    wide = noise_picture(WIDTH + round(seconds * FPS) * step, HEIGHT)
    return [np.ascontiguousarray(wide[:, index * step : index * step + WIDTH]) for index in range(round(seconds * FPS))]


def panning_clip(path: Path) -> Path:
    return clip_write(path / "panning.mp4", panning_frames(SECONDS))


def fading_clip(path: Path) -> Path:
    """A slow fade from dim to bright: a steady change of brightness is not flicker."""
    frames = moving_frames(SECONDS)
    ramp = np.linspace(0.35, 1.0, len(frames))
    return clip_write(path / "fading.mp4", [(frame * gain).astype(np.uint8) for frame, gain in zip(frames, ramp)])


def flickering_clip(path: Path) -> Path:
    frames = moving_frames(SECONDS)
    swings = [0, 28, -22, 14, -30, 20][: len(frames)] * (len(frames) // 6 + 1)
    return clip_write(
        path / "flickering.mp4",
        [np.clip(frame.astype(np.int16) + swing, 0, 255).astype(np.uint8) for frame, swing in zip(frames, swings)],
    )


def jump_cut_clip(path: Path) -> Path:
    frames = moving_frames(SECONDS)
    half = len(frames) // 2
    other = [checker_picture()] * half
    for index, picture in enumerate(other):
        other[index] = picture.copy()
        other[index][40:80, index * 4 : index * 4 + 40] = 240
    return clip_write(path / "jump_cut.mp4", frames[:half] + other)


def wrong_aspect_clip(path: Path) -> Path:
    return clip_write(path / "portrait.mp4", moving_frames(SECONDS, width=HEIGHT, height=WIDTH))


def corrupt_clip(path: Path) -> Path:
    data = bytearray(moving_clip(path).read_bytes())
    data[200:4000] = bytes(3800)  # the stream header and first pictures zeroed
    (path / "corrupt.mp4").write_bytes(bytes(data))
    return path / "corrupt.mp4"


@dataclass(frozen=True)
class Case:
    make: Callable[[Path], Path]
    gate: str | None  # the gate expected to fail first; None for a clean clip
    reason: str = ""


LABELLED = {
    "clean moving": Case(moving_clip, None),
    "clean pan": Case(panning_clip, None),
    "clean fade": Case(fading_clip, None),
    "black": Case(black_clip, "technical", "all black"),
    "frozen": Case(frozen_clip, "technical", "looks frozen"),
    "flickering": Case(flickering_clip, "flicker", "flickers"),
    "jump cut": Case(jump_cut_clip, "hard_cuts", "cuts abruptly"),
    "truncated": Case(truncated_clip, "technical", "damaged or incomplete"),
    "corrupt": Case(corrupt_clip, "technical", ""),
    "wrong duration": Case(short_clip, "technical", "runs 1.0 s"),
    "wrong aspect": Case(wrong_aspect_clip, "technical", "240x320 pixels instead of 320x240"),
}


@pytest.fixture(scope="module")
def verdicts(tmp_path_factory):
    results = {}
    for name, case in LABELLED.items():
        folder = tmp_path_factory.mktemp(name.replace(" ", "_"))
        results[name] = evaluate_take_video(
            case.make(folder), expected_duration_seconds=SECONDS, expected_width=WIDTH, expected_height=HEIGHT
        )
    return results


def test_every_defect_is_caught_and_no_clean_clip_is_flagged(verdicts):
    flagged = {name for name, evaluation in verdicts.items() if not evaluation.passed}
    defective = {name for name, case in LABELLED.items() if case.gate}

    true_positives = len(flagged & defective)
    precision = true_positives / len(flagged) if flagged else 1.0
    recall = true_positives / len(defective)

    assert (precision, recall) == (1.0, 1.0), {name: verdicts[name].failure_reason for name in flagged ^ defective}


@pytest.mark.parametrize("name", LABELLED)
def test_each_clip_fails_on_the_gate_that_names_its_defect(verdicts, name):
    evaluation, case = verdicts[name], LABELLED[name]

    failing = [gate for gate, verdict in evaluation.gates.items() if not verdict["passed"]]
    if case.gate is None:
        assert failing == [] and evaluation.failure_reason == ""
        assert evaluation.aggregate is not None and 0 <= evaluation.aggregate <= 100
    else:
        assert failing[0] == case.gate, evaluation.gates
        assert case.reason in evaluation.failure_reason
    json.dumps(evaluation.as_dict())  # stored on the take as JSON


def test_undecodable_clips_report_every_metric_unavailable_with_the_reason(verdicts):
    evaluation = verdicts["truncated"]

    assert evaluation.aggregate is None and evaluation.weights == {}
    assert all(not metric.available for metric in evaluation.metrics.values())
    assert {metric.reason for metric in evaluation.metrics.values()} == {"the video could not be decoded"}


def test_clean_clip_metrics_are_recorded_with_values_units_and_scores(verdicts):
    metrics = verdicts["clean pan"].as_dict()["metrics"]

    for name in ["flicker", "motion_smoothness", "sharpness", "exposure", "contrast", "colourfulness"]:
        assert metrics[name]["available"] and metrics[name]["unit"] and metrics[name]["explanation"]
        assert 0 <= metrics[name]["score"] <= 1, name
    assert metrics["hard_cuts"]["value"] == 0
    assert metrics["flicker"]["value"] == 0
    # the pan moves 4 px per frame over a 320 px frame at 24 fps: 0.3 frame widths per second
    assert metrics["motion_magnitude"]["value"] == pytest.approx(0.3, abs=0.06)
    assert metrics["motion_smoothness"]["score"] > 0.8


def test_jump_cut_is_located_in_time(verdicts):
    cuts = verdicts["jump cut"].metrics["hard_cuts"]

    assert cuts.value == 1
    assert cuts.detail["at_seconds"] == [1.0]


def test_a_cut_that_was_asked_for_passes(tmp_path):
    from jobs.evaluation import EvaluationGates

    evaluation = evaluate_take_video(
        jump_cut_clip(tmp_path), expected_duration_seconds=SECONDS, expected_width=WIDTH, expected_height=HEIGHT,
        gates=EvaluationGates(max_hard_cuts=1),
    )  # fmt: skip

    assert evaluation.passed, evaluation.failure_reason


def test_jittery_motion_scores_below_steady_motion(tmp_path, verdicts):
    rng = np.random.default_rng(5)
    frames = []
    for _ in range(SECONDS * FPS):
        picture = textured_picture()
        left, top = rng.integers(20, WIDTH - 80), rng.integers(20, HEIGHT - 80)
        picture[top : top + 60, left : left + 60] = 250
        frames.append(picture)

    evaluation = evaluate_take_video(
        clip_write(tmp_path / "jitter.mp4", frames), expected_duration_seconds=SECONDS, expected_width=WIDTH,
        expected_height=HEIGHT,
    )  # fmt: skip

    steady = verdicts["clean moving"].metrics["motion_smoothness"].score
    assert evaluation.metrics["motion_smoothness"].score < steady - 0.2


def test_blurred_dim_grey_clip_scores_lower_aesthetics_than_the_clean_clip(tmp_path, verdicts):
    import cv2

    frames = [
        (cv2.GaussianBlur(cv2.cvtColor(cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB), (15, 15), 6) * 0.3)
        .astype(np.uint8) for frame in moving_frames(SECONDS)
    ]  # fmt: skip

    dull = evaluate_take_video(
        clip_write(tmp_path / "dull.mp4", frames), expected_duration_seconds=SECONDS, expected_width=WIDTH,
        expected_height=HEIGHT,
    ).scores  # fmt: skip

    clean = verdicts["clean moving"].scores
    for name in ["sharpness", "exposure", "contrast", "colourfulness"]:
        assert dull[name] < clean[name], name


# --- Aggregate ------------------------------------------------------------------------------


def test_aggregate_reweights_over_the_available_metrics():
    scores = {"prompt_alignment": None, "motion_smoothness": 1.0, "sharpness": 0.0}

    aggregate = aggregate_compute(scores, {"prompt_alignment": 0.5, "motion_smoothness": 0.3, "sharpness": 0.1})

    assert aggregate.weights == {"motion_smoothness": 0.75, "sharpness": 0.25}
    assert aggregate.value == 75.0


def test_aggregate_of_nothing_available_is_none_not_zero():
    assert aggregate_compute({"prompt_alignment": None}).value is None
    with pytest.raises(ValueError):
        aggregate_compute({"sharpness": 1.0}, {"sharpness": -1})


def test_default_aggregate_without_clip_uses_only_the_frame_metrics(verdicts):
    evaluation = verdicts["clean moving"]

    assert set(evaluation.weights) == set(DEFAULT_WEIGHTS) - {"prompt_alignment", "character_consistency"}
    assert sum(evaluation.weights.values()) == pytest.approx(1.0, abs=1e-3)
    expected = 100 * sum(evaluation.weights[name] * evaluation.scores[name] for name in evaluation.weights)
    assert evaluation.aggregate == pytest.approx(expected, abs=0.05)


def test_a_clip_too_short_for_optical_flow_reports_motion_unavailable(tmp_path):
    evaluation = evaluate_take_video(
        clip_write(tmp_path / "two_frames.mp4", moving_frames(SECONDS)[:2]), expected_duration_seconds=2 / FPS,
        expected_width=WIDTH, expected_height=HEIGHT,
    )  # fmt: skip

    smoothness = evaluation.metrics["motion_smoothness"]
    assert not smoothness.available and "too short" in smoothness.reason
    assert "motion_smoothness" not in evaluation.weights and evaluation.aggregate is not None
