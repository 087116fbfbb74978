"""The local animatic renderer: real renders, decoded back with PyAV and measured."""

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from providers.base import BadRequest, RenderRequest
from providers.local.animatic import animatic_frame_size, render_animatic

ORANGE = (200, 120, 40)


def shot_request(**overrides) -> RenderRequest:
    request = RenderRequest(
        prompt="A lighthouse keeper climbs the spiral stairs at dusk as the storm rolls in",
        negative_prompt="text artefacts",
        duration_seconds=2,
        aspect_ratio="16:9",
        camera="static",
        seed=11,
        title="The Last Lighthouse",
    )
    return replace(request, **overrides)


def decoded_gray_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [frame.to_ndarray(format="gray").astype(np.float32) for frame in container.decode(video=0)]


def decoded_first_rgb(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


def content_shift(earlier: np.ndarray, later: np.ndarray) -> tuple[int, int]:
    """(dy, dx) by which the picture content moved from `earlier` to `later` (phase correlation)."""
    window = np.outer(np.hanning(earlier.shape[0]), np.hanning(earlier.shape[1]))
    cross = np.fft.fft2(later * window) * np.conj(np.fft.fft2(earlier * window))
    peak = np.unravel_index(np.argmax(np.fft.ifft2(cross / (np.abs(cross) + 1e-9)).real), cross.shape)
    return tuple(int(p - n) if p > n // 2 else int(p) for p, n in zip(peak, cross.shape))


def zoom_about_centre(frame: np.ndarray, factor: float) -> np.ndarray:
    height, width = frame.shape
    crop_w, crop_h = width / factor, height / factor
    box = ((width - crop_w) / 2, (height - crop_h) / 2, (width + crop_w) / 2, (height + crop_h) / 2)
    image = Image.fromarray(frame).resize((width, height), Image.Resampling.BILINEAR, box=box)
    return np.asarray(image, dtype=np.float32)


def zoom_between(earlier: np.ndarray, later: np.ndarray) -> float:
    """How much bigger the picture looks in `later` than in `earlier` (below 1: it got smaller)."""
    factors = np.linspace(1.0, 1.35, 71)

    def mismatch(source: np.ndarray, target: np.ndarray, factor: float) -> float:
        height, width = target.shape
        centre = (slice(height // 4, 3 * height // 4), slice(width // 4, 3 * width // 4))
        return float(np.abs(zoom_about_centre(source, factor)[centre] - target[centre]).mean())

    growing = [mismatch(earlier, later, factor) for factor in factors]
    shrinking = [mismatch(later, earlier, factor) for factor in factors]
    if min(growing) <= min(shrinking):
        return float(factors[int(np.argmin(growing))])
    return float(1 / factors[int(np.argmin(shrinking))])


@pytest.fixture(scope="module")
def textured_image(tmp_path_factory) -> Path:
    """Photo-like detail at several scales, so shifts and zooms can be measured reliably."""
    rng = np.random.default_rng(5)
    layers = [
        np.asarray(Image.fromarray(rng.integers(0, 255, (rows, rows * 4 // 3), dtype=np.uint8)).resize((1200, 900)))
        for rows in (6, 24, 96)
    ]
    picture = np.clip(sum(layer.astype(np.float32) for layer in layers) / 3, 0, 255).astype(np.uint8)
    path = tmp_path_factory.mktemp("references") / "texture.png"
    Image.fromarray(picture).convert("RGB").save(path)
    return path


@pytest.fixture(scope="module")
def camera_takes(tmp_path_factory, textured_image) -> dict[str, list[np.ndarray]]:
    takes = {}
    for camera in ("static", "dolly_in", "dolly_out", "pan_left", "pan_right", "tilt_up", "tilt_down", "orbit"):
        request = shot_request(camera=camera, reference_images=(textured_image,))
        video = render_animatic(request, output_dir=tmp_path_factory.mktemp(camera), fps=12)
        takes[camera] = decoded_gray_frames(video.video_path)
    return takes


def quarter_and_three_quarters(frames: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    return frames[len(frames) // 4], frames[3 * len(frames) // 4]


@pytest.mark.parametrize(
    ("aspect_ratio", "size"),
    [("16:9", (854, 480)), ("9:16", (480, 854)), ("1:1", (480, 480)), ("4:3", (640, 480))],
)
def test_each_aspect_ratio_renders_h264_of_exact_size_frames_and_duration(tmp_path, aspect_ratio, size):
    video = render_animatic(shot_request(aspect_ratio=aspect_ratio, duration_seconds=2), output_dir=tmp_path)

    assert animatic_frame_size(aspect_ratio) == size
    assert (video.width, video.height, video.fps, video.frame_count) == (*size, 24, 48)
    with av.open(str(video.video_path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert stream.duration * stream.time_base == Fraction(2)
        assert container.duration / av.time_base == pytest.approx(2.0, abs=0.01)
        frames = list(container.decode(stream))
    assert len(frames) == 48
    assert {(frame.width, frame.height) for frame in frames} == {size}


def test_frame_count_follows_the_requested_fps(tmp_path):
    video = render_animatic(shot_request(duration_seconds=3), output_dir=tmp_path, fps=12)

    assert video.frame_count == 36
    assert len(decoded_gray_frames(video.video_path)) == 36


def test_static_is_an_almost_still_gentle_push(camera_takes):
    first, last = camera_takes["static"][0], camera_takes["static"][-1]

    assert max(map(abs, content_shift(first, last))) <= 3  # held on its centre; zoom blurs the estimate
    assert 1.015 <= zoom_between(first, last) <= 1.06


def test_dolly_in_makes_the_picture_grow(camera_takes):
    assert zoom_between(*quarter_and_three_quarters(camera_takes["dolly_in"])) >= 1.08


def test_dolly_out_makes_the_picture_shrink(camera_takes):
    assert zoom_between(*quarter_and_three_quarters(camera_takes["dolly_out"])) <= 1 / 1.08


@pytest.mark.parametrize(
    ("camera", "moves_right", "moves_down"),
    [
        # The camera turns right, so the scene slides left across the frame; and so on.
        ("pan_right", -1, 0),
        ("pan_left", 1, 0),
        ("tilt_up", 0, 1),
        ("tilt_down", 0, -1),
    ],
)
def test_pans_and_tilts_slide_the_picture_against_the_camera(camera_takes, camera, moves_right, moves_down):
    dy, dx = content_shift(*quarter_and_three_quarters(camera_takes[camera]))

    assert np.sign(dx) == moves_right and np.sign(dy) == moves_down
    assert max(abs(dx), abs(dy)) >= 40  # a clear move, not jitter
    assert min(abs(dx), abs(dy)) <= 2  # along one axis only


def test_orbit_moves_background_and_foreground_in_opposite_directions(camera_takes):
    # A third of the shot apart, not half: the foreground crop must still overlap itself enough for
    # phase correlation to find its shift (half a shot apart it drifts ~100 px out of a 240 px crop).
    frames = camera_takes["orbit"]
    earlier, later = frames[len(frames) // 3], frames[2 * len(frames) // 3]
    background = slice(0, 40)  # a strip along the top edge, outside the foreground cut-out
    centre = (slice(180, 300), slice(307, 547))

    _, background_dx = content_shift(earlier[background], later[background])
    _, foreground_dx = content_shift(earlier[centre], later[centre])

    assert background_dx <= -20
    assert foreground_dx >= 20


def test_first_reference_image_is_what_the_take_shows(tmp_path):
    noise = np.random.default_rng(1).integers(-6, 7, (600, 800, 3))
    Image.fromarray(np.clip(np.array(ORANGE) + noise, 0, 255).astype(np.uint8)).save(tmp_path / "orange.png")
    Image.new("RGB", (800, 600), (20, 40, 220)).save(tmp_path / "blue.png")
    request = shot_request(reference_images=(tmp_path / "orange.png", tmp_path / "blue.png"))

    video = render_animatic(request, output_dir=tmp_path / "take")

    mean_colour = decoded_first_rgb(video.video_path).reshape(-1, 3).mean(axis=0)
    assert np.abs(mean_colour - ORANGE).max() < 10


def test_reference_image_is_turned_upright_from_its_exif_orientation(tmp_path):
    picture = np.zeros((600, 800, 3), np.uint8)
    picture[:, :400] = (220, 30, 30)  # red on the left as stored...
    picture[:, 400:] = (30, 30, 220)
    exif = Image.Exif()
    exif[0x0112] = 3  # ...but the camera says "rotate 180°", which puts red on the right
    Image.fromarray(picture).save(tmp_path / "rotated.jpg", exif=exif)

    video = render_animatic(shot_request(reference_images=(tmp_path / "rotated.jpg",)), output_dir=tmp_path / "take")

    frame = decoded_first_rgb(video.video_path).astype(int)
    left, right = frame[:, :200].reshape(-1, 3).mean(axis=0), frame[:, -200:].reshape(-1, 3).mean(axis=0)
    assert left[2] > left[0] + 100 and right[0] > right[2] + 100


def test_without_reference_images_the_take_is_a_dark_textured_title_card(tmp_path):
    video = render_animatic(shot_request(), output_dir=tmp_path)

    frame = decoded_gray_frames(video.video_path)[0]
    height, width = frame.shape
    background = np.concatenate([frame[: height // 5].ravel(), frame[-height // 5 :].ravel()])
    lettering = frame[height // 3 : 2 * height // 3, width // 4 : 3 * width // 4]
    assert 15 < background.mean() < 90  # dark, not black
    assert background.std() > 2  # textured, not a flat fill
    assert lettering.max() > 200  # light lettering in the middle


def test_title_card_colours_come_from_the_seed(tmp_path):
    takes = [
        render_animatic(shot_request(seed=seed), output_dir=tmp_path / str(seed)).video_path for seed in (1, 2)
    ]

    first, second = (decoded_first_rgb(path).astype(int) for path in takes)
    assert np.abs(first - second).mean() > 3


def test_poster_and_thumbnail_are_jpegs_of_the_frame_and_320_wide(tmp_path):
    video = render_animatic(shot_request(aspect_ratio="9:16"), output_dir=tmp_path / "new" / "dir")

    with Image.open(video.poster_path) as poster, Image.open(video.thumbnail_path) as thumbnail:
        assert (poster.format, poster.size) == ("JPEG", (480, 854))
        assert (thumbnail.format, thumbnail.size) == ("JPEG", (320, 569))
    assert video.poster_path.parent == video.video_path.parent == tmp_path / "new" / "dir"
    assert sorted(path.name for path in (tmp_path / "new" / "dir").iterdir()) == [
        "poster.jpg",
        "take.mp4",
        "thumbnail.jpg",
    ]


def test_poster_is_the_middle_frame(tmp_path):
    video = render_animatic(shot_request(camera="pan_right"), output_dir=tmp_path)

    middle = decoded_gray_frames(video.video_path)[video.frame_count // 2]
    with Image.open(video.poster_path) as poster:
        poster_gray = np.asarray(poster.convert("L"), dtype=np.float32)
    assert np.abs(poster_gray - middle).mean() < 4
    assert content_shift(middle, poster_gray) == (0, 0)


def test_progress_is_reported_in_rising_steps_ending_at_100(tmp_path):
    reported: list[int] = []

    render_animatic(shot_request(duration_seconds=5), output_dir=tmp_path, on_progress=reported.append)

    assert reported[-1] == 100
    assert reported == sorted(reported)
    assert all(isinstance(percent, int) and 0 <= percent <= 100 for percent in reported)
    assert 5 <= len(reported) <= 21
    assert all(later - earlier >= 5 for earlier, later in zip(reported, reported[1:]))


def test_same_request_renders_the_same_frames(tmp_path):
    request = shot_request(camera="orbit")

    first = render_animatic(request, output_dir=tmp_path / "a")
    second = render_animatic(request, output_dir=tmp_path / "b")

    first_frames, second_frames = decoded_gray_frames(first.video_path), decoded_gray_frames(second.video_path)
    assert all(np.array_equal(a, b) for a, b in zip(first_frames, second_frames, strict=True))
    assert first.poster_path.read_bytes() == second.poster_path.read_bytes()


@pytest.mark.parametrize(
    "overrides",
    [
        {"aspect_ratio": "21:9"},
        {"duration_seconds": 0},
        {"duration_seconds": 21},
        {"camera": "crane_up"},
    ],
)
def test_requests_the_animatic_cannot_render_are_bad_requests(tmp_path, overrides):
    with pytest.raises(BadRequest) as raised:
        render_animatic(shot_request(**overrides), output_dir=tmp_path)

    assert str(next(iter(overrides.values()))) in raised.value.reason
    assert not (tmp_path / "take.mp4").exists()


def test_unknown_aspect_ratio_has_no_frame_size():
    with pytest.raises(BadRequest):
        animatic_frame_size("2.39:1")


@pytest.mark.parametrize("name", ["notes.png", "missing.jpg", "truncated.png"])
def test_reference_image_that_cannot_be_opened_is_a_bad_request(tmp_path, name):
    (tmp_path / "notes.png").write_text("this is not a picture")
    Image.new("RGB", (400, 300), ORANGE).save(tmp_path / "whole.png")
    (tmp_path / "truncated.png").write_bytes((tmp_path / "whole.png").read_bytes()[:200])

    with pytest.raises(BadRequest) as raised:
        render_animatic(shot_request(reference_images=(tmp_path / name,)), output_dir=tmp_path / "take")

    assert name in raised.value.reason
    assert not (tmp_path / "take" / "take.mp4").exists()
