"""Defects found over the whole clip, each with its kind, time range and measured value.

Everything here works on the per-frame signals of the one decoding pass (frames.py). Kinds:
  black         near-black pictures for BLACK_MIN_SECONDS or more, entered or left abruptly
  fade          a dip to black entered or left gradually: deliberate, reported but not a defect
  frozen        the picture stops changing for FROZEN_MIN_SECONDS or FROZEN_MIN_SHARE of the clip
  flicker       brightness swinging up and down from frame to frame
  cut           an abrupt change to an unrelated picture (a jump cut when none was asked for)
  dropped_time  time missing inside one shot: a time stamp gap, or motion that jumps ahead
  noise         frames drowned in per-pixel noise (garbage render, noise burst)
  truncated     the file holds fewer frames than it declares, or decoding broke off
  undecodable   the file does not open as a video at all (take.py records it)
  duration      the clip runs longer or shorter than requested
  size          the picture has the wrong size or aspect ratio
Cuts are PySceneDetect's idea (content change against an adaptive local average) applied to a
motion-compensated change, so fast camera moves do not count; the library itself is not used: it
wants every frame as a BGR picture and recomputes its own HSV statistics, a second pass over pixels
this decode has already summarised.
"""

from dataclasses import asdict, dataclass

import numpy as np

from jobs.evaluation.frames import FrameSignals, VideoFrames

BLACK_LUMA = 12.0  # mean luma (0-255) of a near-black picture
BLACK_CONTRAST = 8.0  # and its standard deviation: a dark scene still has structure
BLACK_MIN_SECONDS = 0.25
FADE_MIN_FRAMES = 4  # a fade takes at least this many frames of steadily changing brightness
FADE_MAX_HOLD_SECONDS = 1.0  # a dip to black held longer than this is a black segment, fade or not
FROZEN_CHANGE = 0.04  # mean |luma change| (levels, thumbnail) below which two frames are the same picture: an encoded repeat measures 0.00-0.03, a near-still shot easing in 0.04-0.1
FROZEN_DRIFT = 0.25  # mean |luma difference| from the stretch's first frame that is still the same picture
FROZEN_MIN_SECONDS = 0.5
FROZEN_MIN_SHARE = 0.15
# A camera move easing in or out can hold a still picture at the very start or end (the animatic's
# cosine ease does, for up to ~0.9 s of 8 s): such an edge hold is allowed up to this long, and never
# beyond FROZEN_MIN_SHARE of the clip.
FROZEN_EDGE_SECONDS = 1.0
FLICKER_SWING = 4.0  # luma levels away from the neighbours' mean
FLICKER_MIN_SWINGS = 3  # alternating swings within FLICKER_GAP frames of each other make a flicker segment
FLICKER_GAP = 3
CUT_MIN_CHANGE = 0.55  # compensated structural change; unrelated pictures ~1.1, motion within a shot < 0.3
CUT_CONTRAST_RATIO = 2.5  # times the median change around it
CUT_WINDOW = 8  # frames either side for that median
DIM_CONTRAST = 12.0  # a picture change between frames this flat is a dip through black, not a cut
DROP_MIN_CHANGE = 0.12  # a compensated-change spike this large inside a shot is a jump in time
DROP_CONTRAST_RATIO = 3.0
DROP_SHIFT_RATIO = 3.5  # a camera shift this many times the local median (and DROP_SHIFT_MIN px) is a jump
DROP_SHIFT_MIN = 2.5  # thumbnail pixels
TIMESTAMP_GAP_RATIO = 1.6  # a frame interval this many times the median is missing time
NOISE_SIGMA_GARBAGE = 14.0  # Immerkær sigma (levels at analysis size) no clean picture reaches
NOISE_SIGMA_RATIO = 2.0  # or this many times the clip's median, above NOISE_SIGMA_FLOOR
NOISE_SIGMA_FLOOR = 5.0
NOISE_MIN_FRAMES = 2
DURATION_TOLERANCE_SECONDS = 0.25
DURATION_TOLERANCE_RATIO = 0.05
ASPECT_TOLERANCE = 0.02

GATED_KINDS = ("black", "frozen", "flicker", "cut", "dropped_time", "noise", "truncated", "undecodable", "duration",
               "size")  # fmt: skip


@dataclass(frozen=True)
class Defect:
    kind: str
    start: float  # seconds
    end: float
    value: float | str  # the measured value that made it a defect (unit in `detail`)
    detail: str = ""

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def when(self) -> str:
        if self.end - self.start < 0.05:
            return f"at {self.start:.1f} s"
        return f"{self.start:.1f}–{self.end:.1f} s"


def defects_find(frames: VideoFrames, *, expected_seconds: float | None = None,
                 expected_size: tuple[int, int] | None = None) -> list[Defect]:  # fmt: skip
    """Every defect in the clip, in time order (file-level ones first)."""
    signals, fps = frames.signals, _rate(frames)
    found = _file_defects(frames, expected_seconds, expected_size)
    black = _black_runs(signals, fps)
    found += black
    blackish = _mask_of(black, signals.times, pad=1.5 / fps)
    frozen = _frozen(signals, fps, blackish, frames.seconds)
    found += frozen + _flicker(signals, blackish)
    noisy = _noise(signals, fps)
    cuts, drops = _cuts_and_drops(signals, fps, blackish, frozen, noisy)
    found += cuts + drops + noisy
    return sorted(found, key=lambda defect: (defect.kind not in ("truncated", "duration", "size"), defect.start))


def _rate(frames: VideoFrames) -> float:
    if frames.frames_per_second:
        return frames.frames_per_second
    intervals = np.diff(frames.signals.times)
    return 1 / float(np.median(intervals)) if len(intervals) and np.median(intervals) > 0 else 24.0


def _file_defects(frames: VideoFrames, expected_seconds: float | None, expected_size) -> list[Defect]:
    found, end = [], frames.seconds
    declared = frames.declared_frames
    if frames.damaged or (declared and frames.frame_count < declared - max(1, declared // 50)):
        declared_end = declared / frames.frames_per_second if declared and frames.frames_per_second else end
        detail = frames.damaged or f"{frames.frame_count} of the {declared} declared frames decoded"
        found.append(Defect("truncated", round(end, 2), round(max(end, declared_end), 2), frames.frame_count, detail))
    if expected_seconds is not None:
        tolerance = max(DURATION_TOLERANCE_SECONDS, DURATION_TOLERANCE_RATIO * expected_seconds)
        if abs(end - expected_seconds) > tolerance:
            found.append(Defect("duration", 0.0, round(end, 2), round(end, 3),
                                f"{end:.2f} s instead of {expected_seconds:g} s ± {tolerance:.2f} s"))  # fmt: skip
    if expected_size is not None and (frames.width, frames.height) != tuple(expected_size):
        actual, wanted = f"{frames.width}x{frames.height}", f"{expected_size[0]}x{expected_size[1]}"
        ratio = frames.width / max(1, frames.height)
        wanted_ratio = expected_size[0] / max(1, expected_size[1])
        shape = "aspect ratio" if abs(ratio - wanted_ratio) > ASPECT_TOLERANCE * wanted_ratio else "size"
        found.append(Defect("size", 0.0, round(end, 2), actual, f"{shape}: {actual} instead of {wanted}"))
    return found


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(first, last) index of each run of True."""
    runs, start = [], None
    for index, flag in enumerate(mask):
        if flag and start is None:
            start = index
        elif not flag and start is not None:
            runs.append((start, index - 1))
            start = None
    if start is not None:
        runs.append((start, len(mask) - 1))
    return runs


def _mask_of(defects: list[Defect], times: np.ndarray, pad: float) -> np.ndarray:
    mask = np.zeros(len(times), bool)
    for defect in defects:
        mask |= (times >= defect.start - pad) & (times <= defect.end + pad)
    return mask


def _end_of(signals: FrameSignals, index: int, fps: float) -> float:
    return float(signals.times[index]) + 1 / fps  # a frame lasts until the next one


def _black_runs(signals: FrameSignals, fps: float) -> list[Defect]:
    black = (signals.luma < BLACK_LUMA) & (signals.contrast < BLACK_CONTRAST)
    found = []
    for first, last in _runs(black):
        start, end = float(signals.times[first]), _end_of(signals, last, fps)
        if end - start < BLACK_MIN_SECONDS - 0.5 / fps:
            continue
        gradual = _gradual(signals.luma, first, -1) or _gradual(signals.luma, last, +1)
        kind = "fade" if gradual and end - start <= FADE_MAX_HOLD_SECONDS else "black"
        found.append(Defect(kind, round(start, 2), round(end, 2), round(float(signals.luma[first : last + 1].mean()), 2),
                            "mean luma (0-255)"))  # fmt: skip
    return found


def _gradual(luma: np.ndarray, edge: int, direction: int) -> bool:
    """Does brightness ramp steadily away from the black run at `edge` for FADE_MIN_FRAMES frames?"""
    steps = [edge + direction * offset for offset in range(FADE_MIN_FRAMES + 1)]
    if min(steps) < 0 or max(steps) >= len(luma):
        return False
    ramp = luma[steps]
    rises = np.diff(ramp)
    total = ramp[-1] - ramp[0]
    # steadily brighter away from black, and no single step carrying most of the change
    return bool(total > BLACK_LUMA and (rises > 0).all() and rises.max() < 0.6 * total)


def _frozen(signals: FrameSignals, fps: float, blackish: np.ndarray, seconds: float) -> list[Defect]:
    same = signals.change < FROZEN_CHANGE
    same[0] = False
    same &= ~blackish
    found = []
    for first, last in _runs(same):
        for start_index, end_index in _still_stretches(signals, first - 1, last):
            start, end = float(signals.times[start_index]), _end_of(signals, end_index, fps)
            length = end - start
            at_edge = start_index == 0 or end_index == len(signals.times) - 1
            if at_edge and length <= min(FROZEN_EDGE_SECONDS, FROZEN_MIN_SHARE * seconds - 0.5 / fps):
                continue
            if length >= FROZEN_MIN_SECONDS - 0.5 / fps or (seconds and length >= FROZEN_MIN_SHARE * seconds):
                value = round(float(signals.change[start_index + 1 : end_index + 1].max()), 3)
                found.append(Defect("frozen", round(start, 2), round(end, 2), value, "largest luma change while frozen"))
    return found


def _still_stretches(signals: FrameSignals, first: int, last: int) -> list[tuple[int, int]]:
    """Split frames first..last (each barely different from the one before) into stretches that stay
    within FROZEN_DRIFT of their first frame: a repeated picture stays put, while a slow ease-in of a
    camera move, though each step is tiny, drifts away."""
    if not signals.thumbnails:
        return [(first, last)]
    stretches, start = [], first
    anchor = signals.thumbnails[first].astype(np.float32)
    for index in range(first + 1, last + 1):
        if float(np.abs(signals.thumbnails[index].astype(np.float32) - anchor).mean()) > FROZEN_DRIFT:
            if index - 1 > start:
                stretches.append((start, index - 1))
            start, anchor = index, signals.thumbnails[index].astype(np.float32)
    if last > start:
        stretches.append((start, last))
    return stretches


def flicker_swings(signals: FrameSignals) -> np.ndarray:
    """Per frame: how far its mean luma sits from the mean of its two neighbours (0 at the ends)."""
    luma = signals.luma
    swings = np.zeros(len(luma))
    if len(luma) >= 3:
        swings[1:-1] = np.abs(luma[1:-1] - (luma[:-2] + luma[2:]) / 2)
    return swings


def _flicker(signals: FrameSignals, blackish: np.ndarray) -> list[Defect]:
    swings = flicker_swings(signals)
    # A cut or a black edge swings brightness once; that is theirs, not flicker.
    # A cut swings brightness once: an isolated spike of change. Frames unrelated to both neighbours
    # (a garbage render) are no cut, and their swings count.
    high = signals.compensated >= CUT_MIN_CHANGE
    incoherent = high & np.roll(high, 1) & np.roll(high, -1)
    swinging = (swings > FLICKER_SWING) & ~blackish & (~high | incoherent)
    indices = np.flatnonzero(swinging)
    found, group = [], []
    for index in indices:
        if group and index - group[-1] > FLICKER_GAP:
            found += _flicker_group(signals, swings, group)
            group = []
        group.append(index)
    found += _flicker_group(signals, swings, group)
    return found


def _flicker_group(signals: FrameSignals, swings: np.ndarray, group: list[int]) -> list[Defect]:
    if len(group) < FLICKER_MIN_SWINGS:
        return []
    start, end = float(signals.times[group[0] - 1]), float(signals.times[min(group[-1] + 1, len(signals.times) - 1)])
    value = round(float(swings[group].max()), 2)
    return [Defect("flicker", round(start, 2), round(end, 2), value, "largest luma swing (levels)")]


def _local_median(values: np.ndarray, index: int, window: int, usable: np.ndarray) -> float:
    """Median of `values` around `index` (itself and its direct neighbours excluded, unusable frames too)."""
    picks = [i for i in range(max(1, index - window), min(len(values), index + 2 + window))
             if abs(i - index) > 1 and usable[i]]  # fmt: skip
    return float(np.median(values[picks])) if picks else 0.0


def _cuts_and_drops(signals: FrameSignals, fps: float, blackish: np.ndarray, frozen: list[Defect],
                    noisy: list[Defect]) -> tuple[list[Defect], list[Defect]]:  # fmt: skip
    cuts, drops = [], []
    compensated, shift = signals.compensated, signals.shift
    intervals = np.diff(signals.times)
    typical = float(np.median(intervals)) if len(intervals) else 1 / fps
    still = _mask_of(frozen, signals.times, pad=0.0)
    # a frozen stretch ends with a jump to wherever the picture went meanwhile: part of the freeze
    freeze_edges = _mask_of([Defect("", f.end, f.end, 0) for f in frozen], signals.times, pad=1.5 / fps)
    noise = _mask_of(noisy, signals.times, pad=1.5 / fps)
    usable = ~still & ~blackish & ~noise
    # frames too flat to compare (inside a fade): normalising them amplifies the encoder's noise
    dim = signals.contrast < DIM_CONTRAST
    for index in range(1, len(compensated)):
        at, before = float(signals.times[index]), float(signals.times[index - 1])
        if intervals[index - 1] > TIMESTAMP_GAP_RATIO * typical:
            drops.append(Defect("dropped_time", round(before, 2), round(at, 2), round(float(intervals[index - 1]), 3),
                                "time stamp gap (s)"))  # fmt: skip
            continue
        if blackish[index] or freeze_edges[index] or still[index] or noise[index]:
            continue
        change = float(compensated[index])
        local = _local_median(compensated, index, CUT_WINDOW, usable)
        if change >= CUT_MIN_CHANGE and change > CUT_CONTRAST_RATIO * local:
            faded = dim[index] or dim[index - 1]
            kind, detail = ("fade", "picture changed while faded out") if faded else ("cut", "compensated structural change")
            cuts.append(Defect(kind, round(at, 2), round(at, 2), round(change, 3), detail))
            continue
        local_shift = _local_median(shift, index, CUT_WINDOW, usable)
        shift_jump = shift[index] > max(DROP_SHIFT_MIN, DROP_SHIFT_RATIO * local_shift)
        change_jump = change >= DROP_MIN_CHANGE and change > DROP_CONTRAST_RATIO * max(local, 0.02)
        if (shift_jump or change_jump) and not (dim[index] or dim[index - 1]):
            value = round(float(shift[index]) if shift_jump else change, 3)
            detail = "camera shift jump (thumbnail px)" if shift_jump else "motion discontinuity (structural change)"
            drops.append(Defect("dropped_time", round(before, 2), round(at, 2), value, detail))
    cut_times = np.array([cut.start for cut in cuts])
    # an encoder spends its bits unevenly around a cut: a ripple next to it is the cut's, not a jump in time
    drops = [drop for drop in drops
             if not len(cut_times) or np.abs(cut_times - drop.end).min() > 2.5 / fps or drop.detail.startswith("time")]
    return cuts, drops


def _noise(signals: FrameSignals, fps: float) -> list[Defect]:
    noise = signals.noise
    median = float(np.median(noise))
    noisy = (noise > NOISE_SIGMA_GARBAGE) | ((noise > NOISE_SIGMA_FLOOR) & (noise > NOISE_SIGMA_RATIO * median))
    # every frame unrelated to the one before and the one after: garbage, whatever its pixel noise
    high = signals.compensated >= CUT_MIN_CHANGE
    noisy |= high & np.roll(high, -1) & np.roll(high, 1)
    found = []
    for first, last in _runs(noisy):
        if last - first + 1 < NOISE_MIN_FRAMES:
            continue
        found.append(Defect("noise", round(float(signals.times[first]), 2), round(_end_of(signals, last, fps), 2),
                            round(float(noise[first : last + 1].max()), 2), "noise sigma (levels)"))  # fmt: skip
    return found
