"""Stills from a finished video: the poster (middle frame), a small thumbnail and an animated preview."""

import io
from pathlib import Path

import av
from PIL import Image, ImageOps, features

THUMBNAIL_WIDTH = 320
PREVIEW_MAX_WIDTH = 480
PREVIEW_FRAMES = 12
PREVIEW_FRAME_MS = 125
ORIENTATION_TAG = 0x0112
ROTATED_QUARTER_TURN = frozenset({5, 6, 7, 8})


def video_size(path: Path) -> tuple[int, int]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return stream.codec_context.width, stream.codec_context.height


def video_stills(video_path: Path, output_dir: Path) -> tuple[Path, Path]:
    return _stills_write(_middle_frame(video_path), output_dir)


def media_from_frames(poster: Image.Image | None, preview: list[Image.Image], output_dir: Path) -> dict[str, Path]:
    """Poster, thumbnail and animated preview from frames an evaluation pass already decoded."""
    media = {}
    if poster is not None:
        media["poster"], media["thumbnail"] = _stills_write(poster, output_dir / "stills")
    if preview:
        media["preview"] = _preview_write([_preview_size(image, PREVIEW_MAX_WIDTH) for image in preview],
                                          output_dir / "preview", PREVIEW_FRAME_MS)  # fmt: skip
    return media


def _stills_write(frame: Image.Image, output_dir: Path) -> tuple[Path, Path]:
    output_dir.mkdir(parents=True, exist_ok=True)
    poster_path, thumbnail_path = output_dir / "poster.jpg", output_dir / "thumbnail.jpg"
    frame.save(poster_path, format="JPEG", quality=88)
    thumbnail = frame.copy()
    thumbnail.thumbnail((THUMBNAIL_WIDTH, THUMBNAIL_WIDTH * 4))
    thumbnail.save(thumbnail_path, format="JPEG", quality=85)
    return poster_path, thumbnail_path


def video_first_frame(video) -> Image.Image:
    """The opening frame of a video, given as a path or an open binary file."""
    with av.open(video if hasattr(video, "read") else str(video)) as container:
        for frame in container.decode(video=0):
            return frame.to_image().convert("RGB")
    raise ValueError("the video has no frames")


def _middle_frame(video_path: Path) -> Image.Image:
    """The frame at the middle of the video: a seek to the keyframe before it, then decode up to it.
    Only one picture is ever held (decoding every frame to PIL to pick one took ~1.8 GB at 1080p)."""
    with av.open(str(video_path)) as container:
        stream = container.streams.video[0]
        middle = _middle_time(stream)
        if middle is not None and stream.time_base:
            container.seek(round(middle / stream.time_base), stream=stream, backward=True, any_frame=False)
        picked = None
        for frame in container.decode(stream):
            picked = frame
            if middle is None or frame.time is None or frame.time >= middle:
                break
    if picked is None:
        raise ValueError("the video has no frames")
    return picked.to_image().convert("RGB")


def _middle_time(stream) -> float | None:
    if stream.duration and stream.time_base:
        start = float(stream.start_time * stream.time_base) if stream.start_time else 0.0
        return start + float(stream.duration * stream.time_base) / 2
    return None


def video_preview(video_path: Path, output_dir: Path, *, frames: int = PREVIEW_FRAMES,
                  max_width: int = PREVIEW_MAX_WIDTH, frame_ms: int = PREVIEW_FRAME_MS) -> Path:
    """A short looping animation of evenly sampled frames: WebP, or GIF where Pillow lacks WebP."""
    output_dir.mkdir(parents=True, exist_ok=True)
    images = [_preview_size(image, max_width) for image in _sampled_frames(video_path, frames)]
    return _preview_write(images, output_dir, frame_ms)


def _preview_write(images: list[Image.Image], output_dir: Path, frame_ms: int) -> Path:
    if not images:
        raise ValueError("the video has no frames")
    output_dir.mkdir(parents=True, exist_ok=True)
    if features.check("webp"):
        path = output_dir / "preview.webp"
        images[0].save(path, format="WEBP", save_all=True, append_images=images[1:], duration=frame_ms,
                       loop=0, quality=70, method=2, kmax=0)  # fmt: skip
        # method 4 took twice as long for ~8 % less. kmax=0 makes every frame a key frame: frames of a
        # preview are ~0.4 s apart, so the encoder's search for inter-frame savings cost ~20 % of the
        # CPU time and saved nothing measurable (panning photo: 134.2 kB vs 134.4 kB; still: equal).
    else:
        path = output_dir / "preview.gif"
        images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=frame_ms,
                       loop=0, optimize=True)
    return path


def _sampled_frames(video_path: Path, count: int) -> list[Image.Image]:
    """`count` frames spread over the video; counts packets first so only the picked frames are kept."""
    with av.open(str(video_path)) as container:
        total = sum(1 for packet in container.demux(video=0) if packet.size)
    if not total:
        return []
    count = min(count, total)
    wanted = {round(index * (total - 1) / max(count - 1, 1)) for index in range(count)}
    picked = []
    with av.open(str(video_path)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index in wanted:
                picked.append(frame.to_image().convert("RGB"))
    return picked


def _preview_size(image: Image.Image, max_width: int) -> Image.Image:
    if image.width <= max_width:
        return image
    height = max(1, round(image.height * max_width / image.width))
    return image.resize((max_width, height), Image.Resampling.LANCZOS)


def picture_has_aspect(data: bytes, aspect_ratio: str) -> bool:
    """Is the picture already of this shape (within 1 %)? Reads only its header."""
    ratio_w, ratio_h = (int(part) for part in aspect_ratio.split(":"))
    with Image.open(io.BytesIO(data)) as picture:
        width, height = picture.size
        if picture.getexif().get(ORIENTATION_TAG) in ROTATED_QUARTER_TURN:  # shown turned by 90°
            width, height = height, width
    return abs(width / height - ratio_w / ratio_h) <= 0.01 * ratio_w / ratio_h


def picture_fitted_to(data: bytes, aspect_ratio: str) -> bytes:
    """A picture cropped (centred, never stretched) to an aspect ratio, as a JPEG (vendors cap image
    sizes: Kling at 10 MB, which a large PNG can pass)."""
    ratio_w, ratio_h = (int(part) for part in aspect_ratio.split(":"))
    with Image.open(io.BytesIO(data)) as picture:
        picture = ImageOps.exif_transpose(picture).convert("RGB")
        width = min(picture.width, round(picture.height * ratio_w / ratio_h))
        height = min(picture.height, round(width * ratio_h / ratio_w))
        fitted = ImageOps.fit(picture, (width, height), method=Image.Resampling.LANCZOS)
    buffer = io.BytesIO()
    fitted.save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()


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
