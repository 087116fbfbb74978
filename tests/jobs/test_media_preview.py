"""The animated preview: a few evenly spread frames, looping, at most 480 px wide."""

import av
import numpy as np
import pytest
from PIL import Image

from jobs import media
from jobs.media import video_preview


def make_video(path, *, frames=48, size=(854, 480), fps=24):
    """A real H.264 MP4 whose frames get brighter, so sampled frames can be told apart."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("h264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for index in range(frames):
            level = int(255 * index / max(frames - 1, 1))
            array = np.full((size[1], size[0], 3), level, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(array, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_the_preview_is_a_looping_webp_of_twelve_frames_at_most_480_wide(tmp_path):
    video = make_video(tmp_path / "take.mp4")
    preview = video_preview(video, tmp_path / "stills")
    assert preview.name == "preview.webp"
    with Image.open(preview) as image:
        assert image.format == "WEBP" and image.is_animated
        assert image.n_frames == 12
        assert image.width == 480 and image.height == 270  # 854×480 scaled, shape kept
        assert image.info.get("loop") == 0
        image.seek(0)
        first = np.asarray(image.convert("L")).mean()
        image.seek(image.n_frames - 1)
        last = np.asarray(image.convert("L")).mean()
    assert first < 30 and last > 220  # the samples span the whole take, start to end


def test_a_short_video_gives_one_preview_frame_per_video_frame(tmp_path):
    video = make_video(tmp_path / "short.mp4", frames=5, size=(320, 320))
    with Image.open(video_preview(video, tmp_path)) as image:
        assert image.n_frames == 5 and image.size == (320, 320)


def test_without_webp_support_the_preview_is_a_gif(tmp_path, monkeypatch):
    monkeypatch.setattr(media.features, "check", lambda name: False)
    video = make_video(tmp_path / "take.mp4", frames=24, size=(640, 360))
    preview = video_preview(video, tmp_path / "stills")
    with Image.open(preview) as image:
        assert (preview.suffix, image.format, image.n_frames, image.width) == (".gif", "GIF", 12, 480)


def test_a_file_without_video_frames_is_refused(tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00\x00\x00\x18ftypisom" + b"\x00" * 100)
    with pytest.raises((ValueError, av.error.FFmpegError)):
        video_preview(broken, tmp_path)


def test_the_poster_is_the_middle_frame_found_by_a_seek(tmp_path):
    video = make_video(tmp_path / "ramp.mp4", frames=96)

    poster, thumbnail = media.video_stills(video, tmp_path / "stills")

    level = np.asarray(Image.open(poster).convert("L")).mean()
    assert abs(level - 255 * 48 / 95) < 8  # the 49th of 96 frames, not the first or the last
    assert Image.open(thumbnail).width <= media.THUMBNAIL_WIDTH


def test_evaluation_makes_the_poster_thumbnail_and_preview_from_its_own_decode(tmp_path):
    from jobs.evaluation import evaluate_take_video

    video = make_video(tmp_path / "ramp.mp4", frames=48)
    result = evaluate_take_video(video, expected_duration_seconds=2, expected_width=854, expected_height=480,
                                 media_dir=tmp_path / "media")  # fmt: skip

    assert set(result.media) == {"poster", "thumbnail", "preview"}
    assert Image.open(result.media["poster"]).size == (854, 480)
    with Image.open(result.media["preview"]) as preview:
        assert preview.n_frames == 12 and preview.width == 480
