"""The audio dimension: is there sound when the take asked for it, and is the sound usable?

Native-audio models (Veo, Sora, Kling with sound) return a soundtrack with the video. PyAV decodes
it to 48 kHz float samples (its own pass over the audio packets only: the video is not decoded);
then, on 50 ms windows:

* no audio: the take asked for sound (it was priced with audio) and the file has no audio stream,
  or the stream is silent throughout. Blocks: the creator paid for sound.
* silence: a stretch of at least `SILENCE_MIN_SECONDS` below `SILENCE_DBFS`. Reported, lowers the score.
* clipping: samples pinned at full scale. Blocks above `CLIPPING_BLOCK_SHARE` of the samples.
* loudness: integrated loudness per ITU-R BS.1770-4 (pyloudnorm), in LUFS; outside
  `LOUDNESS_RANGE_LUFS` it is reported.
* length mismatch: audio and video durations differ by more than `LENGTH_TOLERANCE_SECONDS`; blocks
  from `LENGTH_BLOCK_SECONDS` (a track that stops early or runs on is an encoding fault).

`audio_defects(path, ...)` is the entry point for a take and for the command line alike; every
defect is {kind, start, end, value} in seconds, like the video's defects.
"""

from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from jobs.evaluation.metric import Metric, metric_unavailable, unit_clip

SAMPLE_RATE = 48_000
WINDOW_SECONDS = 0.05
SILENCE_DBFS = -60.0
SILENCE_MIN_SECONDS = 1.5
CLIPPING_LEVEL = 0.999  # a sample at or above this magnitude is pinned at full scale
CLIPPING_REPORT_SHARE = 0.001
CLIPPING_BLOCK_SHARE = 0.01
LOUDNESS_RANGE_LUFS = (-30.0, -9.0)  # quieter is hard to hear next to other clips; louder is pumping or distorted
LENGTH_TOLERANCE_SECONDS = 0.25
LENGTH_BLOCK_SECONDS = 1.0
UNIT = "LUFS"
EXPLANATION = (
    "The soundtrack: integrated loudness (ITU-R BS.1770) in LUFS, long silences, clipping, and whether "
    "its length matches the video. The score starts at 1 and loses a share for each defect."
)


@dataclass(frozen=True)
class AudioReport:
    has_audio: bool
    duration_seconds: float | None
    loudness_lufs: float | None  # None without audio, or for a track too short or too quiet to gate
    peak_dbfs: float | None
    clipped_share: float | None
    defects: list[dict] = field(default_factory=list)  # {kind, start, end, value}, in time order
    blocking_reason: str = ""  # why the take should not pass; "" when the sound is acceptable

    def as_metric(self) -> Metric:
        if not self.has_audio and not self.defects:
            return metric_unavailable(unit=UNIT, explanation=EXPLANATION, reason="the video has no soundtrack")
        score = 0.0 if self.blocking_reason else unit_clip(1 - 0.25 * len(self.defects))
        detail = {"duration_seconds": self.duration_seconds, "peak_dbfs": self.peak_dbfs,
                  "clipped_share": self.clipped_share, "defects": self.defects}  # fmt: skip
        return Metric(value=self.loudness_lufs, unit=UNIT, explanation=EXPLANATION, score=score, detail=detail)

    def as_gate(self) -> dict:
        return {"passed": not self.blocking_reason, "reason": self.blocking_reason, "defects": self.defects}


def audio_defects(path: Path, *, expects_audio: bool, video_duration_seconds: float | None = None) -> AudioReport:
    """Everything wrong with the soundtrack of the file at `path` (see the module docstring)."""
    samples = audio_samples_read(Path(path))
    end = video_duration_seconds or 0.0
    if samples is None or not samples.size:
        if not expects_audio:
            return AudioReport(False, None, None, None, None)
        defect = _defect("no_audio", 0.0, end, None)
        return AudioReport(False, None, None, None, None, [defect], "The video has no sound, but sound was asked for.")
    return _report(samples, expects_audio=expects_audio, video_duration=video_duration_seconds)


def audio_samples_read(path: Path) -> np.ndarray | None:
    """(samples, channels) float32 at SAMPLE_RATE, mono or stereo as recorded; None without audio."""
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError):
        return None
    with container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        layout = "mono" if stream.channels == 1 else "stereo"
        resampler = av.AudioResampler(format="flt", layout=layout, rate=SAMPLE_RATE)
        chunks = []
        try:
            for frame in container.decode(stream):
                chunks.extend(resampled.to_ndarray().reshape(-1, 1 if layout == "mono" else 2)
                              for resampled in resampler.resample(frame))  # fmt: skip
            chunks.extend(resampled.to_ndarray().reshape(-1, 1 if layout == "mono" else 2)
                          for resampled in resampler.resample(None))  # fmt: skip
        except av.error.FFmpegError:
            pass  # keep what decoded: a damaged tail shows as a length mismatch
    return np.concatenate(chunks).astype(np.float32) if chunks else None


def _report(samples: np.ndarray, *, expects_audio: bool, video_duration: float | None) -> AudioReport:
    duration = len(samples) / SAMPLE_RATE
    levels = _window_levels_dbfs(samples)
    pinned = np.abs(samples).max(axis=1) >= CLIPPING_LEVEL
    clipped_share = float(pinned.mean())
    loudness = _integrated_loudness(samples)
    defects = _silences(levels) + _clipping(pinned, clipped_share)
    if loudness is not None and not LOUDNESS_RANGE_LUFS[0] <= loudness <= LOUDNESS_RANGE_LUFS[1]:
        defects.append(_defect("loudness", 0.0, duration, round(loudness, 1)))
    mismatch = None if video_duration is None else duration - video_duration
    if mismatch is not None and abs(mismatch) > LENGTH_TOLERANCE_SECONDS:
        defects.append(_defect("length_mismatch", min(duration, video_duration), max(duration, video_duration),
                               round(mismatch, 2)))  # fmt: skip
    peak = float(np.abs(samples).max())
    blocking = _blocking_reason(levels, defects, clipped_share, mismatch, expects_audio=expects_audio)
    if blocking.startswith("The video is silent"):
        defects = [_defect("silent_audio", 0.0, duration, round(float(levels.max()), 1))]
    return AudioReport(
        True, round(duration, 3), None if loudness is None else round(loudness, 2), _dbfs(peak),
        round(clipped_share, 5), sorted(defects, key=lambda defect: (defect["start"], defect["kind"])), blocking,
    )  # fmt: skip


def _blocking_reason(levels: np.ndarray, defects: list[dict], clipped_share: float, mismatch: float | None, *,
                     expects_audio: bool) -> str:  # fmt: skip
    if expects_audio and (levels < SILENCE_DBFS).all():
        return "The video is silent, but sound was asked for."
    if clipped_share >= CLIPPING_BLOCK_SHARE:
        return f"The sound is distorted: {clipped_share:.1%} of it is clipped at full volume."
    if mismatch is not None and abs(mismatch) >= LENGTH_BLOCK_SECONDS:
        longer = "longer" if mismatch > 0 else "shorter"
        return f"The sound is {abs(mismatch):.1f} s {longer} than the picture."
    return ""


def _window_levels_dbfs(samples: np.ndarray) -> np.ndarray:
    """RMS level of each 50 ms window, in dBFS (all channels together)."""
    size = int(SAMPLE_RATE * WINDOW_SECONDS)
    count = max(1, len(samples) // size)
    windows = samples[: count * size].reshape(count, -1) if len(samples) >= size else samples.reshape(1, -1)
    rms = np.sqrt(np.mean(np.square(windows, dtype=np.float64), axis=1))
    return 20 * np.log10(np.maximum(rms, 1e-10))


def _silences(levels: np.ndarray) -> list[dict]:
    found = []
    for start, end in _runs(levels < SILENCE_DBFS):
        if (end - start) * WINDOW_SECONDS >= SILENCE_MIN_SECONDS:
            found.append(_defect("silence", start * WINDOW_SECONDS, end * WINDOW_SECONDS,
                                 round(float(levels[start:end].max()), 1)))  # fmt: skip
    return found


def _clipping(pinned: np.ndarray, clipped_share: float) -> list[dict]:
    if clipped_share < CLIPPING_REPORT_SHARE:
        return []
    at = np.flatnonzero(pinned)
    return [_defect("clipping", at[0] / SAMPLE_RATE, (at[-1] + 1) / SAMPLE_RATE, round(clipped_share, 4))]


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) index pairs of each run of True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True))


def _integrated_loudness(samples: np.ndarray) -> float | None:
    import pyloudnorm  # imported here: only takes with sound need it

    if len(samples) < int(0.4 * SAMPLE_RATE):  # BS.1770 gates on 400 ms blocks
        return None
    loudness = pyloudnorm.Meter(SAMPLE_RATE).integrated_loudness(samples.astype(np.float64))
    return float(loudness) if np.isfinite(loudness) else None


def _dbfs(amplitude: float) -> float:
    return round(20 * float(np.log10(max(amplitude, 1e-10))), 1)


def _defect(kind: str, start: float, end: float, value) -> dict:
    return {"kind": kind, "start": round(float(start), 2), "end": round(float(end), 2), "value": value}
