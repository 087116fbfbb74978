"""Technical checks on a stored take, run before a creator is shown (or charged for) it.

Cheap and deterministic: they catch a broken file, a clip of the wrong length or size, a black
screen and a frozen picture. They say nothing about whether the take matches the prompt.
Plain Python over PyAV so the pipeline can run them on any file, with no Django involved.
"""

from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

SAMPLE_COUNT = 12
SAMPLE_WIDTH = 160  # statistics on small grayscale copies: faster, and blind to encoder noise
DURATION_TOLERANCE_SECONDS = 0.25
DURATION_TOLERANCE_RATIO = 0.05
# Mean luma on a 0-255 scale. A dark night scene sits around 15-30; black is 0.
BLACK_LUMA_THRESHOLD = 8.0
# Mean absolute luma change between consecutive samples. Repeated frames encoded as H.264
# measure 0.0-0.06 (up to ~0.12 at very low quality); the animatic's near-still static shot
# measures 0.35 or more.
FROZEN_DIFFERENCE_THRESHOLD = 0.1

DECODE_ERRORS = (av.FFmpegError, OSError, ValueError, EOFError)
NOT_A_VIDEO = "The file could not be opened as a video; it is damaged or is not a video at all."
DAMAGED = "The video file is damaged or incomplete; it may have been cut off while being saved or downloaded."


@dataclass(frozen=True)
class TechnicalEvaluation:
    passed: bool
    checks: dict[str, dict]  # per check: passed, value, expected, detail; JSON-serialisable
    failure_reason: str  # "" when passed; otherwise the first failing check's reason, for the creator


@dataclass(frozen=True)
class CheckResult:
    passed: bool
    value: object
    expected: object
    detail: str
    reason: str  # shown to the creator when this is the first failing check

    def as_dict(self) -> dict:
        return {"passed": self.passed, "value": self.value, "expected": self.expected, "detail": self.detail}


@dataclass(frozen=True)
class DecodedVideo:
    frame_count: int
    frames_per_second: float | None
    stream_seconds: float | None
    width: int
    height: int
    samples: list[np.ndarray]  # small grayscale frames, evenly spread over the clip


class Undecodable(Exception):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def evaluate_video_technical(
    path: Path, *, expected_duration_seconds: float, expected_width: int, expected_height: int
) -> TechnicalEvaluation:
    try:
        video = _video_decode(Path(path))
    except Undecodable as failure:
        return _evaluation({"decodes": CheckResult(False, False, True, failure.detail, failure.reason)})
    frame_detail = f"{video.frame_count} frames of {video.width}x{video.height} decoded"
    return _evaluation(
        {
            "decodes": CheckResult(True, True, True, frame_detail, ""),
            "duration": _duration_check(video, expected_duration_seconds),
            "size": _size_check(video, expected_width, expected_height),
            "not_black": _not_black_check(video),
            "not_frozen": _not_frozen_check(video),
        }
    )


def _evaluation(results: dict[str, CheckResult]) -> TechnicalEvaluation:
    failures = [result.reason for result in results.values() if not result.passed]
    return TechnicalEvaluation(
        passed=not failures,
        checks={name: result.as_dict() for name, result in results.items()},
        failure_reason=failures[0] if failures else "",
    )


# --- Decoding -------------------------------------------------------------------------------


def _video_decode(path: Path) -> DecodedVideo:
    # The file came from outside (a vendor, an upload): any way it fails to decode is a verdict.
    try:
        container = av.open(str(path))
    except DECODE_ERRORS as error:
        raise Undecodable(NOT_A_VIDEO, _error_detail("opening failed", error)) from error
    with container:
        if not container.streams.video:
            raise Undecodable("The file has no video track, only sound or other data.", "no video stream")
        try:
            return _frames_read(container, container.streams.video[0])
        except DECODE_ERRORS as error:
            raise Undecodable(DAMAGED, _error_detail("decoding failed", error)) from error


def _error_detail(what: str, error: Exception) -> str:
    # strerror rather than str(error): the message would otherwise carry the storage path.
    return f"{what}: {getattr(error, 'strerror', None) or type(error).__name__}"


def _frames_read(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> DecodedVideo:
    stream.thread_type = "AUTO"
    declared = stream.frames
    sample_at = _sample_indices(declared or _estimated_frame_count(stream))
    samples, count, size = [], 0, (0, 0)
    for frame in container.decode(stream):
        if count == 0:
            size = (frame.width, frame.height)
        if sample_at is None or count in sample_at:
            samples.append(_luma_thumbnail(frame))
        count += 1
    _completeness_check(count, declared)
    return DecodedVideo(
        frame_count=count,
        frames_per_second=float(stream.average_rate) if stream.average_rate else None,
        stream_seconds=_stream_seconds(stream),
        width=size[0],
        height=size[1],
        samples=samples if sample_at is not None else _evenly_spread(samples, SAMPLE_COUNT),
    )


def _stream_seconds(stream: av.video.stream.VideoStream) -> float | None:
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    return None


def _estimated_frame_count(stream: av.video.stream.VideoStream) -> int:
    seconds = _stream_seconds(stream)
    return round(seconds * float(stream.average_rate)) if seconds and stream.average_rate else 0


def _sample_indices(frame_count: int) -> set[int] | None:
    """Which frames to look at; None when the file does not say how many it holds, so keep all."""
    if frame_count <= 0:
        return None
    return {round(index) for index in np.linspace(0, frame_count - 1, min(SAMPLE_COUNT, frame_count))}


def _evenly_spread(items: list, count: int) -> list:
    if len(items) <= count:
        return items
    return [items[round(index)] for index in np.linspace(0, len(items) - 1, count)]


def _luma_thumbnail(frame: av.VideoFrame) -> np.ndarray:
    height = max(2, round(frame.height * SAMPLE_WIDTH / frame.width))
    small = frame.reformat(width=SAMPLE_WIDTH, height=height, format="gray", interpolation="AREA")
    return small.to_ndarray().astype(np.float32)


def _completeness_check(decoded: int, declared: int) -> None:
    if decoded == 0:
        raise Undecodable("The video file has no pictures in it.", "no frames decoded")
    # A file cut short can still decode what remains; its header says how much there should be.
    if declared and decoded < declared - max(1, declared // 50):
        raise Undecodable(DAMAGED, f"only {decoded} of the {declared} frames the file declares could be decoded")


# --- Checks ---------------------------------------------------------------------------------


def _measured_seconds(video: DecodedVideo) -> float | None:
    if video.frames_per_second:
        return video.frame_count / video.frames_per_second
    return video.stream_seconds


def _duration_check(video: DecodedVideo, expected_seconds: float) -> CheckResult:
    measured = _measured_seconds(video)
    tolerance = max(DURATION_TOLERANCE_SECONDS, DURATION_TOLERANCE_RATIO * expected_seconds)
    expected_text = f"{expected_seconds:g} s ± {tolerance:.2f} s"
    if measured is None:
        return CheckResult(False, None, expected_text, "no frame rate or duration in the file",
                           "The video's length could not be measured.")  # fmt: skip
    measured = round(measured, 3)
    passed = abs(measured - expected_seconds) <= tolerance
    detail = f"{video.frame_count} frames at {video.frames_per_second or 0:.3f} fps = {measured:g} s"
    reason = f"The video runs {measured:.1f} s instead of the requested {expected_seconds:g} s."
    return CheckResult(passed, measured, expected_text, detail, "" if passed else reason)


def _size_check(video: DecodedVideo, expected_width: int, expected_height: int) -> CheckResult:
    actual, expected = f"{video.width}x{video.height}", f"{expected_width}x{expected_height}"
    passed = actual == expected
    reason = f"The video is {actual} pixels instead of {expected}."
    return CheckResult(passed, actual, expected, f"decoded frames are {actual}", "" if passed else reason)


def _not_black_check(video: DecodedVideo) -> CheckResult:
    mean_luma = round(float(np.mean([sample.mean() for sample in video.samples])), 2)
    passed = mean_luma > BLACK_LUMA_THRESHOLD
    detail = f"mean luma {mean_luma} over {len(video.samples)} sampled frames (0-255)"
    reason = "The video is all black."
    return CheckResult(passed, mean_luma, f"> {BLACK_LUMA_THRESHOLD}", detail, "" if passed else reason)


def _not_frozen_check(video: DecodedVideo) -> CheckResult:
    pairs = list(zip(video.samples, video.samples[1:]))
    differences = [float(np.abs(later - earlier).mean()) for earlier, later in pairs]
    motion = round(float(np.mean(differences)), 3) if differences else 0.0
    passed = motion > FROZEN_DIFFERENCE_THRESHOLD
    detail = f"mean absolute luma change {motion} between {len(pairs)} pairs of sampled frames"
    reason = "The picture never changes; the video looks frozen."
    return CheckResult(passed, motion, f"> {FROZEN_DIFFERENCE_THRESHOLD}", detail, "" if passed else reason)


# --- From the one decoding pass (take evaluation) ----------------------------------------------

ALL_OF_IT = 0.9  # a defect covering this share of the clip is the whole clip's


def technical_from_frames(frames, defects: list, *, expected_duration_seconds: float, expected_width: int,
                          expected_height: int) -> TechnicalEvaluation:  # fmt: skip
    """The same five checks as evaluate_video_technical, read off the one decoding pass and its defects
    (frames.VideoFrames, defects.Defect), so each failure names where in the clip it happens."""
    by_kind: dict[str, list] = {}
    for defect in defects:
        by_kind.setdefault(defect.kind, []).append(defect)
    truncated = by_kind.get("truncated", [])
    if truncated:
        return _evaluation({"decodes": CheckResult(False, False, True, truncated[0].detail, DAMAGED)})
    frame_detail = f"{frames.frame_count} frames of {frames.width}x{frames.height} decoded"
    video = DecodedVideo(frames.frame_count, frames.frames_per_second, frames.declared_seconds, frames.width,
                         frames.height, [])  # fmt: skip
    measured = round(frames.seconds, 3)
    tolerance = max(DURATION_TOLERANCE_SECONDS, DURATION_TOLERANCE_RATIO * expected_duration_seconds)
    duration_ok = abs(measured - expected_duration_seconds) <= tolerance
    return _evaluation(
        {
            "decodes": CheckResult(True, True, True, frame_detail, ""),
            "duration": CheckResult(
                duration_ok, measured, f"{expected_duration_seconds:g} s ± {tolerance:.2f} s",
                f"{frames.frame_count} frames, {measured:g} s from first to last time stamp",
                "" if duration_ok else f"The video runs {measured:.1f} s instead of the requested {expected_duration_seconds:g} s.",
            ),
            "size": _size_check(video, expected_width, expected_height),
            "not_black": _segments_check(by_kind.get("black", []), frames.seconds, "mean luma", "The video is all black.",
                                         "The picture goes black {when}."),
            "not_frozen": _segments_check(by_kind.get("frozen", []), frames.seconds, "largest luma change",
                                          "The picture never changes; the video looks frozen.",
                                          "The picture freezes {when}."),
        }
    )  # fmt: skip


def technical_undecodable(detail: str, reason: str) -> TechnicalEvaluation:
    return _evaluation({"decodes": CheckResult(False, False, True, detail, reason)})


def _segments_check(segments: list, seconds: float, measured: str, whole: str, part: str) -> CheckResult:
    if not segments:
        return CheckResult(True, 0.0, "0 s", "no such segment", "")
    covered = round(sum(segment.end - segment.start for segment in segments), 2)
    detail = "; ".join(f"{segment.start:.2f}–{segment.end:.2f} s ({measured} {segment.value})" for segment in segments)
    if seconds and covered >= ALL_OF_IT * seconds:
        return CheckResult(False, covered, "0 s", detail, whole)
    return CheckResult(False, covered, "0 s", detail, part.format(when=", ".join(segment.when for segment in segments)))
