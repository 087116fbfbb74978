"""Sandbox takes that look like the model that made them: defects and quality follow the catalog.

A vendor's cheap model fails more often and looks worse than its premium one; the emulators copy
that, so the gate, regeneration and escalation have real work to do without keys:

* **Defects.** A share of takes comes out frozen, black, cut or noisy. The share falls as the
  model's catalog quality rises (DEFECT_SHARE_PER_POINT for every point below 100, so quality 62
  fails about one take in four, quality 95 one in thirty), times SANDBOX_DEFECT_RATE.
* **Clean takes** look their tier: a low-quality model's are soft, washed out and grainy, with a
  camera that wobbles; a high-quality model's are sharp and clean, with a steady push-in that adds
  motion. The gate's scores (sharpness, contrast, motion smoothness, dynamic degree) follow.

Everything is decided by the request's seed (or, for vendors without one, by the prompt and how
often it was asked before), so the same request gives the same take and tests are stable.
SANDBOX_DEFECT_RATE scales the share of defects: 1 is realistic (`make run`), 2 twice as many, 0
turns this off: every take is the family's one clean clip, as before (the test settings).
"""

import atexit
import json
import os
import random
import shutil
import threading
import zlib
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from tempfile import mkdtemp

import av
import cv2
import numpy as np

CATALOG_FILE = Path(__file__).resolve().parents[1] / "data" / "catalog.json"
DEFECT_RATE_ENV = "SANDBOX_DEFECT_RATE"
DEFECT_KINDS = ("frozen", "black", "cut", "noise")
DEFECT_SHARE_PER_POINT = 0.0066  # share of defective takes per point of catalog quality below 100
UNKNOWN_MODEL_QUALITY = 70  # a model the catalog does not list (a new endpoint, a test's own id)
# Catalog quality mapped onto the look: LOOK_FLOOR and below looks worst, LOOK_CEILING and above best.
LOOK_FLOOR, LOOK_CEILING = 40, 95
MAX_BLUR_SIGMA = 1.6  # pixels of softness at the bottom of the range
MAX_WASHOUT = 0.35  # share of contrast lost at the bottom
MAX_GRAIN = 3.0  # luma levels of grain at the bottom (well under what the noise gate calls noise)
MAX_WOBBLE = 0.25  # pixels a cheap model's camera wanders from frame to frame
MID_GREY = 128.0
MAX_EXPOSURE_LIFT = 0.4  # share of the way to mid-grey a top model's grade brings the picture
MAX_CONTRAST_LIFT = 0.3  # and the extra contrast it gives
MAX_PUSH_IN = 0.3  # extra zoom over the shot at the top: a deliberate, steady camera move


class DefectRateInvalid(ValueError):
    pass


def defect_rate_scale_from_env() -> float:
    """SANDBOX_DEFECT_RATE as a number (1 when unset); a clear error for anything else."""
    raw = os.environ.get(DEFECT_RATE_ENV, "").strip() or "1"
    try:
        scale = float(raw)
    except ValueError:
        raise DefectRateInvalid(f"{DEFECT_RATE_ENV} must be a number such as 0, 1 or 2, not {raw!r}.") from None
    if not 0 <= scale <= 100:
        raise DefectRateInvalid(f"{DEFECT_RATE_ENV} must be between 0 and 100, not {raw!r}.")
    return scale


@dataclass(frozen=True)
class TakeLook:
    """What the emulated model makes of one request: its quality, and the defect it suffers (if any)."""

    quality: int  # the model's catalog quality score
    seed: int
    defect: str | None = None  # one of DEFECT_KINDS

    @property
    def tier_share(self) -> float:
        """0 for the worst-looking models, 1 for the best."""
        return min(1.0, max(0.0, (self.quality - LOOK_FLOOR) / (LOOK_CEILING - LOOK_FLOOR)))


def defect_share(quality: int, scale: float) -> float:
    return min(1.0, max(0.0, scale * DEFECT_SHARE_PER_POINT * (100 - quality)))


def take_look_plan(*, quality: int, seed: int, scale: float) -> TakeLook:
    rng = random.Random(seed)
    defective = rng.random() < defect_share(quality, scale)
    return TakeLook(quality=quality, seed=seed, defect=rng.choice(DEFECT_KINDS) if defective else None)


# -- which model, which seed ---------------------------------------------------------------------

_qualities: dict[tuple[str, str], int] | None = None


def model_quality(family: str, model: str) -> int:
    """The catalog's quality score of the family's model id (an image-to-video endpoint counts as its
    text-to-video sibling); where one API model has several catalog rows, the best of them. Read from
    the versioned catalog file: emulators run outside Django and never see ops' edits in the admin."""
    global _qualities
    if _qualities is None:
        qualities: dict[tuple[str, str], int] = {}
        for entry in json.loads(CATALOG_FILE.read_text())["models"]:
            key = (entry["api_family"], _model_key(entry["model_id"]))
            qualities[key] = max(qualities.get(key, 0), entry["quality_score"])
        _qualities = qualities
    key = _model_key(model)
    known = [(len(listed), quality) for (listed_family, listed), quality in _qualities.items()
             if listed_family == family and (key == listed or key.startswith(listed + "/"))]
    return max(known)[1] if known else UNKNOWN_MODEL_QUALITY


def _model_key(model: str) -> str:
    key = model.strip("/").replace("image-to-video", "text-to-video")
    return key.removesuffix("/text-to-video") if key.count("/") > 1 else key


def request_seed(*, seed, model: str, prompt: str, asked_before: int) -> int:
    """The request's own seed; for a vendor that takes none, one from the prompt and how many times it
    was asked before (asking again gives another take, as at the vendor)."""
    if isinstance(seed, int) and not isinstance(seed, bool):
        return seed
    return zlib.crc32(f"{model}\n{prompt}\n{asked_before}".encode())


# -- the video -----------------------------------------------------------------------------------

_outputs: dict[tuple[str, TakeLook], Path] = {}
_outputs_lock = threading.Lock()
_outputs_dir: Path | None = None


def look_output(base: Path, look: TakeLook) -> Path:
    """`base` (the family's clean clip) as this model and seed would have made it; made once per look."""
    global _outputs_dir
    key = (str(base), look)
    with _outputs_lock:
        if key not in _outputs:
            if _outputs_dir is None:
                _outputs_dir = Path(mkdtemp(prefix="emulator-looks-"))
                atexit.register(shutil.rmtree, _outputs_dir, ignore_errors=True)
            path = _outputs_dir / f"{zlib.crc32(repr(key).encode()):08x}-{len(_outputs)}.mp4"
            look_render(base, look, path)
            _outputs[key] = path
        return _outputs[key]


def look_render(base: Path, look: TakeLook, path: Path) -> Path:
    with av.open(str(base)) as source:
        stream = source.streams.video[0]
        rate = stream.average_rate or Fraction(24)
        frames = [frame.to_ndarray(format="rgb24") for frame in source.decode(video=0)]
    rng = np.random.default_rng(look.seed)
    frames = [_tier_look(frame, look.tier_share, index / max(1, len(frames) - 1), rng) for index, frame in enumerate(frames)]
    if look.defect:
        frames = DEFECT_INJECTORS[look.defect](frames, float(rate), random.Random(look.seed ^ 0x5EED))
    _frames_write(frames, path, rate)
    return path


def _tier_look(frame: np.ndarray, share: float, progress: float, rng: np.random.Generator) -> np.ndarray:
    """The frame at `progress` (0-1) through the shot, as a model of this tier share renders it."""
    height, width = frame.shape[:2]
    lack = 1 - share
    zoom = 1 + MAX_PUSH_IN * share * progress
    dx, dy = rng.normal(0, MAX_WOBBLE * lack, 2) if lack else (0.0, 0.0)
    matrix = np.array([[zoom, 0, (1 - zoom) * width / 2 + dx], [0, zoom, (1 - zoom) * height / 2 + dy]], np.float32)
    picture = cv2.warpAffine(frame, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    if lack:
        picture = cv2.GaussianBlur(picture, (0, 0), MAX_BLUR_SIGMA * lack)
    picture = picture.astype(np.float32)
    mean = picture.mean(axis=(0, 1), keepdims=True)
    graded = mean + (MID_GREY - mean) * MAX_EXPOSURE_LIFT * share
    picture = graded + (picture - mean) * (1 - MAX_WASHOUT * lack + MAX_CONTRAST_LIFT * share)
    if lack:
        picture += rng.normal(0, MAX_GRAIN * lack, (height, width, 1)).astype(np.float32)
    return np.clip(picture, 0, 255).astype(np.uint8)


def _span(count: int, rate: float, rng: random.Random, seconds: tuple[float, float]) -> tuple[int, int]:
    """A stretch of frames lasting `seconds` (low, high), clear of the clip's first and last eighth."""
    length = min(max(2, round(rng.uniform(*seconds) * rate)), count // 2)
    first = rng.randrange(count // 8, max(count // 8 + 1, count - count // 8 - length))
    return first, first + length


def _frozen(frames: list[np.ndarray], rate: float, rng: random.Random) -> list[np.ndarray]:
    first, end = _span(len(frames), rate, rng, (0.7, 1.2))
    return frames[:first] + [frames[first]] * (end - first) + frames[end:]


def _black(frames: list[np.ndarray], rate: float, rng: random.Random) -> list[np.ndarray]:
    first, end = _span(len(frames), rate, rng, (0.4, 0.8))
    return frames[:first] + [np.zeros_like(frames[0])] * (end - first) + frames[end:]


def _cut(frames: list[np.ndarray], rate: float, rng: random.Random) -> list[np.ndarray]:
    """An unasked-for cut to another picture: the rest of the clip turned over and re-coloured."""
    first, _ = _span(len(frames), rate, rng, (0.0, 0.0))
    return frames[:first] + [np.ascontiguousarray(frame[::-1, ::-1, ::-1]) for frame in frames[first:]]


def _noise(frames: list[np.ndarray], rate: float, rng: random.Random) -> list[np.ndarray]:
    first, end = _span(len(frames), rate, rng, (0.25, 0.5))
    noise = np.random.default_rng(rng.randrange(2**32))
    garbage = [noise.integers(0, 256, frames[0].shape, dtype=np.uint8) for _ in range(end - first)]
    return frames[:first] + garbage + frames[end:]


DEFECT_INJECTORS = {"frozen": _frozen, "black": _black, "cut": _cut, "noise": _noise}


def _frames_write(frames: list[np.ndarray], path: Path, rate: Fraction) -> None:
    partial = path.with_name(path.name + ".partial")
    with av.open(str(partial), mode="w", format="mp4", options={"movflags": "+faststart"}) as target:
        # One encoder thread, as the animatic: the same look must encode to the same frames every time.
        stream = target.add_stream("libx264", rate=rate, options={"crf": "23", "preset": "veryfast", "threads": "1"})
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for index, picture in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = index, 1 / rate
            target.mux(stream.encode(frame))
        target.mux(stream.encode())
    partial.replace(path)
