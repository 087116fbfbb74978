"""Stills from a finished video: the poster (middle frame) and a small thumbnail."""

from pathlib import Path

import av
from PIL import Image

THUMBNAIL_WIDTH = 320


def video_size(path: Path) -> tuple[int, int]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.codec_context.width, stream.codec_context.height


def video_stills(video_path: Path, output_dir: Path) -> tuple[Path, Path]:
    output_dir.mkdir(parents=True, exist_ok=True)
    frame = _middle_frame(video_path)
    poster_path, thumbnail_path = output_dir / "poster.jpg", output_dir / "thumbnail.jpg"
    frame.save(poster_path, format="JPEG", quality=88)
    thumbnail = frame.copy()
    thumbnail.thumbnail((THUMBNAIL_WIDTH, THUMBNAIL_WIDTH * 4))
    thumbnail.save(thumbnail_path, format="JPEG", quality=85)
    return poster_path, thumbnail_path


def _middle_frame(video_path: Path) -> Image.Image:
    with av.open(str(video_path)) as container:
        frames = [frame.to_image() for frame in container.decode(video=0)]
    if not frames:
        raise ValueError("the video has no frames")
    return frames[len(frames) // 2].convert("RGB")


def expected_size_for(aspect_ratio: str, actual: tuple[int, int]) -> tuple[int, int]:
    """The size a video of the requested aspect ratio would have at the actual width.

    Providers choose their own resolutions, so only the shape is checked: when the actual size
    has the requested aspect ratio (within 2%) it is what we expect; otherwise we expect the
    requested shape and the size check fails with both sizes named.
    """
    ratio_w, ratio_h = (int(part) for part in aspect_ratio.split(":"))
    width, height = actual
    if height and abs(width / height - ratio_w / ratio_h) <= 0.02 * ratio_w / ratio_h:
        return actual
    return width, round(width * ratio_h / ratio_w)
