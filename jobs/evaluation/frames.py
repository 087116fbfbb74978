"""One decoding pass that gathers everything the quality metrics look at.

Every frame becomes a tiny grayscale thumbnail (for flicker and cut detection, which need
consecutive frames); a few anchor points keep three consecutive frames at analysis size (the
first for the still-image metrics, all three for optical flow). Analysis happens on small copies:
fast, and blind to encoder noise.
"""

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from jobs.evaluation.technical import DECODE_ERRORS

ANCHOR_COUNT = 8
ANALYSIS_WIDTH = 320  # still-image metrics, optical flow, safety and CLIP work on frames this wide
THUMBNAIL_WIDTH = 64  # per-frame statistics
FRAMES_PER_ANCHOR = 3  # a frame and the next two: two flow fields, so their change (jitter)


class FramesUnreadable(Exception):
    pass


@dataclass(frozen=True)
class VideoFrames:
    frames_per_second: float
    frame_count: int
    thumbnails: list[np.ndarray]  # every frame, grayscale float32, THUMBNAIL_WIDTH wide
    anchors: list[list[np.ndarray]]  # per anchor, up to FRAMES_PER_ANCHOR consecutive RGB uint8 frames

    @property
    def stills(self) -> list[np.ndarray]:
        """The first frame of each anchor: an even spread of RGB frames over the clip."""
        return [anchor[0] for anchor in self.anchors]


def video_frames_read(path: Path, *, anchor_count: int = ANCHOR_COUNT) -> VideoFrames:
    try:
        container = av.open(str(path))
    except DECODE_ERRORS as error:
        raise FramesUnreadable(type(error).__name__) from error
    with container:
        if not container.streams.video:
            raise FramesUnreadable("no video stream")
        try:
            return _frames_collect(container, container.streams.video[0], anchor_count)
        except DECODE_ERRORS as error:
            raise FramesUnreadable(type(error).__name__) from error


def _frames_collect(container, stream, anchor_count: int) -> VideoFrames:
    stream.thread_type = "AUTO"
    fps = float(stream.average_rate) if stream.average_rate else 0.0
    starts = _anchor_starts(stream.frames or _estimated_count(stream, fps), anchor_count)
    keep = {start + offset for start in starts for offset in range(FRAMES_PER_ANCHOR)} if starts else None
    thumbnails, kept = [], {}
    for index, frame in enumerate(container.decode(stream)):
        thumbnails.append(_thumbnail(frame))
        if keep is None or index in keep:
            kept[index] = _analysis_frame(frame)
    if not thumbnails:
        raise FramesUnreadable("no frames decoded")
    if keep is None:  # the file did not say how long it is: choose the anchors now
        starts = _anchor_starts(len(thumbnails), anchor_count)
    anchors = [[kept[i] for i in range(start, start + FRAMES_PER_ANCHOR) if i in kept] for start in starts]
    return VideoFrames(fps or 0.0, len(thumbnails), thumbnails, [anchor for anchor in anchors if anchor])


def _estimated_count(stream, fps: float) -> int:
    if stream.duration and stream.time_base and fps:
        return round(float(stream.duration * stream.time_base) * fps)
    return 0


def _anchor_starts(frame_count: int, anchor_count: int) -> list[int]:
    if frame_count <= 0:
        return []
    last_start = max(0, frame_count - FRAMES_PER_ANCHOR)
    return sorted({round(start) for start in np.linspace(0, last_start, min(anchor_count, last_start + 1))})


def _scaled_height(frame: av.VideoFrame, width: int) -> int:
    return max(2, round(frame.height * width / frame.width / 2) * 2)


def _thumbnail(frame: av.VideoFrame) -> np.ndarray:
    small = frame.reformat(width=THUMBNAIL_WIDTH, height=_scaled_height(frame, THUMBNAIL_WIDTH), format="gray",
                           interpolation="AREA")  # fmt: skip
    return small.to_ndarray().astype(np.float32)


def _analysis_frame(frame: av.VideoFrame) -> np.ndarray:
    width = min(ANALYSIS_WIDTH, frame.width)
    small = frame.reformat(width=width, height=_scaled_height(frame, width), format="rgb24", interpolation="AREA")
    return small.to_ndarray()
