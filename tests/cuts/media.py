"""Real little videos for the cut tests, written with PyAV: a solid colour per clip, so a
frame of the cut tells which take (or which blend of two) it shows."""

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def clip_write(path: Path, *, size: tuple[int, int] = (320, 180), fps: int = 24, seconds: float = 2.0,
               rgb: tuple[int, int, int] = (200, 40, 40), tone_hz: float | None = None,
               tone_from_seconds: float = 0.0) -> Path:
    """An H.264 MP4 of one colour (with a sine tone at 48 kHz when `tone_hz` is given, silent before
    `tone_from_seconds`: where the sound starts tells whether a trim was applied to it)."""
    width, height = size
    frames = round(seconds * fps)
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=fps, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.codec_context.time_base = Fraction(1, fps)
        audio = container.add_stream("aac", rate=48_000, layout="stereo") if tone_hz else None
        picture = np.zeros((height, width, 3), dtype=np.uint8)
        picture[:] = rgb
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = index, Fraction(1, fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
        if audio is not None:
            samples = int(seconds * 48_000)
            wave = (0.3 * np.sin(2 * np.pi * tone_hz * np.arange(samples) / 48_000)).astype(np.float32)
            wave[: int(tone_from_seconds * 48_000)] = 0
            both = np.vstack([wave, wave])
            for start in range(0, samples, 1024):
                chunk = np.ascontiguousarray(both[:, start:start + 1024])
                frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                frame.sample_rate, frame.pts = 48_000, start
                container.mux(audio.encode(frame))
            container.mux(audio.encode())
    return path


def video_facts(path: Path) -> dict:
    """Size, frame rate, frame count and duration of a video's picture; audio stream presence."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        return {"size": (stream.codec_context.width, stream.codec_context.height),
                "fps": float(stream.average_rate), "frames": frames,
                "has_audio": bool(container.streams.audio)}


def frame_rgb_at(path: Path, index: int, *, point: tuple[int, int] | None = None) -> tuple[int, int, int]:
    """The colour of one frame (at its centre, or at `point`)."""
    with av.open(str(path)) as container:
        for position, frame in enumerate(container.decode(video=0)):
            if position == index:
                picture = frame.to_ndarray(format="rgb24")
                y, x = point[::-1] if point else (picture.shape[0] // 2, picture.shape[1] // 2)
                return tuple(int(c) for c in picture[y, x])
    raise IndexError(index)
