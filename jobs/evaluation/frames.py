"""One decoding pass that gathers everything the quality gate and the take's media look at.

Every frame is scaled once to an analysis size (360 px short side, grayscale) and reduced to a
handful of numbers (`FrameSignals`): its time stamp, brightness, contrast, change from the frame
before (raw, brightness-normalised and after compensating the global camera shift), the shift
itself, histogram change and a noise estimate. Those arrays are all the temporal analysis needs.
A few anchor points keep three consecutive RGB frames at analysis size (still-image metrics, safety,
CLIP, optical flow). When asked, the same pass keeps the preview frames and the poster frame, so the
stills and the animated preview cost no decode of their own. Memory stays bounded: only a fixed
number of pictures are ever held, whatever the clip's length.
"""

from dataclasses import dataclass, field
from pathlib import Path

import av
import cv2
import numpy as np

from jobs.evaluation.technical import DAMAGED, DECODE_ERRORS, NOT_A_VIDEO

ANCHOR_COUNT = 8
ANALYSIS_SHORT_SIDE = 360  # per-frame signals and the noise estimate work at this size
ANALYSIS_WIDTH = 320  # still-image metrics, optical flow, safety and CLIP work on frames this wide
THUMBNAIL_WIDTH = 96  # per-frame change, cut and shift statistics
FRAMES_PER_ANCHOR = 3  # a frame and the next two: two flow fields, so their change (jitter)
FLAT_STD_FLOOR = 4.0  # luma std below which a frame is treated as flat (no structure to compare)
HISTOGRAM_BINS = 32
# Immerkær's fast noise estimator: this mask cancels any locally planar picture, leaving noise.
NOISE_MASK = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
PREVIEW_MAX_WIDTH = 480


class FramesUnreadable(Exception):
    def __init__(self, detail: str, reason: str = DAMAGED):
        super().__init__(detail)
        self.detail = detail
        self.reason = reason


@dataclass
class FrameSignals:
    """Per-frame numbers; index i compares frame i with frame i - 1 (index 0 holds zeros)."""

    times: np.ndarray  # presentation time, seconds
    luma: np.ndarray  # mean luma 0-255
    contrast: np.ndarray  # luma standard deviation
    change: np.ndarray  # mean |luma difference| with the previous frame, levels
    structure: np.ndarray  # mean |difference| of brightness-normalised frames (unrelated pictures ~1.1)
    compensated: np.ndarray  # the same after undoing the global shift between the two frames
    shift: np.ndarray  # global shift between the two frames, in thumbnail pixels
    histogram: np.ndarray  # half the L1 distance between luma histograms, 0-1
    noise: np.ndarray  # Immerkær noise sigma at analysis size, levels
    thumbnails: list = field(default_factory=list)  # uint8 THUMBNAIL_WIDTH-wide luma per frame (~5 KB each)


@dataclass
class VideoFrames:
    frames_per_second: float
    frame_count: int
    width: int
    height: int
    declared_frames: int  # what the container says; 0 when it does not
    declared_seconds: float | None
    signals: FrameSignals
    anchors: list[list[np.ndarray]]  # per anchor, up to FRAMES_PER_ANCHOR consecutive RGB uint8 frames
    preview: list = field(default_factory=list)  # PIL images, at most PREVIEW_MAX_WIDTH wide
    poster: object = None  # PIL image of the middle frame at full size
    damaged: str = ""  # why decoding stopped early ("" when it ran to the end)

    @property
    def stills(self) -> list[np.ndarray]:
        """The first frame of each anchor: an even spread of RGB frames over the clip."""
        return [anchor[0] for anchor in self.anchors]

    @property
    def seconds(self) -> float:
        """Measured length as a player shows it: first to last time stamp plus one frame period."""
        times = self.signals.times
        if self.frames_per_second and len(times) > 1:
            return float(times[-1] - times[0]) + 1 / self.frames_per_second
        if self.frames_per_second:
            return self.frame_count / self.frames_per_second
        return self.declared_seconds or 0.0


def video_frames_read(path: Path, *, anchor_count: int = ANCHOR_COUNT, preview_frames: int = 0) -> VideoFrames:
    """Decode the clip once. With preview_frames > 0 also keep that many preview frames and the poster."""
    try:
        container = av.open(str(path))
    except DECODE_ERRORS as error:
        raise FramesUnreadable(_error_detail("opening failed", error), NOT_A_VIDEO) from error
    with container:
        if not container.streams.video:
            raise FramesUnreadable("no video stream", "The file has no video track, only sound or other data.")
        return _frames_collect(container, container.streams.video[0], anchor_count, preview_frames)


def _error_detail(what: str, error: Exception) -> str:
    # strerror rather than str(error): the message would otherwise carry the storage path.
    return f"{what}: {getattr(error, 'strerror', None) or type(error).__name__}"


class _Collector:
    def __init__(self, anchor_starts: list[int], preview_at: set[int], poster_at: int | None):
        self.keep = {start + offset for start in anchor_starts for offset in range(FRAMES_PER_ANCHOR)}
        self.preview_at, self.poster_at = preview_at, poster_at
        self.rows: list[tuple] = []
        self.thumbnails: list[np.ndarray] = []
        self.kept: dict[int, np.ndarray] = {}
        self.preview: dict[int, object] = {}
        self.poster = None
        self.previous = None  # (thumbnail, normalised, histogram) of the frame before
        self.size = (0, 0)

    def add(self, index: int, frame: av.VideoFrame, time: float) -> None:
        if index == 0:
            self.size = (frame.width, frame.height)
        width, height = _analysis_size(frame.width, frame.height)
        gray = _analysis_gray(frame, width, height)
        thumbnail = cv2.resize(gray, (THUMBNAIL_WIDTH, max(2, round(THUMBNAIL_WIDTH * height / width))),
                               interpolation=cv2.INTER_AREA).astype(np.float32)  # fmt: skip
        std = float(thumbnail.std())
        normalised = (thumbnail - thumbnail.mean()) / max(std, FLAT_STD_FLOOR)
        histogram = cv2.calcHist([gray], [0], None, [HISTOGRAM_BINS], [0, 256]).ravel() / gray.size
        noise = float(np.abs(cv2.filter2D(gray.astype(np.float32), -1, NOISE_MASK)[1:-1, 1:-1]).mean())
        noise *= np.sqrt(np.pi / 2) / 6
        if self.previous is None:
            change = structure = compensated = shift = hist = 0.0
        else:
            before, before_normalised, before_histogram = self.previous
            change = float(np.abs(thumbnail - before).mean())
            structure = float(np.abs(normalised - before_normalised).mean())
            compensated, shift = _compensated_change(before_normalised, normalised, structure)
            hist = float(np.abs(histogram - before_histogram).sum() / 2)
        self.previous = (thumbnail, normalised, histogram)
        self.rows.append((time, float(thumbnail.mean()), std, change, structure, compensated, shift, hist, noise))
        self.thumbnails.append(thumbnail.astype(np.uint8))
        if index in self.keep:
            aw = min(ANALYSIS_WIDTH, frame.width)
            self.kept[index] = frame.reformat(width=aw, height=_even(frame.height * aw / frame.width),
                                              format="rgb24", interpolation="AREA").to_ndarray()  # fmt: skip
        if index in self.preview_at:
            pw = min(PREVIEW_MAX_WIDTH, frame.width)
            self.preview[index] = frame.reformat(width=pw, height=max(1, round(frame.height * pw / frame.width)),
                                                 format="rgb24", interpolation="AREA").to_image()  # fmt: skip
        if index == self.poster_at:
            self.poster = frame.to_image().convert("RGB")


def _frames_collect(container, stream, anchor_count: int, preview_frames: int) -> VideoFrames:
    stream.thread_type = "AUTO"
    fps = float(stream.average_rate) if stream.average_rate else 0.0
    declared_seconds = float(stream.duration * stream.time_base) if stream.duration and stream.time_base else None
    expected = stream.frames or (round(declared_seconds * fps) if declared_seconds and fps else 0)
    collector = _Collector(
        _anchor_starts(expected, anchor_count), _spread(expected, preview_frames) if preview_frames else set(),
        expected // 2 if preview_frames and expected else None,
    )  # fmt: skip
    damaged, index = "", 0
    try:
        for index, frame in enumerate(container.decode(stream)):
            time = float(frame.time) if frame.time is not None else (index / fps if fps else float(index))
            collector.add(index, frame, time)
    except DECODE_ERRORS as error:
        damaged = _error_detail("decoding failed", error)
    count = len(collector.rows)
    if not count:
        raise FramesUnreadable(damaged or "no frames decoded", DAMAGED if damaged else "The video file has no pictures in it.")
    signals = FrameSignals(*(np.array(column, dtype=np.float64) for column in zip(*collector.rows)),
                           thumbnails=collector.thumbnails)  # fmt: skip
    intervals = np.diff(signals.times)
    if len(intervals) and np.median(intervals) > 0:  # the typical frame period, not the average over gaps
        fps = 1 / float(np.median(intervals))
    starts = [start for start in _anchor_starts(expected, anchor_count) if start < count]  # fewer than declared
    anchors = [[collector.kept[i] for i in range(start, start + FRAMES_PER_ANCHOR) if i in collector.kept]
               for start in starts]  # fmt: skip
    return VideoFrames(
        frames_per_second=fps, frame_count=count, width=collector.size[0], height=collector.size[1],
        declared_frames=stream.frames or 0, declared_seconds=declared_seconds, signals=signals,
        anchors=[anchor for anchor in anchors if anchor],
        preview=[collector.preview[i] for i in sorted(collector.preview)], poster=collector.poster, damaged=damaged,
    )  # fmt: skip


LIMITED_RANGE_FORMATS = frozenset({"yuv420p", "yuv422p", "yuv444p", "nv12"})  # luma 16-235
FULL_RANGE_FORMATS = frozenset({"yuvj420p", "yuvj422p", "yuvj444p"})


def _analysis_gray(frame: av.VideoFrame, width: int, height: int) -> np.ndarray:
    """Full-range luma at analysis size. For planar YUV the luma plane is read as it is and scaled with
    OpenCV (about 3x cheaper than swscale's conversion); anything else goes through swscale."""
    name = frame.format.name
    if name in LIMITED_RANGE_FORMATS or name in FULL_RANGE_FORMATS:
        plane = frame.planes[0]
        luma = np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)[:, : frame.width]
        small = cv2.resize(luma, (width, height), interpolation=cv2.INTER_AREA)
        if name in LIMITED_RANGE_FORMATS:
            small = cv2.convertScaleAbs(small, alpha=255 / 219, beta=-16 * 255 / 219)
        return small
    return frame.reformat(width=width, height=height, format="gray", interpolation="AREA").to_ndarray()


def _compensated_change(before: np.ndarray, after: np.ndarray, structure: float) -> tuple[float, float]:
    """Change after undoing the global shift (phase correlation, sub-pixel): a pan, however fast, leaves little."""
    window = _hanning(before.shape)
    (dx, dy), response = cv2.phaseCorrelate(before.astype(np.float32), after.astype(np.float32), window)
    height, width = before.shape
    if response < 0.05 or abs(dx) >= width / 2 or abs(dy) >= height / 2:
        return structure, 0.0
    if abs(dx) < 0.05 and abs(dy) < 0.05:
        return structure, float(np.hypot(dx, dy))
    matrix = np.array([[1, 0, dx], [0, 1, dy]], np.float32)
    moved = cv2.warpAffine(before, matrix, (width, height), flags=cv2.INTER_LINEAR)
    top, bottom = int(np.ceil(max(dy, 0))), height + int(np.floor(min(dy, 0)))
    left, right = int(np.ceil(max(dx, 0))), width + int(np.floor(min(dx, 0)))
    if bottom - top < 4 or right - left < 4:
        return structure, float(np.hypot(dx, dy))
    residual = float(np.abs(after[top:bottom, left:right] - moved[top:bottom, left:right]).mean())
    return min(structure, residual), float(np.hypot(dx, dy))


_WINDOWS: dict[tuple[int, int], np.ndarray] = {}


def _hanning(shape: tuple[int, int]) -> np.ndarray:
    if shape not in _WINDOWS:
        _WINDOWS[shape] = cv2.createHanningWindow((shape[1], shape[0]), cv2.CV_32F)
    return _WINDOWS[shape]


def _analysis_size(width: int, height: int) -> tuple[int, int]:
    scale = min(1.0, ANALYSIS_SHORT_SIDE / max(1, min(width, height)))
    return max(2, _even(width * scale)), max(2, _even(height * scale))


def _even(value: float) -> int:
    return max(2, round(value / 2) * 2)


def _anchor_starts(frame_count: int, anchor_count: int) -> list[int]:
    if frame_count <= 0:
        return []
    last_start = max(0, frame_count - FRAMES_PER_ANCHOR)
    return sorted({round(start) for start in np.linspace(0, last_start, min(anchor_count, last_start + 1))})


def _spread(frame_count: int, count: int) -> set[int]:
    if frame_count <= 0:
        return set()
    count = min(count, frame_count)
    return {round(index * (frame_count - 1) / max(count - 1, 1)) for index in range(count)}
