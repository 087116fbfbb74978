"""Shotcraft's free, keyless provider: an animatic made from one still and a camera move.

A creator gets a take in seconds without spending credits. The first reference image (or a
title card designed from the prompt) is moved by the shot's camera direction and encoded like
any paid take: an H.264 MP4 with a poster and a thumbnail.
"""

import colorsys
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import NamedTuple

import av
import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

from providers.base import BadRequest, ProgressCallback, RenderedVideo, RenderRequest

# Even sizes because H.264 with 4:2:0 chroma cannot encode odd ones.
FRAME_SIZES = {"16:9": (854, 480), "9:16": (480, 854), "1:1": (480, 480), "4:3": (640, 480)}
MIN_DURATION_SECONDS = 1
MAX_DURATION_SECONDS = 20
THUMBNAIL_WIDTH = 320
POSTER_QUALITY = 88
PROGRESS_STEP = 5
RESAMPLE = Image.Resampling.BILINEAR

# The source picture is larger than the frame so that moves never reveal its edge.
HEADROOM = 1.3
REST = 1 / HEADROOM  # viewport width that shows the source at one source pixel per frame pixel
TRAVEL = (1 - REST) / 2 * 0.9  # how far a pan or tilt moves the centre, short of the edge
ORBIT_DRIFT = 0.06


@dataclass(frozen=True)
class Viewport:
    """The part of the source a frame shows: centre and width as fractions of the source.

    The height fraction equals the width fraction because source and frame share an aspect.
    """

    cx: float
    cy: float
    width: float

    def box(self, source_size: tuple[int, int]) -> tuple[float, float, float, float]:
        w, h = source_size
        half = self.width / 2
        return ((self.cx - half) * w, (self.cy - half) * h, (self.cx + half) * w, (self.cy + half) * h)


Move = tuple[Viewport, Viewport]

# "pan_right" turns the camera right, so the scene slides left across the frame; tilts alike.
CAMERA_MOVES: dict[str, Move] = {
    "static": (Viewport(0.5, 0.5, REST), Viewport(0.5, 0.5, REST / 1.035)),
    "dolly_in": (Viewport(0.5, 0.5, 0.96), Viewport(0.5, 0.5, 0.96 / 1.2)),
    "dolly_out": (Viewport(0.5, 0.5, 0.96 / 1.2), Viewport(0.5, 0.5, 0.96)),
    "pan_left": (Viewport(0.5 + TRAVEL, 0.5, REST), Viewport(0.5 - TRAVEL, 0.5, REST)),
    "pan_right": (Viewport(0.5 - TRAVEL, 0.5, REST), Viewport(0.5 + TRAVEL, 0.5, REST)),
    "tilt_up": (Viewport(0.5, 0.5 + TRAVEL, REST), Viewport(0.5, 0.5 - TRAVEL, REST)),
    "tilt_down": (Viewport(0.5, 0.5 - TRAVEL, REST), Viewport(0.5, 0.5 + TRAVEL, REST)),
    # The orbit's background layer; its foreground drifts the other way (ORBIT_FOREGROUND).
    "orbit": (Viewport(0.5 - ORBIT_DRIFT, 0.5, 0.85), Viewport(0.5 + ORBIT_DRIFT, 0.5, 0.85)),
}
ORBIT_FOREGROUND: Move = (
    Viewport(0.5 + ORBIT_DRIFT, 0.5, REST),
    Viewport(0.5 - ORBIT_DRIFT, 0.5, REST / 1.06),
)
# A held shot of a flat picture would barely change, and would read as a frozen take; the light
# settles a little over the shot, as real light does, so the frame stays alive.
LIGHT_SETTLE = {"static": 0.05}


@dataclass(frozen=True)
class Layer:
    image: Image.Image  # RGB
    move: Move
    # Where this layer covers the ones below; None for the backmost. Soft masks and blurred
    # layers are kept at reduced resolution because resizing them dominates the frame time.
    mask: Image.Image | None = None


def animatic_frame_size(aspect_ratio: str) -> tuple[int, int]:
    try:
        return FRAME_SIZES[aspect_ratio]
    except KeyError:
        raise BadRequest(f"The animatic cannot render the aspect ratio {aspect_ratio!r}.") from None


def render_animatic(
    request: RenderRequest, *, output_dir: Path, fps: int = 24, on_progress: ProgressCallback | None = None
) -> RenderedVideo:
    size = animatic_frame_size(request.aspect_ratio)
    _request_check(request)
    if fps < 1:
        raise ValueError(f"fps must be positive, not {fps}")
    frame_count = round(request.duration_seconds * fps)
    last = max(frame_count - 1, 1)
    layers = _layers_for(request.camera, _source_picture(request, size))
    output_dir.mkdir(parents=True, exist_ok=True)
    video_path = output_dir / "take.mp4"
    settle = LIGHT_SETTLE.get(request.camera, 0.0)
    frames = (_frame_at(layers, size, index / last, light_settle=settle) for index in range(frame_count))
    frames_done = _progress_reporter(on_progress, frame_count)
    _video_write(frames, video_path, size=size, fps=fps, on_frame=frames_done)
    poster = _frame_at(layers, size, (frame_count // 2) / last, light_settle=settle)
    poster_path, thumbnail_path = _stills_save(poster, output_dir)
    if on_progress:
        on_progress(100)
    return RenderedVideo(video_path, poster_path, thumbnail_path, size[0], size[1], fps, frame_count)


def _request_check(request: RenderRequest) -> None:
    if not MIN_DURATION_SECONDS <= request.duration_seconds <= MAX_DURATION_SECONDS:
        raise BadRequest(
            f"An animatic runs {MIN_DURATION_SECONDS} to {MAX_DURATION_SECONDS} seconds, "
            f"not {request.duration_seconds}."
        )
    if request.camera not in CAMERA_MOVES:
        raise BadRequest(f"The animatic does not know the camera move {request.camera!r}.")


# --- Source picture -------------------------------------------------------------------------


def _source_picture(request: RenderRequest, frame_size: tuple[int, int]) -> Image.Image:
    source_size = (round(frame_size[0] * HEADROOM), round(frame_size[1] * HEADROOM))
    if request.reference_images:
        return _reference_picture(request.reference_images[0], source_size)
    return _title_card(request, source_size)


def _reference_picture(path: Path, size: tuple[int, int]) -> Image.Image:
    try:
        with Image.open(path) as image:
            # A JPEG far larger than needed decodes faster at reduced scale; square in case EXIF rotates it.
            image.draft("RGB", (max(size), max(size)))
            picture = ImageOps.exif_transpose(image).convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        message = f"The reference image {Path(path).name} could not be opened as a picture."
        raise BadRequest(message) from error
    return ImageOps.fit(picture, size, method=Image.Resampling.LANCZOS)


def _title_card(request: RenderRequest, size: tuple[int, int]) -> Image.Image:
    rng = random.Random(request.seed)
    hue = rng.random()
    card = _gradient(size, _hsv(hue, 0.55, 0.30), _hsv(hue + rng.uniform(0.06, 0.16), 0.65, 0.10))
    card = Image.alpha_composite(card.convert("RGBA"), _bokeh(size, rng, hue)).convert("RGB")
    card = _mottle(card, request.seed)
    _lettering_draw(card, request, accent=_hsv(hue + 0.5, 0.45, 0.90))
    return card


def _hsv(hue: float, saturation: float, value: float) -> tuple[int, int, int]:
    red, green, blue = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return round(red * 255), round(green * 255), round(blue * 255)


def _gradient(size: tuple[int, int], top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    w, h = size
    # Mostly vertical with a diagonal lean, darkened towards the corners like a lens vignette.
    x, y = np.meshgrid(np.linspace(-1, 1, w), np.linspace(0, 1, h))
    mix = np.clip(0.75 * y + 0.25 * (x + 1) / 2, 0, 1)[..., None]
    colour = (1 - mix) * np.array(top) + mix * np.array(bottom)
    vignette = 1 - 0.35 * (x**2 + (2 * y - 1) ** 2)[..., None] / 2
    return Image.fromarray(np.clip(colour * vignette, 0, 255).astype(np.uint8), "RGB")


def _bokeh(size: tuple[int, int], rng: random.Random, hue: float) -> Image.Image:
    """Soft out-of-focus discs and a few light streaks, so the card has depth and moves visibly."""
    w, h = size
    overlay = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    for _ in range(rng.randint(12, 18)):
        radius = rng.uniform(0.02, 0.12) * min(w, h)
        cx, cy = rng.uniform(0, w), rng.uniform(0, h)
        fill = (*_hsv(hue + rng.uniform(-0.08, 0.08), 0.35, 1.0), rng.randint(14, 40))
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=fill)
    for _ in range(rng.randint(3, 5)):
        x0 = rng.uniform(-0.2, 1.0) * w
        streak = (255, 255, 255, rng.randint(10, 22))
        draw.line((x0, h, x0 + 0.6 * h, 0), fill=streak, width=rng.randint(1, 3))
    return overlay.filter(ImageFilter.GaussianBlur(min(w, h) / 150))


def _mottle(card: Image.Image, seed: int) -> Image.Image:
    """Low-frequency grain: keeps large dark areas from looking flat without fighting the encoder."""
    w, h = card.size
    noise = np.random.default_rng(abs(seed)).normal(0, 4, (h // 8 + 1, w // 8 + 1)).astype(np.float32)
    soft = np.asarray(Image.fromarray(noise, "F").resize((w, h), Image.Resampling.BICUBIC))
    return Image.fromarray(np.clip(np.asarray(card, np.float32) + soft[..., None], 0, 255).astype(np.uint8))


class TextLine(NamedTuple):
    text: str
    font: ImageFont.FreeTypeFont
    colour: tuple[int, int, int]
    leading: float  # line advance as a multiple of the font size


def _lettering_draw(card: Image.Image, request: RenderRequest, *, accent: tuple[int, int, int]) -> None:
    w, h = card.size
    unit = min(w, h) / HEADROOM  # the frame's short side, in source pixels
    # Text stays inside what every move shows: the rest view minus the pan/tilt travel.
    safe_width, safe_height = w * (REST - 2 * TRAVEL) * 0.92, h * (REST - 2 * TRAVEL) * 0.8
    label = TextLine("ANIMATIC", _font(unit * 0.03), accent, 1.8)
    title = _text_lines(request.title, _font(unit * 0.085), (244, 240, 232), 1.2, width=safe_width, limit=2)
    body_font = _font(unit * 0.042)
    body_limit = max(1, int(safe_height / (body_font.size * 1.35)) - 2 * len(title) - 2)
    body = _text_lines(request.prompt, body_font, (200, 200, 206), 1.35, width=safe_width, limit=body_limit)
    _lines_draw(ImageDraw.Draw(card), [label, *title], body, centre=(w / 2, h / 2), accent=accent)


def _font(size: float) -> ImageFont.FreeTypeFont:
    # Pillow's bundled scalable font: nothing to install or fetch.
    return ImageFont.load_default(size=round(size))


def _text_lines(text: str, font, colour, leading: float, *, width: float, limit: int) -> list[TextLine]:
    wrapped = _lines_clip(_lines_wrap(text, font, width), limit)
    return [TextLine(line, font, colour, leading) for line in wrapped]


def _lines_draw(
    draw: ImageDraw.ImageDraw, headline: list[TextLine], body: list[TextLine], *, centre, accent
) -> None:
    """Centre the lines as one block; a short accent rule separates the headline from the prompt."""
    rule_gap = headline[0].font.size * 1.2
    y = centre[1] - (sum(line.font.size * line.leading for line in headline + body) + rule_gap) / 2
    for line in headline:
        draw.text((centre[0], y), line.text, font=line.font, fill=line.colour, anchor="ma")
        y += line.font.size * line.leading
    rule_y = y + rule_gap / 3
    draw.line((centre[0] - rule_gap * 1.2, rule_y, centre[0] + rule_gap * 1.2, rule_y), fill=accent, width=2)
    y += rule_gap
    for line in body:
        draw.text((centre[0], y), line.text, font=line.font, fill=line.colour, anchor="ma")
        y += line.font.size * line.leading


def _lines_wrap(text: str, font: ImageFont.FreeTypeFont, max_width: float) -> list[str]:
    lines: list[str] = []
    for word in text.split():
        candidate = f"{lines[-1]} {word}" if lines else word
        if lines and font.getlength(candidate) <= max_width:
            lines[-1] = candidate
        else:
            lines.extend(_word_split(word, font, max_width))
    return lines


def _word_split(word: str, font: ImageFont.FreeTypeFont, max_width: float) -> list[str]:
    """A word wider than the line (a URL, say) is cut into pieces rather than run off the card."""
    pieces = [""]
    for char in word:
        if pieces[-1] and font.getlength(pieces[-1] + char) > max_width:
            pieces.append("")
        pieces[-1] += char
    return pieces


def _lines_clip(lines: list[str], limit: int) -> list[str]:
    if len(lines) <= limit:
        return lines
    return [*lines[: limit - 1], lines[limit - 1].rstrip(".,;: ") + "…"]


# --- Camera --------------------------------------------------------------------------------


def _layers_for(camera: str, source: Image.Image) -> list[Layer]:
    if camera != "orbit":
        return [Layer(source, CAMERA_MOVES[camera])]
    # Parallax: a soft, dimmed background slides one way, the sharp centre the other way.
    half_size = (source.width // 2, source.height // 2)
    background = source.resize(half_size, Image.Resampling.BOX)
    background = background.filter(ImageFilter.GaussianBlur(min(half_size) / 45))
    background = background.point(lambda value: int(value * 0.8))
    foreground = Layer(source, ORBIT_FOREGROUND, mask=_centre_mask(half_size))
    return [Layer(background, CAMERA_MOVES["orbit"]), foreground]


def _centre_mask(size: tuple[int, int]) -> Image.Image:
    w, h = size
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).ellipse((w * 0.26, h * 0.24, w * 0.74, h * 0.76), fill=255)
    return mask.filter(ImageFilter.GaussianBlur(min(w, h) * 0.04))


def _frame_at(
    layers: list[Layer], size: tuple[int, int], t: float, *, light_settle: float = 0.0
) -> Image.Image:
    """The frame `t` (0 to 1) of the way through the shot."""
    progress = _ease_in_out(t)
    backmost, *upper = layers
    frame = _layer_view(backmost.image, backmost.move, size, progress)
    for layer in upper:
        picture = _layer_view(layer.image, layer.move, size, progress)
        frame.paste(picture, (0, 0), _layer_view(layer.mask, layer.move, size, progress))
    if light_settle:
        gain = 1 - light_settle * progress
        frame = frame.point(lambda value: round(value * gain))
    return frame


def _layer_view(image: Image.Image, move: Move, size: tuple[int, int], progress: float) -> Image.Image:
    return image.resize(size, RESAMPLE, box=_viewport_at(move, progress).box(image.size))


def _ease_in_out(t: float) -> float:
    return 0.5 - 0.5 * math.cos(math.pi * min(max(t, 0.0), 1.0))


def _viewport_at(move: Move, progress: float) -> Viewport:
    start, end = move
    # Zoom is interpolated geometrically so a push feels even rather than slowing as it goes.
    width = start.width * (end.width / start.width) ** progress
    cx = start.cx + (end.cx - start.cx) * progress
    cy = start.cy + (end.cy - start.cy) * progress
    return Viewport(cx, cy, width)


# --- Output --------------------------------------------------------------------------------


def _progress_reporter(on_progress: ProgressCallback | None, frame_count: int) -> Callable[[int], None]:
    """Reports every PROGRESS_STEP percent of encoded frames; 100 waits until the files exist."""
    last_reported = 0

    def frames_done(done: int) -> None:
        nonlocal last_reported
        percent = done * 100 // frame_count
        if on_progress and percent - last_reported >= PROGRESS_STEP and percent < 100:
            last_reported = percent
            on_progress(percent)

    return frames_done


def _video_write(
    frames: Iterator[Image.Image],
    path: Path,
    *,
    size: tuple[int, int],
    fps: int,
    on_frame: Callable[[int], None],
) -> None:
    # Written aside and renamed, so a failed render never leaves a half file under the take's name.
    partial = path.with_name(path.name + ".partial")
    try:
        with av.open(str(partial), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            # One encoder thread: x264's threaded rate control makes the same frames encode to
            # different pictures from run to run, and a take's reuse relies on same request, same frames.
            options = {"crf": "23", "preset": "veryfast", "threads": "1"}
            stream = container.add_stream("libx264", rate=fps, options=options)
            stream.width, stream.height = size
            stream.pix_fmt = "yuv420p"
            stream.codec_context.time_base = Fraction(1, fps)
            for index, image in enumerate(frames):
                frame = av.VideoFrame.from_image(image)
                frame.pts, frame.time_base = index, Fraction(1, fps)
                container.mux(stream.encode(frame))
                on_frame(index + 1)
            container.mux(stream.encode())
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def _stills_save(poster: Image.Image, output_dir: Path) -> tuple[Path, Path]:
    poster_path = output_dir / "poster.jpg"
    thumbnail_path = output_dir / "thumbnail.jpg"
    poster.save(poster_path, "JPEG", quality=POSTER_QUALITY)
    height = round(poster.height * THUMBNAIL_WIDTH / poster.width)
    thumbnail = poster.resize((THUMBNAIL_WIDTH, height), Image.Resampling.LANCZOS, reducing_gap=2.0)
    thumbnail.save(thumbnail_path, "JPEG", quality=POSTER_QUALITY)
    return poster_path, thumbnail_path
