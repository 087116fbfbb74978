"""A labelled video corpus generated at test time: clean clips and the same with one defect injected.

Sources are rendered with numpy/OpenCV/Pillow and encoded with PyAV (H.264, like the vendors):
  photo_pan    real photographs shipped with scikit-image (astronaut: NASA, public domain; coffee:
               CC0, Rachel Michetti; chelsea: CC0, Stefan van der Walt; grass: CC0Textures, CC0)
               under a camera that pans, zooms and shakes like a hand-held one
  whip_pan     a fast camera move over a photograph (fast motion must not read as cuts)
  animation    flat-colour cartoon shapes moving over a painted gradient
  edit         two photographed shots joined by a real cut (evaluated with one cut allowed)
  fade         two shots joined by a fade through black (a deliberate fade, not a defect)
Every source is a function of camera time, so dropped time is rendered by skipping time.
Defects are injected at random positions and strengths from a seeded generator.
"""

import random
from dataclasses import dataclass, field
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

import av
import cv2
import numpy as np
from PIL import Image, ImageDraw

FPS = 24
WIDTH, HEIGHT = 320, 180
SECONDS = 2.0
PHOTOS = ("astronaut", "coffee", "chelsea", "grass")


@lru_cache(maxsize=8)
def photo(name: str) -> np.ndarray:
    from skimage import data

    picture = getattr(data, name)()
    if picture.ndim == 2:
        picture = np.stack([picture] * 3, axis=-1)
    return np.ascontiguousarray(picture[:, :, :3])


@dataclass
class Camera:
    """A hand-held camera over a picture: smooth pan, slow zoom, small smooth shake."""

    picture: np.ndarray
    pan: tuple[float, float]  # picture widths/heights per second
    zoom: float  # relative zoom per second
    shake: float  # pixels of shake
    seed: int = 0
    phases: np.ndarray = field(default=None)

    def __post_init__(self):
        self.phases = np.random.default_rng(self.seed).uniform(0, 2 * np.pi, 4)

    def at(self, time: float) -> np.ndarray:
        height, width = self.picture.shape[:2]
        scale = 0.55 * (1 + self.zoom * time)
        crop_w, crop_h = width * scale, width * scale * HEIGHT / WIDTH
        crop_h = min(crop_h, height * 0.95)
        crop_w = crop_h * WIDTH / HEIGHT
        cx = width / 2 + (self.pan[0] * time - 0.15) * width * 0.5
        cy = height / 2 + (self.pan[1] * time - 0.05) * height * 0.5
        cx += self.shake * (np.sin(7.1 * time + self.phases[0]) + 0.5 * np.sin(13.3 * time + self.phases[1]))
        cy += self.shake * (np.sin(5.3 * time + self.phases[2]) + 0.5 * np.sin(11.9 * time + self.phases[3]))
        sx, sy = WIDTH / crop_w, HEIGHT / crop_h
        matrix = np.array([[sx, 0, WIDTH / 2 - sx * cx], [0, sy, HEIGHT / 2 - sy * cy]], np.float32)
        return cv2.warpAffine(self.picture, matrix, (WIDTH, HEIGHT), flags=cv2.INTER_AREA,
                              borderMode=cv2.BORDER_REFLECT_101)  # fmt: skip: the mirrored picture runs on


def animation_at(time: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:HEIGHT, 0:WIDTH]
    top, bottom = rng.integers(60, 230, 3), rng.integers(20, 200, 3)
    ramp = (y / HEIGHT)[..., None]
    picture = Image.fromarray((top * (1 - ramp) + bottom * ramp + 0 * x[..., None]).astype(np.uint8))
    draw = ImageDraw.Draw(picture)
    for shape in range(4):
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        x0, y0, speed_x, _speed_y, size = rng.uniform(0, WIDTH), rng.uniform(20, HEIGHT - 20), *rng.uniform(-90, 90, 2), rng.uniform(18, 40)
        cx = (x0 + speed_x * time) % (WIDTH + 2 * size) - size
        cy = y0 + 15 * np.sin(3 * time + shape)
        box = (cx - size, cy - size * 0.8, cx + size, cy + size * 0.8)
        (draw.ellipse if shape % 2 else draw.rounded_rectangle)(box, fill=colour, outline=(20, 20, 20), width=3)
        draw.ellipse((cx - 4, cy - 6, cx + 2, cy), fill=(255, 255, 255))  # an eye
    return np.asarray(picture)


def source(kind: str, seed: int):
    """A function of camera time (seconds) giving an RGB frame."""
    rng = random.Random(seed)
    if kind == "animation":
        return lambda time: animation_at(time, seed)
    if kind == "whip_pan":
        camera = Camera(photo(rng.choice(PHOTOS)), (rng.choice([-1, 1]) * rng.uniform(0.5, 0.7), 0.0), 0.0, 1.0, seed)
        return camera.at
    if kind in ("edit", "fade"):
        first, second = rng.sample(PHOTOS, 2)
        one = Camera(photo(first), (0.12, 0.03), 0.05, 2.0, seed)
        two = Camera(photo(second), (-0.1, 0.02), -0.04, 2.0, seed + 1)
        split = rng.uniform(0.9, 1.6)
        if kind == "edit":
            return lambda time: one.at(time) if time < split else two.at(time)
        hold = rng.uniform(0.0, 0.3)
        return lambda time: _fade_through_black(one, two, split, hold, time)
    pan = (rng.uniform(0.08, 0.25) * rng.choice([-1, 1]), rng.uniform(-0.06, 0.06))
    return Camera(photo(rng.choice(PHOTOS)), pan, rng.uniform(-0.08, 0.08), rng.uniform(0.5, 3.0), seed).at


def _fade_through_black(one: Camera, two: Camera, split: float, hold: float, time: float) -> np.ndarray:
    half = 0.4
    if time < split - half:
        return one.at(time)
    if time > split + hold + half:
        return two.at(time)
    if split <= time <= split + hold:
        return np.zeros((HEIGHT, WIDTH, 3), np.uint8)
    gain = (split - time) / half if time < split else (time - split - hold) / half
    frame = one.at(time) if time < split else two.at(time)
    return (frame * gain).astype(np.uint8)


CLEAN_KINDS = ("photo_pan", "whip_pan", "animation", "edit", "fade")
ALLOWED_CUTS = {"edit": 1}
DEFECT_FAMILIES = ("black", "frozen", "flicker", "jump_cut", "dropped_time", "noise", "truncated", "duration",
                   "aspect")  # fmt: skip
EXPECTED_KIND = {"black": "black", "frozen": "frozen", "flicker": "flicker", "jump_cut": "cut",
                 "dropped_time": "dropped_time", "noise": "noise", "truncated": "truncated", "duration": "duration",
                 "aspect": "size"}  # fmt: skip


@dataclass
class Clip:
    path: Path
    family: str  # "clean" or a defect family
    source: str
    expected_kind: str | None
    start: float | None = None  # where the defect was injected
    end: float | None = None
    allowed_cuts: int = 0


def clip_write(path: Path, frames: list[np.ndarray], times: list[float] | None = None) -> Path:
    with av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
        stream = container.add_stream("libx264", rate=FPS, options={"crf": "23", "preset": "veryfast"})
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, FPS)
        for index, picture in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(picture), format="rgb24")
            frame.pts = round((times[index] if times else index / FPS) * FPS)
            frame.time_base = Fraction(1, FPS)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def clean_clip(folder: Path, kind: str, seed: int) -> Clip:
    render = source(kind, seed)
    frames = [render(index / FPS) for index in range(round(SECONDS * FPS))]
    path = clip_write(folder / f"clean-{kind}-{seed}.mp4", frames)
    return Clip(path, "clean", kind, None, allowed_cuts=ALLOWED_CUTS.get(kind, 0))


def defective_clip(folder: Path, family: str, kind: str, seed: int) -> Clip:
    rng = random.Random(seed * 7919 + len(family))
    render = source(kind, seed)
    count = round(SECONDS * FPS)
    frames = [render(index / FPS) for index in range(count)]
    start = end = None
    times = None
    if family == "black":
        length = round(rng.uniform(0.3, 0.9) * FPS)
        first = rng.randrange(0, count - length + 1)
        frames[first : first + length] = [np.zeros_like(frames[0])] * length
        start, end = first / FPS, (first + length) / FPS
    elif family == "frozen":
        length = round(rng.uniform(0.55, 1.1) * FPS)
        first = rng.randrange(0, count - length + 1)  # anywhere, including the very end
        frames[first : first + length] = [frames[first]] * length
        start, end = first / FPS, (first + length) / FPS
    elif family == "flicker":
        length = round(rng.uniform(0.4, 1.0) * FPS)
        first = rng.randrange(1, count - length)
        strength = rng.uniform(0.12, 0.3)
        for offset in range(length):
            gain = 1 + strength * (1 if offset % 2 else -1)
            frames[first + offset] = np.clip(frames[first + offset] * gain, 0, 255).astype(np.uint8)
        start, end = first / FPS, (first + length) / FPS
    elif family == "jump_cut":
        other = source("photo_pan" if kind == "animation" else "animation", seed + 101)  # unrelated content
        first = rng.randrange(round(0.3 * FPS), count - round(0.3 * FPS))
        frames[first:] = [other(index / FPS) for index in range(first, count)]
        start = end = first / FPS
    elif family == "dropped_time":
        first = rng.randrange(round(0.3 * FPS), count - round(0.3 * FPS))
        skipped = rng.uniform(0.4, 1.0)
        if rng.random() < 0.5:  # the frames are gone, the time stamps run on: motion jumps ahead
            frames[first:] = [render(index / FPS + skipped) for index in range(first, count)]
        else:  # the frames are gone and so is their time: a time stamp gap
            times = [index / FPS if index < first else index / FPS + round(skipped * FPS) / FPS for index in range(count)]
            frames[first:] = [render(time) for time in times[first:]]
        start = end = first / FPS
    elif family == "noise":
        length = round(rng.uniform(0.2, 0.6) * FPS)
        first = rng.randrange(0, count - length + 1)
        sigma = rng.uniform(25, 60)
        noise_rng = np.random.default_rng(seed)
        for offset in range(length):
            noisy = frames[first + offset] + noise_rng.normal(0, sigma, frames[0].shape)
            frames[first + offset] = np.clip(noisy, 0, 255).astype(np.uint8)
        start, end = first / FPS, (first + length) / FPS
    elif family == "duration":
        factor = rng.choice([rng.uniform(0.5, 0.8), rng.uniform(1.25, 1.6)])
        frames = [render(index / FPS) for index in range(round(SECONDS * factor * FPS))]
    elif family == "aspect":
        frames = [cv2.resize(frame, (HEIGHT, WIDTH), interpolation=cv2.INTER_AREA) for frame in frames]
    path = clip_write(folder / f"{family}-{kind}-{seed}.mp4", frames, times)
    if family == "truncated":
        data = path.read_bytes()
        keep = rng.uniform(0.35, 0.9)
        path.write_bytes(data[: round(len(data) * keep)])
    clip = Clip(path, family, kind, EXPECTED_KIND[family], start, end, ALLOWED_CUTS.get(kind, 0))
    return clip
