"""The safety gate with NudeNet's shipped ONNX detector, on real frames.

No explicit material can ship with the tests, so the unsafe path runs on a class the detector does
find in a public-domain photo (scikit-image's astronaut: FACE_FEMALE), declared unsafe for the
test through the gate's label set. The detector, its output and the gate are all real.
"""

import numpy as np
import pytest

from jobs.evaluation import UNSAFE_LABELS, EvaluationGates, evaluate_take_video, frames_detect, safety_gate
from tests.jobs.test_evaluation import clip_write, moving_clip

skimage_data = pytest.importorskip("skimage.data", reason="scikit-image ships the sample photo these tests use")


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return skimage_data.astronaut()  # 512x512 RGB, bundled in the wheel


@pytest.fixture(scope="module")
def astronaut_detections(astronaut) -> list[list[dict]]:
    return frames_detect([astronaut])


def test_unsafe_labels_are_exposed_nudity_classes_of_the_shipped_model():
    from nudenet import nudenet

    model_labels = set(nudenet.__dict__["__labels"])
    assert UNSAFE_LABELS <= model_labels
    assert all(label.endswith("_EXPOSED") for label in UNSAFE_LABELS)
    assert not UNSAFE_LABELS & {"FACE_FEMALE", "FACE_MALE", "FEET_EXPOSED", "BELLY_EXPOSED", "ARMPITS_EXPOSED"}


def test_detector_finds_a_face_in_a_real_photo_and_the_default_gate_passes_it(astronaut_detections):
    classes = [hit["class"] for hit in astronaut_detections[0]]

    assert "FACE_FEMALE" in classes
    verdict = safety_gate(astronaut_detections)
    assert verdict.passed and verdict.reason == "" and verdict.unsafe_labels == []


def test_a_detection_in_the_unsafe_set_fails_the_gate_with_the_label_as_reason(astronaut_detections):
    verdict = safety_gate(astronaut_detections, unsafe_labels=UNSAFE_LABELS | {"FACE_FEMALE"})

    assert not verdict.passed
    assert verdict.unsafe_labels == ["FACE_FEMALE"]
    assert "FACE_FEMALE" in verdict.reason


def test_detections_below_the_minimum_score_do_not_fail_the_gate(astronaut_detections):
    score = max(hit["score"] for hit in astronaut_detections[0] if hit["class"] == "FACE_FEMALE")

    verdict = safety_gate(astronaut_detections, unsafe_labels=frozenset({"FACE_FEMALE"}), min_score=score + 0.01)

    assert verdict.passed


def test_a_benign_clip_passes_the_safety_gate(tmp_path):
    evaluation = evaluate_take_video(moving_clip(tmp_path), expected_duration_seconds=2, expected_width=320,
                                     expected_height=240)  # fmt: skip

    assert evaluation.metrics["safety"].available
    assert evaluation.gates["safety"] == {"passed": True, "reason": "", "labels": []}


def test_the_gate_runs_on_the_video_frames_end_to_end(tmp_path, astronaut):
    frames = [np.ascontiguousarray(np.roll(astronaut, shift, axis=1)) for shift in range(0, 96, 2)]
    clip = clip_write(tmp_path / "astronaut.mp4", frames)

    default = evaluate_take_video(clip, expected_duration_seconds=2, expected_width=512, expected_height=512)
    strict = evaluate_take_video(
        clip, expected_duration_seconds=2, expected_width=512, expected_height=512,
        gates=EvaluationGates(unsafe_labels=frozenset({"FACE_FEMALE"})),
    )  # fmt: skip

    assert "FACE_FEMALE" in default.metrics["safety"].value
    assert default.gates["safety"]["passed"]
    assert not strict.passed
    assert strict.gates["safety"]["labels"] == ["FACE_FEMALE"]
    assert strict.failure_reason == "The video was flagged as unsafe: FACE_FEMALE detected."


def test_a_classifier_that_cannot_run_fails_the_gate_closed(tmp_path, monkeypatch):
    from jobs.evaluation import safety

    def classifier_missing():
        raise ModuleNotFoundError("No module named 'nudenet'")  # as on a machine without the package

    monkeypatch.setattr(safety, "nudity_detector", classifier_missing)

    evaluation = evaluate_take_video(moving_clip(tmp_path), expected_duration_seconds=2, expected_width=320,
                                     expected_height=240)  # fmt: skip

    assert not evaluation.metrics["safety"].available
    assert not evaluation.passed
    assert evaluation.failure_reason == (
        "The video could not be checked for safety: the safety classifier could not run (ModuleNotFoundError)."
    )
    assert evaluation.aggregate is not None  # the other metrics still ran
