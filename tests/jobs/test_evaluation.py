"""Technical checks on stored takes, against a labelled set of clips made here with PyAV."""

import json
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from jobs.evaluation import evaluate_video_technical
from providers.base import RenderRequest
from providers.local.animatic import CAMERA_MOVES, render_animatic

WIDTH, HEIGHT, FPS = 320, 240, 24
ALL_CHECKS = ["decodes", "duration", "size", "not_black", "not_frozen"]


def clip_write(path: Path, frames: list[np.ndarray], *, fps: int = FPS, faststart: bool = True) -> Path:
    options = {"movflags": "+faststart"} if faststart else {}
    with av.open(str(path), mode="w", format="mp4", options=options) as container:
        stream = container.add_stream("libx264", rate=fps, options={"crf": "23", "preset": "veryfast"})
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for index, picture in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def textured_picture(width: int = WIDTH, height: int = HEIGHT) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    picture = np.stack([x * 255 // width, y * 255 // height, (x + y) % 64 * 3], axis=-1)
    return picture.astype(np.uint8)


def moving_frames(seconds: float, width: int = WIDTH, height: int = HEIGHT) -> list[np.ndarray]:
    """A textured background with a bright square travelling across it."""
    frames = []
    for index in range(round(seconds * FPS)):
        picture = textured_picture(width, height)
        left = index * 3 % (width - 40)
        picture[height // 3 : height // 3 + 40, left : left + 40] = 250
        frames.append(picture)
    return frames


def moving_clip(path: Path) -> Path:
    return clip_write(path / "moving.mp4", moving_frames(2))


def black_clip(path: Path) -> Path:
    return clip_write(path / "black.mp4", [np.zeros((HEIGHT, WIDTH, 3), np.uint8)] * 48)


def frozen_clip(path: Path) -> Path:
    return clip_write(path / "frozen.mp4", [textured_picture()] * 48)


def short_clip(path: Path) -> Path:
    return clip_write(path / "short.mp4", moving_frames(1))


def slightly_long_clip(path: Path) -> Path:
    return clip_write(path / "slightly_long.mp4", moving_frames(2.2))


def small_clip(path: Path) -> Path:
    return clip_write(path / "small.mp4", moving_frames(2, width=160, height=120))


def truncated_clip(path: Path) -> Path:
    whole = moving_clip(path).read_bytes()
    (path / "truncated.mp4").write_bytes(whole[: len(whole) // 2])
    return path / "truncated.mp4"


def truncated_clip_without_faststart(path: Path) -> Path:
    """The index is at the end of such a file, so the first half is not even recognisable."""
    whole = clip_write(path / "plain.mp4", moving_frames(2), faststart=False).read_bytes()
    (path / "truncated_plain.mp4").write_bytes(whole[: len(whole) // 2])
    return path / "truncated_plain.mp4"


def text_file(path: Path) -> Path:
    (path / "take.mp4").write_text("<html>502 Bad Gateway</html>")
    return path / "take.mp4"


def audio_only_file(path: Path) -> Path:
    with av.open(str(path / "sound.mp4"), mode="w") as container:
        stream = container.add_stream("aac", rate=44100)
        for index in range(40):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 44100, index * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path / "sound.mp4"


def missing_file(path: Path) -> Path:
    return path / "never_written.mp4"


@dataclass(frozen=True)
class Case:
    make: Callable[[Path], Path]
    failing: list[str]  # checks expected to fail; the first one gives failure_reason
    reason: str  # expected in failure_reason
    expected_size: tuple[int, int] = (WIDTH, HEIGHT)


CASES = {
    "clean moving clip": Case(moving_clip, [], ""),
    "within the duration tolerance": Case(slightly_long_clip, [], ""),
    "all black": Case(black_clip, ["not_black", "not_frozen"], "The video is all black."),
    "frozen": Case(frozen_clip, ["not_frozen"], "looks frozen"),
    "wrong duration": Case(short_clip, ["duration"], "runs 1.0 s instead of the requested 2 s"),
    "wrong size": Case(small_clip, ["size"], "160x120 pixels instead of 320x240"),
    "truncated": Case(truncated_clip, ["decodes"], "damaged or incomplete"),
    "truncated, index at the end": Case(truncated_clip_without_faststart, ["decodes"], "could not be opened"),
    "not a video": Case(text_file, ["decodes"], "is not a video at all"),
    "sound only": Case(audio_only_file, ["decodes"], "no video"),
    "missing": Case(missing_file, ["decodes"], "could not be opened"),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_labelled_clips_get_the_expected_verdict(tmp_path, case):
    evaluation = evaluate_video_technical(
        case.make(tmp_path),
        expected_duration_seconds=2,
        expected_width=case.expected_size[0],
        expected_height=case.expected_size[1],
    )

    assert evaluation.passed == (not case.failing)
    assert [name for name, check in evaluation.checks.items() if not check["passed"]] == case.failing
    if case.failing:
        assert case.reason in evaluation.failure_reason
    else:
        assert evaluation.failure_reason == ""
    json.dumps(evaluation.checks)  # stored on the take as JSON


@pytest.mark.parametrize("case", [CASES["truncated"], CASES["not a video"]], ids=["truncated", "not a video"])
def test_undecodable_files_record_only_the_decodes_check(tmp_path, case):
    evaluation = evaluate_video_technical(
        case.make(tmp_path), expected_duration_seconds=2, expected_width=WIDTH, expected_height=HEIGHT
    )

    assert list(evaluation.checks) == ["decodes"]
    assert evaluation.checks["decodes"]["detail"]
    assert str(tmp_path) not in json.dumps(evaluation.checks)  # storage paths stay out of the record


@pytest.mark.parametrize("kept", [0.3, 0.5, 0.7, 0.9])
def test_a_clip_cut_short_anywhere_fails_to_decode(tmp_path, kept):
    # Depending on where the cut falls, FFmpeg either errors out or quietly stops early.
    whole = moving_clip(tmp_path).read_bytes()
    (tmp_path / "cut.mp4").write_bytes(whole[: int(len(whole) * kept)])

    evaluation = evaluate_video_technical(
        tmp_path / "cut.mp4", expected_duration_seconds=2, expected_width=WIDTH, expected_height=HEIGHT
    )

    assert list(evaluation.checks) == ["decodes"]
    assert "damaged or incomplete" in evaluation.failure_reason


def test_every_check_is_recorded_with_value_expected_and_detail(tmp_path):
    evaluation = evaluate_video_technical(
        black_clip(tmp_path), expected_duration_seconds=5, expected_width=640, expected_height=480
    )

    assert list(evaluation.checks) == ALL_CHECKS
    assert all(set(check) == {"passed", "value", "expected", "detail"} for check in evaluation.checks.values())
    assert evaluation.checks["duration"]["value"] == 2.0
    assert evaluation.checks["size"]["value"] == "320x240"
    assert evaluation.checks["not_black"]["value"] < 1
    assert evaluation.failure_reason.startswith("The video runs 2.0 s")  # duration comes before black


def test_long_clips_get_five_percent_duration_tolerance(tmp_path):
    frames = [textured_picture(64, 48)] * round(19.2 * FPS)

    clip = clip_write(tmp_path / "long.mp4", frames)

    evaluation = evaluate_video_technical(clip, expected_duration_seconds=20, expected_width=64, expected_height=48)

    assert evaluation.checks["duration"]["passed"]


@pytest.mark.parametrize("camera", CAMERA_MOVES)
def test_every_animatic_camera_move_passes(tmp_path, camera):
    request = RenderRequest(
        prompt="Rain on a tin roof", negative_prompt="", duration_seconds=3, aspect_ratio="16:9", camera=camera,
        seed=23, title="Monsoon",
    )
    video = render_animatic(request, output_dir=tmp_path)

    evaluation = evaluate_video_technical(
        video.video_path, expected_duration_seconds=3, expected_width=video.width, expected_height=video.height
    )

    assert evaluation.passed, evaluation.checks
    assert list(evaluation.checks) == ALL_CHECKS


def test_static_animatic_of_a_flat_reference_image_is_not_frozen(tmp_path):
    Image.new("RGB", (800, 600), (200, 120, 40)).save(tmp_path / "flat.png")
    request = RenderRequest(
        prompt="", negative_prompt="", duration_seconds=5, aspect_ratio="9:16", camera="static", seed=1,
        reference_images=(tmp_path / "flat.png",),
    )
    video = render_animatic(request, output_dir=tmp_path / "take")

    evaluation = evaluate_video_technical(
        video.video_path, expected_duration_seconds=5, expected_width=480, expected_height=854
    )

    assert evaluation.checks["not_frozen"]["passed"], evaluation.checks["not_frozen"]
