"""The cut renderer: plain PyAV and numpy, no ORM (the service hands it paths and numbers).

Every take is conformed to the output format: scaled to fit inside the frame keeping its shape,
centred on black (letterbox or pillarbox), never stretched, and resampled in time to the output
frame rate by picking, for each output frame, the source frame showing at that instant. Frames
are handled as yuv420p planes so a take already in the output format is never converted.

Timing is counted in output frames, so the result's duration is exact to the frame:
a clip of `d` seconds is round(d × fps) frames; a crossfade overlaps the outgoing clip's last and
the incoming clip's first frames (the cut is shorter by the overlap); a dip to black fades the
outgoing clip out over its last frames and the incoming one in over its first (no overlap).
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from studio.cuts.exceptions import CutMediaUnreadable

CUT, CROSSFADE, DIP = "cut", "crossfade", "dip_to_black"
AUDIO_RATE = 48_000
AAC_FRAME = 1024
BLACK_YUV = (16, 128, 128)


@dataclass(frozen=True)
class OutputFormat:
    width: int
    height: int
    fps: int


@dataclass(frozen=True)
class ClipPlan:
    """One take on the timeline: its file, the trimmed span and the transition into the next clip."""

    path: Path
    in_seconds: float
    out_seconds: float
    transition: str = CUT
    transition_seconds: float = 0.0
    label: str = ""

    def frames(self, fps: int) -> int:
        return round((self.out_seconds - self.in_seconds) * fps)

    def transition_frames(self, fps: int) -> int:
        return 0 if self.transition == CUT else round(self.transition_seconds * fps)


def timeline_frames(clips: list[ClipPlan], fps: int) -> int:
    """The cut's length in output frames: every clip, less the crossfades' overlaps."""
    overlap = sum(clip.transition_frames(fps) for clip in clips[:-1] if clip.transition == CROSSFADE)
    return sum(clip.frames(fps) for clip in clips) - overlap


def clip_starts(clips: list[ClipPlan], fps: int) -> list[int]:
    """The output frame at which each clip begins."""
    starts, at = [], 0
    for index, clip in enumerate(clips):
        starts.append(at)
        at += clip.frames(fps)
        if clip.transition == CROSSFADE and index < len(clips) - 1:
            at -= clip.transition_frames(fps)
    return starts


def video_probe(path: Path) -> tuple[int, int, float, float]:
    """(width, height, frame rate, duration in seconds) of a readable video; raises CutMediaUnreadable."""
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            rate = float(stream.average_rate or stream.guessed_rate or 0)
            if stream.duration is not None:
                duration = float(stream.duration * stream.time_base)
            else:
                duration = float(container.duration or 0) / av.time_base
            return stream.codec_context.width, stream.codec_context.height, rate, duration
    except (av.FFmpegError, IndexError, OSError) as error:
        raise CutMediaUnreadable(f"{path.name} cannot be read as a video ({error}).") from error


def audio_present(path: Path) -> bool:
    """Whether the file carries a sound track (a take from a native-audio model does)."""
    try:
        with av.open(str(path)) as container:
            return bool(container.streams.audio)
    except (av.FFmpegError, OSError) as error:
        raise CutMediaUnreadable(f"{path.name} cannot be read as a video ({error}).") from error


def cut_render(
    clips: list[ClipPlan],
    output: OutputFormat,
    target: Path,
    *,
    audio: np.ndarray | None = None,
    on_progress: Callable[[int], None] | None = None,
    preset: str = "veryfast",
) -> None:
    """Render the clips (and a mixed stereo track at 48 kHz, if given) to an H.264/AAC fast-start MP4.

    Written aside and renamed: a failed render leaves nothing under `target`.
    """
    total = timeline_frames(clips, output.fps)
    partial = target.with_name(target.name + ".partial")
    report = _progress_reporter(on_progress, total)
    try:
        with av.open(str(partial), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            container.metadata.clear()
            video = container.add_stream("libx264", rate=output.fps,
                                         options={"crf": "20", "preset": preset, "threads": "2"})
            video.width, video.height, video.pix_fmt = output.width, output.height, "yuv420p"
            video.codec_context.time_base = Fraction(1, output.fps)
            sound = None
            if audio is not None:
                sound = container.add_stream("aac", rate=AUDIO_RATE, layout="stereo")
                sound.bit_rate = 192_000
            for index, planes in enumerate(_timeline_pictures(clips, output)):
                frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
                frame.pts, frame.time_base = index, Fraction(1, output.fps)
                container.mux(video.encode(frame))
                report(index + 1)
            container.mux(video.encode())
            if sound is not None:
                _audio_encode(container, sound, _audio_fitted(audio, total, output.fps))
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


def _progress_reporter(on_progress, total: int) -> Callable[[int], None]:
    last = -1

    def frames_done(done: int) -> None:
        nonlocal last
        percent = min(99, done * 100 // max(total, 1))
        if on_progress and percent != last:
            last = percent
            on_progress(percent)

    return frames_done


# -- pictures ---------------------------------------------------------------------------------


def _timeline_pictures(clips: list[ClipPlan], output: OutputFormat) -> Iterator[np.ndarray]:
    """Output frames in order, as yuv420p arrays; crossfades blend two clips' frames."""
    fps, carried = output.fps, None
    for index, clip in enumerate(clips):
        incoming = carried or 0
        leaving = clip.transition_frames(fps) if index < len(clips) - 1 else 0
        fade_in = clips[index - 1].transition_frames(fps) if index and clips[index - 1].transition == DIP else 0
        frames = clip.frames(fps)
        pictures = _clip_pictures(clip, output)
        for position in range(frames):
            picture = next(pictures)
            if position < incoming:  # already blended into the previous clip's tail
                continue
            if fade_in and position < fade_in:
                picture = _towards_black(picture, 1 - (position + 1) / (fade_in + 1))
            tail = frames - position
            if clip.transition == DIP and leaving and tail <= leaving:
                picture = _towards_black(picture, 1 - (tail - 1) / leaving)
            if clip.transition == CROSSFADE and leaving and tail <= leaving:
                if position == frames - leaving:
                    following = _clip_pictures(clips[index + 1], output)
                weight = (leaving - tail + 1) / (leaving + 1)
                picture = _blend(picture, next(following), weight)
            yield picture
        carried = leaving if clip.transition == CROSSFADE else 0


def _clip_pictures(clip: ClipPlan, output: OutputFormat) -> Iterator[np.ndarray]:
    """The clip's frames at the output rate and size, from `in_seconds` on; the last frame holds.

    For each output instant the source frame showing then is used (conformed once, however
    many output frames repeat it); frames decoded only to reach the in point are never scaled.
    """
    fps = output.fps
    wanted = [clip.in_seconds + k / fps for k in range(clip.frames(fps))]
    produced, held, picture = 0, None, None
    try:
        with av.open(str(clip.path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            if clip.in_seconds > 1:
                container.seek(int((clip.in_seconds - 1) / stream.time_base), stream=stream, backward=True)
            for frame in container.decode(stream):
                shown_at = float(frame.pts * stream.time_base) if frame.pts is not None else 0.0
                while held is not None and produced < len(wanted) and wanted[produced] < shown_at - 1e-6:
                    picture = picture if picture is not None else _conformed(held, output)
                    yield picture
                    produced += 1
                if produced >= len(wanted):
                    return
                held, picture = frame, None
    except av.FFmpegError as error:
        raise CutMediaUnreadable(f"{clip.label or clip.path.name} could not be decoded ({error}).") from error
    if held is None:
        raise CutMediaUnreadable(f"{clip.label or clip.path.name} has no pictures.")
    picture = picture if picture is not None else _conformed(held, output)
    while produced < len(wanted):
        yield picture
        produced += 1


def _conformed(frame: av.VideoFrame, output: OutputFormat) -> np.ndarray:
    """The frame scaled to fit the output, centred on black; as one yuv420p array."""
    if (frame.width, frame.height) == (output.width, output.height):
        return frame.to_ndarray(format="yuv420p")
    scale = min(output.width / frame.width, output.height / frame.height)
    width = max(2, int(frame.width * scale) // 2 * 2)
    height = max(2, int(frame.height * scale) // 2 * 2)
    scaled = frame.reformat(width=width, height=height, format="yuv420p", interpolation="BICUBIC").to_ndarray()
    canvas = _black(output)
    left, top = (output.width - width) // 4 * 2, (output.height - height) // 4 * 2
    _paste(canvas, scaled, output, (width, height), (left, top))
    return canvas


def _black(output: OutputFormat) -> np.ndarray:
    y, u, v = BLACK_YUV
    canvas = np.empty((output.height * 3 // 2, output.width), dtype=np.uint8)
    canvas[: output.height] = y
    chroma = canvas[output.height:].reshape(-1)
    quarter = output.width * output.height // 4
    chroma[:quarter], chroma[quarter:] = u, v
    return canvas


def _planes(array: np.ndarray, width: int, height: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    quarter = width * height // 4
    chroma = array[height:].reshape(-1)
    return (array[:height], chroma[:quarter].reshape(height // 2, width // 2),
            chroma[quarter:].reshape(height // 2, width // 2))


def _paste(canvas: np.ndarray, picture: np.ndarray, output: OutputFormat, size: tuple[int, int],
           at: tuple[int, int]) -> None:
    (width, height), (left, top) = size, at
    for target, source, factor in zip(_planes(canvas, output.width, output.height),
                                      _planes(picture, width, height), (1, 2, 2)):
        target[top // factor: top // factor + height // factor, left // factor: left // factor + width // factor] = source


def _towards_black(picture: np.ndarray, amount: float) -> np.ndarray:
    height = picture.shape[0] * 2 // 3
    black = np.empty_like(picture)
    black[:height], black[height:] = BLACK_YUV[0], 128
    return _blend(picture, black, amount)


def _blend(first: np.ndarray, second: np.ndarray, weight: float) -> np.ndarray:
    """first × (1 − weight) + second × weight, in integers."""
    w = round(weight * 256)
    mixed = (first.astype(np.uint16) * (256 - w) + second.astype(np.uint16) * w + 128) >> 8
    return mixed.astype(np.uint8)


# -- sound ------------------------------------------------------------------------------------


def _audio_fitted(audio: np.ndarray, frames: int, fps: int) -> np.ndarray:
    """The mix cut or padded with silence to the picture's exact length."""
    samples = frames * AUDIO_RATE // fps
    fitted = np.zeros((2, samples), dtype=np.float32)
    length = min(samples, audio.shape[1])
    fitted[:, :length] = audio[:, :length]
    return fitted


def _audio_encode(container, stream, audio: np.ndarray) -> None:
    for start in range(0, audio.shape[1], AAC_FRAME):
        chunk = np.ascontiguousarray(audio[:, start:start + AAC_FRAME])
        frame = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = AUDIO_RATE, start, Fraction(1, AUDIO_RATE)
        container.mux(stream.encode(frame))
    container.mux(stream.encode())
