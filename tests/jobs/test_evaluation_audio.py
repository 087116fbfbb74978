"""The audio dimension on real encoded files: tones, silences, clipping and short or long tracks,
generated with numpy and muxed with PyAV (AAC in MP4 as native-audio vendors deliver it; 16-bit
PCM in QuickTime where the test needs samples pinned exactly at full scale)."""

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from jobs.evaluation import evaluate_take_video
from jobs.evaluation.audio import SAMPLE_RATE, audio_defects
from tests.jobs.test_evaluation import FPS, HEIGHT, WIDTH, clip_write, moving_frames


def tone(seconds: float, dbfs: float, *, frequency: float = 997.0, channels: int = 2) -> np.ndarray:
    """(samples, channels) float32 sine whose peak is `dbfs` below full scale."""
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    wave = (10 ** (dbfs / 20) * np.sin(2 * np.pi * frequency * t)).astype(np.float32)
    return np.repeat(wave[:, None], channels, axis=1)


def silence(seconds: float, channels: int = 2) -> np.ndarray:
    return np.zeros((int(seconds * SAMPLE_RATE), channels), np.float32)


def clip_with_sound(path: Path, sound: np.ndarray | None, *, video_seconds: float = 2, pcm: bool = False) -> Path:
    """A moving picture of `video_seconds` with `sound` as its soundtrack (None: no audio stream)."""
    frames = moving_frames(video_seconds)
    if sound is None:
        return clip_write(path, frames)
    with av.open(str(path), mode="w", format="mov" if pcm else "mp4") as container:
        video = container.add_stream("libx264", rate=FPS, options={"crf": "28", "preset": "ultrafast"})
        video.height, video.width, video.pix_fmt = HEIGHT, WIDTH, "yuv420p"
        layout = "stereo" if sound.shape[1] == 2 else "mono"
        audio = container.add_stream("pcm_s16le" if pcm else "aac", rate=SAMPLE_RATE, layout=layout)
        for index, picture in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, FPS)
            container.mux(video.encode(frame))
        container.mux(video.encode())
        for start in range(0, len(sound), 1024):
            chunk = np.ascontiguousarray(sound[start:start + 1024].T)  # planar: one row per channel
            if pcm:
                chunk = np.ascontiguousarray((np.clip(sound[start:start + 1024], -1, 1) * 32767).astype(np.int16).reshape(1, -1))
                frame = av.AudioFrame.from_ndarray(chunk, format="s16", layout=layout)
            else:
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout=layout)
            frame.sample_rate, frame.pts, frame.time_base = SAMPLE_RATE, start, Fraction(1, SAMPLE_RATE)
            container.mux(audio.encode(frame))
        container.mux(audio.encode())
    return path


def expected_lufs(dbfs: float, channels: int) -> float:
    """BS.1770: a 997 Hz sine peaking at 0 dBFS in one channel reads -3.01 LUFS; channels add power."""
    return -3.01 + dbfs + 10 * np.log10(channels)


@pytest.mark.parametrize(("dbfs", "channels"), [(-20, 2), (-14, 1), (-26, 2)])
def test_integrated_loudness_matches_bs1770_within_tolerance(tmp_path, dbfs, channels):
    clip = clip_with_sound(tmp_path / "tone.mp4", tone(2, dbfs, channels=channels))

    report = audio_defects(clip, expects_audio=True, video_duration_seconds=2)

    assert report.has_audio
    assert report.loudness_lufs == pytest.approx(expected_lufs(dbfs, channels), abs=0.5)
    assert report.defects == [] and report.blocking_reason == ""
    assert report.duration_seconds == pytest.approx(2, abs=LENGTH_SLACK)


LENGTH_SLACK = 0.1  # AAC's priming and padding samples


def test_no_audio_stream_blocks_only_when_sound_was_asked_for(tmp_path):
    clip = clip_with_sound(tmp_path / "mute.mp4", None)

    asked = audio_defects(clip, expects_audio=True, video_duration_seconds=2)
    not_asked = audio_defects(clip, expects_audio=False, video_duration_seconds=2)

    assert asked.blocking_reason == "The video has no sound, but sound was asked for."
    assert asked.defects == [{"kind": "no_audio", "start": 0.0, "end": 2.0, "value": None}]
    assert not_asked.blocking_reason == "" and not_asked.defects == []
    assert not not_asked.as_metric().available


def test_a_silent_track_blocks_when_sound_was_asked_for(tmp_path):
    clip = clip_with_sound(tmp_path / "silent.mp4", silence(2))

    report = audio_defects(clip, expects_audio=True, video_duration_seconds=2)

    assert report.blocking_reason == "The video is silent, but sound was asked for."
    assert [defect["kind"] for defect in report.defects] == ["silent_audio"]


def test_a_long_silence_inside_the_track_is_reported_with_its_time_range(tmp_path):
    sound = np.concatenate([tone(1.5, -18), silence(2.0), tone(1.5, -18)])
    clip = clip_with_sound(tmp_path / "gap.mp4", sound, video_seconds=5)

    report = audio_defects(clip, expects_audio=True, video_duration_seconds=5)

    assert report.blocking_reason == ""
    [gap] = [defect for defect in report.defects if defect["kind"] == "silence"]
    assert gap["start"] == pytest.approx(1.5, abs=0.1) and gap["end"] == pytest.approx(3.5, abs=0.1)
    assert gap["value"] < -60
    assert report.as_metric().score < 1


def test_a_short_pause_is_not_a_silence_defect(tmp_path):
    sound = np.concatenate([tone(1, -18), silence(0.5), tone(1.5, -18)])
    clip = clip_with_sound(tmp_path / "pause.mp4", sound, video_seconds=3)

    assert audio_defects(clip, expects_audio=True, video_duration_seconds=3).defects == []


def test_hard_clipping_blocks_with_its_share(tmp_path):
    clipped = np.clip(tone(2, 12), -1, 1)  # a sine driven 12 dB past full scale: flat tops
    clip = clip_with_sound(tmp_path / "clipped.mov", clipped, pcm=True)

    report = audio_defects(clip, expects_audio=True, video_duration_seconds=2)

    assert report.blocking_reason.startswith("The sound is distorted: ")
    [clipping] = [defect for defect in report.defects if defect["kind"] == "clipping"]
    assert clipping["value"] > 0.5  # most samples of a sine 12 dB too hot sit at the rails
    assert report.peak_dbfs == pytest.approx(0, abs=0.1)


def test_a_clean_full_scale_tone_is_not_clipping(tmp_path):
    clip = clip_with_sound(tmp_path / "hot.mov", tone(2, -1), pcm=True)

    report = audio_defects(clip, expects_audio=True, video_duration_seconds=2)

    assert report.clipped_share == 0 and report.blocking_reason == ""


def test_sound_and_picture_of_different_lengths(tmp_path):
    long_sound = clip_with_sound(tmp_path / "long.mp4", tone(3.5, -18), video_seconds=2)
    slightly = clip_with_sound(tmp_path / "slightly.mp4", tone(2.5, -18), video_seconds=2)

    long_report = audio_defects(long_sound, expects_audio=True, video_duration_seconds=2)
    slight_report = audio_defects(slightly, expects_audio=True, video_duration_seconds=2)

    assert long_report.blocking_reason == "The sound is 1.5 s longer than the picture."
    [mismatch] = long_report.defects
    assert mismatch["kind"] == "length_mismatch" and mismatch["start"] == 2.0
    assert mismatch["value"] == pytest.approx(1.5, abs=LENGTH_SLACK)
    assert slight_report.blocking_reason == ""  # reported, not blocking
    assert [defect["kind"] for defect in slight_report.defects] == ["length_mismatch"]


def test_a_very_quiet_track_is_reported_for_its_loudness(tmp_path):
    clip = clip_with_sound(tmp_path / "quiet.mp4", tone(2, -40))

    report = audio_defects(clip, expects_audio=True, video_duration_seconds=2)

    assert report.blocking_reason == ""
    [loudness] = report.defects
    assert loudness["kind"] == "loudness" and loudness["value"] == pytest.approx(expected_lufs(-40, 2), abs=0.5)


def test_the_take_evaluation_gates_and_reports_the_soundtrack(tmp_path):
    good = clip_with_sound(tmp_path / "good.mp4", tone(2, -18))
    mute = clip_with_sound(tmp_path / "mute.mp4", None)
    common = {"expected_duration_seconds": 2, "expected_width": WIDTH, "expected_height": HEIGHT}

    with_sound = evaluate_take_video(good, expects_audio=True, **common)
    missing = evaluate_take_video(mute, expects_audio=True, **common)
    not_asked = evaluate_take_video(mute, **common)

    assert with_sound.outcome == "pass", with_sound.reasons
    assert with_sound.metrics["audio"].value == pytest.approx(expected_lufs(-18, 2), abs=0.5)
    assert with_sound.gates["audio"]["passed"]
    assert missing.outcome == "block"
    assert missing.failure_reason == "The video has no sound, but sound was asked for."
    assert not_asked.outcome == "pass" and not not_asked.metrics["audio"].available
