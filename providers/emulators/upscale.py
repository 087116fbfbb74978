"""What the emulated upscalers return: the video they were given, really enlarged.

A vendor's upscaler answers with the same clip at a higher resolution; so do the emulators (fal's
video-upscaler, Runway's upscale_v1), so a test can check the upscaled take's size, length and
frames against its source. Videos arrive inline (a data: URL) or by URL, as vendors accept them.
"""

import base64
import hashlib
import io
import threading
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from tempfile import mkdtemp

import av
import httpx

SOURCE_MAX_BYTES = 64 * 1024 * 1024


class UnreadableVideo(ValueError):
    pass


@dataclass(frozen=True)
class SourceVideo:
    data: bytes
    width: int
    height: int
    duration_seconds: int

    @property
    def aspect_ratio(self) -> str:
        """The nearest of the shapes the studio renders, for the job's record."""
        shapes = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0, "4:3": 4 / 3}
        return min(shapes, key=lambda name: abs(shapes[name] - self.width / self.height))


def source_video_read(url: str) -> SourceVideo:
    """The video an upscale request names, probed; UnreadableVideo says why it cannot be used."""
    data = _source_bytes(url)
    try:
        with av.open(io.BytesIO(data)) as container:
            stream = container.streams.video[0]
            seconds = float(container.duration / av.time_base) if container.duration else 0.0
            width, height = stream.codec_context.width, stream.codec_context.height
    except (av.FFmpegError, IndexError) as error:
        raise UnreadableVideo(f"not a readable video: {error}") from None
    return SourceVideo(data=data, width=width, height=height, duration_seconds=max(1, round(seconds)))


def _source_bytes(url: str) -> bytes:
    if isinstance(url, str) and url.startswith("data:video/") and ";base64," in url:
        try:
            return base64.b64decode(url.split(";base64,", 1)[1], validate=True)
        except ValueError:
            raise UnreadableVideo("the data URL is not valid base64") from None
    if isinstance(url, str) and url.startswith(("https://", "http://")):
        try:
            response = httpx.get(url, timeout=30, follow_redirects=False)
        except httpx.HTTPError as error:
            raise UnreadableVideo(f"could not fetch the video: {error}") from None
        if response.status_code != 200 or len(response.content) > SOURCE_MAX_BYTES:
            raise UnreadableVideo(f"could not fetch the video: HTTP {response.status_code}")
        return response.content
    raise UnreadableVideo("expected an https URL or a data:video/…;base64 URL")


def upscaled_size(width: int, height: int, *, scale: float, max_long_side: int | None = None) -> tuple[int, int]:
    """`scale` times the size, shrunk to fit `max_long_side` (e.g. 4K), in even pixels as H.264 needs."""
    factor = scale
    if max_long_side:
        factor = min(factor, max_long_side / max(width, height))
    return max(2, round(width * factor / 2) * 2), max(2, round(height * factor / 2) * 2)


_outputs: dict[str, Path] = {}
_outputs_lock = threading.Lock()
_outputs_dir: Path | None = None


def upscaled_output(source: SourceVideo, *, scale: float, max_long_side: int | None = None) -> Path:
    """The source re-encoded at its upscaled size, frame for frame; made once per source and size."""
    global _outputs_dir
    size = upscaled_size(source.width, source.height, scale=scale, max_long_side=max_long_side)
    key = f"{hashlib.sha256(source.data).hexdigest()[:32]}-{size[0]}x{size[1]}"
    with _outputs_lock:
        if key not in _outputs:
            _outputs_dir = _outputs_dir or Path(mkdtemp(prefix="emulator-upscales-"))
            path = _outputs_dir / f"{key}.mp4"
            _video_scaled(source.data, path, size)
            _outputs[key] = path
        return _outputs[key]


def _video_scaled(data: bytes, path: Path, size: tuple[int, int]) -> None:
    partial = path.with_name(path.name + ".partial")
    with av.open(io.BytesIO(data)) as source, av.open(str(partial), mode="w", format="mp4") as target:
        rate = source.streams.video[0].average_rate or Fraction(24)
        stream = target.add_stream("libx264", rate=rate, options={"crf": "23", "preset": "ultrafast"})
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        for index, frame in enumerate(source.decode(video=0)):
            scaled = frame.reformat(width=size[0], height=size[1], format="yuv420p", interpolation="BICUBIC")
            scaled.pts, scaled.time_base = index, 1 / rate
            target.mux(stream.encode(scaled))
        target.mux(stream.encode())
    partial.replace(path)
