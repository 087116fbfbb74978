"""The safety gate with NudeNet's shipped ONNX detector, on real frames.

No explicit material can ship with the tests, so the unsafe path runs on a class the detector does
find with high confidence in a public-domain photo (scikit-image's astronaut: FACE_FEMALE), declared
unsafe for the test through the gate's label set and per-label thresholds. The detector, its
output and the gate are all real. The nudenet wheel ships only its model (320n.onnx), no images.
"""

import random
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageDraw

from jobs.evaluation import (
    UNSAFE_LABELS,
    EvaluationGates,
    evaluate_take_video,
    frames_detect,
    safety_gate,
)
from jobs.evaluation.safety import LabelThreshold
from jobs.evaluation.take import evaluation_failed_check
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
    assert evaluation.gates["safety"] == {"passed": True, "outcome": "pass", "reason": "", "labels": [],
                                          "frames_flagged": {}}  # fmt: skip
    assert evaluation.outcome == "pass"


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
    assert strict.outcome == "block"
    assert strict.failure_reason.startswith("The video was flagged as unsafe: FACE_FEMALE on ")


def test_our_detector_path_reads_the_model_as_nudenet_does(astronaut, astronaut_detections):
    """frames_detect runs the model itself (one batch, numpy post-processing) on NudeNet's own input, so
    the calibrated thresholds hold: the same detections as NudeDetector.detect, square or 16:9, to float
    rounding."""
    import cv2
    from nudenet import NudeDetector

    detector = NudeDetector()
    wide = cv2.resize(astronaut, (320, 180), interpolation=cv2.INTER_AREA)
    tall = cv2.resize(astronaut, (180, 320), interpolation=cv2.INTER_AREA)

    ours = frames_detect([astronaut, wide, tall])
    for still, found in zip([astronaut, wide, tall], ours, strict=True):
        theirs = detector.detect(np.ascontiguousarray(still[:, :, ::-1]))
        assert [(hit["class"], hit["box"]) for hit in found] == [(hit["class"], hit["box"]) for hit in theirs]
        assert [hit["score"] for hit in found] == pytest.approx([hit["score"] for hit in theirs], abs=1e-4)
    assert ours[0] and ours[0][0]["class"] == "FACE_FEMALE"


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


# --- Three outcomes: per-label thresholds and agreement across frames ---------------------------


def hits(*frames: dict[str, float]) -> list[list[dict]]:
    """Detections as NudeNet returns them: per frame, {class, score, box}."""
    return [[{"class": label, "score": score, "box": [0, 0, 10, 10]} for label, score in frame.items()]
            for frame in frames]  # fmt: skip


def test_a_cartoon_breast_flag_on_a_few_frames_needs_review_instead_of_blocking():
    # What NudeNet reads on animated animals (issue #13): about 0.79 on a few of the sampled frames.
    detections = hits({"FEMALE_BREAST_EXPOSED": 0.79}, {}, {"FEMALE_BREAST_EXPOSED": 0.78}, {}, {},
                      {"FEMALE_BREAST_EXPOSED": 0.8}, {}, {"FACE_FEMALE": 0.9})  # fmt: skip

    verdict = safety_gate(detections)

    assert verdict.outcome == "needs_review" and not verdict.passed
    assert verdict.unsafe_labels == ["FEMALE_BREAST_EXPOSED"]
    assert verdict.frames_flagged == {"FEMALE_BREAST_EXPOSED": 3}
    assert "unsure (FEMALE_BREAST_EXPOSED on 3 frames of 8, best score 0.80)" in verdict.reason


def test_a_clear_violation_agreed_on_by_several_frames_still_blocks():
    detections = hits({"FEMALE_BREAST_EXPOSED": 0.91}, {"FEMALE_BREAST_EXPOSED": 0.88}, {}, {})

    verdict = safety_gate(detections)

    assert verdict.outcome == "block"
    assert verdict.reason == "The video was flagged as unsafe: FEMALE_BREAST_EXPOSED on 2 of 4 frames."


def test_thresholds_are_per_label():
    genitalia_twice = hits({"MALE_GENITALIA_EXPOSED": 0.65}, {"MALE_GENITALIA_EXPOSED": 0.62}, {})
    breast_twice = hits({"FEMALE_BREAST_EXPOSED": 0.65}, {"FEMALE_BREAST_EXPOSED": 0.62}, {})
    belly = hits({"BELLY_EXPOSED": 0.95}, {"BELLY_EXPOSED": 0.95})

    assert safety_gate(genitalia_twice).outcome == "block"
    assert safety_gate(breast_twice).outcome == "needs_review"
    assert safety_gate(belly).outcome == "pass"
    assert safety_gate(hits({"BUTTOCKS_EXPOSED": 0.4}, {"BUTTOCKS_EXPOSED": 0.44})).outcome == "pass"


def test_one_frame_even_far_above_the_block_score_is_a_fluke_to_review():
    verdict = safety_gate(hits({"ANUS_EXPOSED": 0.97}, {}, {}, {}, {}, {}))

    assert verdict.outcome == "needs_review"


def cartoon_frames(count: int, seed: int) -> list[np.ndarray]:
    """Flat-shaded animated animals (pink round bodies with spots) walking over a field."""
    rng = random.Random(seed)
    sky, skin = tuple(rng.randint(120, 255) for _ in range(3)), rng.choice(
        [(240, 190, 160), (250, 200, 200), (210, 150, 110), (255, 170, 180)])  # fmt: skip
    frames = []
    for index in range(count):
        picture = Image.new("RGB", (320, 240), sky)
        draw = ImageDraw.Draw(picture)
        draw.rectangle([0, 170, 320, 240], fill=(90, 180, 70))
        x, y = 70 + index * 4, 120 + (index % 6)
        draw.ellipse([x - 60, y - 35, x + 60, y + 35], fill=skin, outline=(40, 20, 10), width=3)
        draw.ellipse([x + 40, y - 60, x + 90, y - 10], fill=skin, outline=(40, 20, 10), width=3)
        for dx in (-25, 5):
            draw.ellipse([x + dx - 12, y - 5, x + dx + 12, y + 19], fill=tuple(c - 40 for c in skin),
                         outline=(60, 30, 20), width=2)  # fmt: skip
            draw.ellipse([x + dx - 3, y + 4, x + dx + 3, y + 10], fill=(150, 60, 60))
        draw.ellipse([x + 60, y - 45, x + 68, y - 37], fill=(0, 0, 0))
        frames.append(np.asarray(picture))
    return frames


@pytest.mark.parametrize("seed", range(4))
def test_stylised_animated_clips_are_never_blocked(tmp_path, seed):
    clip = clip_write(tmp_path / "cartoon.mp4", cartoon_frames(48, seed))

    evaluation = evaluate_take_video(clip, expected_duration_seconds=2, expected_width=320, expected_height=240)

    assert evaluation.metrics["safety"].available
    assert evaluation.gates["safety"]["outcome"] != "block"
    assert evaluation.outcome == "pass", evaluation.reasons


FACE_AS_UNSAFE = EvaluationGates(unsafe_labels=UNSAFE_LABELS | {"FACE_FEMALE"},
                                 safety_thresholds=(("FACE_FEMALE", LabelThreshold(review=0.3, block=0.5)),))


def test_the_positive_on_a_single_sampled_frame_needs_review_end_to_end(tmp_path, astronaut):
    picture = np.asarray(Image.fromarray(astronaut).resize((320, 320)))
    cartoon = [np.asarray(Image.fromarray(frame).crop((0, 0, 320, 240)).resize((320, 320))) for frame in cartoon_frames(48, 0)]
    clip = clip_write(tmp_path / "flash.mp4", [picture] * 3 + cartoon[3:])  # the photo for 1/8 s only
    a_cut_allowed = replace(FACE_AS_UNSAFE, max_hard_cuts=1)  # the photo cuts to the cartoon

    evaluation = evaluate_take_video(clip, expected_duration_seconds=2, expected_width=320, expected_height=320,
                                     gates=a_cut_allowed)  # fmt: skip

    assert evaluation.outcome == "needs_review" and not evaluation.passed, evaluation.reasons
    assert evaluation.gates["safety"]["frames_flagged"] == {"FACE_FEMALE": 1}
    assert evaluation.failure_reason.startswith("Check this video before using it")
    assert evaluation.as_dict()["outcome"] == "needs_review"


def test_a_doubtful_flag_never_hides_a_technical_defect(tmp_path, astronaut):
    clip = clip_write(tmp_path / "frozen.mp4", [np.asarray(Image.fromarray(astronaut).resize((320, 320)))] * 48)
    doubtful = EvaluationGates(unsafe_labels=UNSAFE_LABELS | {"FACE_FEMALE"},
                               safety_thresholds=(("FACE_FEMALE", LabelThreshold(review=0.3, block=0.99)),))

    evaluation = evaluate_take_video(clip, expected_duration_seconds=2, expected_width=320, expected_height=320,
                                     gates=doubtful)  # fmt: skip

    assert evaluation.outcome == "block"
    assert evaluation.gates["safety"]["outcome"] == "needs_review"
    assert evaluation.failure_reason == evaluation.technical.failure_reason != ""
    assert evaluation.reasons[-1].startswith("Check this video before using it")
    assert evaluation_failed_check(evaluation.as_dict())[0] == "not_frozen"  # refunded and regenerated as broken


def test_a_clear_violation_comes_before_a_technical_defect(tmp_path, astronaut):
    clip = clip_write(tmp_path / "frozen.mp4", [np.asarray(Image.fromarray(astronaut).resize((320, 320)))] * 48)

    evaluation = evaluate_take_video(clip, expected_duration_seconds=2, expected_width=320, expected_height=320,
                                     gates=FACE_AS_UNSAFE)  # fmt: skip

    assert evaluation.outcome == "block"
    assert evaluation.failure_reason.startswith("The video was flagged as unsafe: FACE_FEMALE on ")
    assert next(iter(evaluation.gates)) == "safety"
    assert evaluation_failed_check(evaluation.as_dict())[0] == "safety"
