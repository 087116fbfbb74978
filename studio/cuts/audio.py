"""Sound for a cut, with no key and no network: a local voice (eSpeak NG, loaded from the
`espeakng-loader` wheel), a local music bed, the takes' own sound (native-audio models), and the
mix: music ducked under speech and under a take's own sound, the whole normalised to the target
integrated loudness (ITU-R BS.1770 through pyloudnorm).

Everything here is deterministic: the same lines and settings give the same samples, so the
cut's inputs hash covers the sound too. Arrays are float32 at 48 kHz; mono for sources,
(2, samples) for the mix.
"""

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 48_000
DUCK_DB = -14.0  # the bed under speech, below its own level
SPEECH_LEVEL_DB = -3.0
PEAK_CEILING = 0.97
EDGE_FADE_SECONDS = 0.01  # a take's sound starts and stops without a click


class VoiceUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class SpeechPlacement:
    start_sample: int
    samples: np.ndarray  # mono float32 at RATE


def local_voice(text: str, *, voice: str = "en") -> np.ndarray:
    """The line spoken by eSpeak NG, mono float32 at 48 kHz.

    Each line is spoken by a fresh process: eSpeak NG carries state from one utterance to the
    next (the same line came out a few samples different on a second call, whatever the seeds),
    and a cut must sound the same every time it is rendered.
    """
    try:
        result = subprocess.run([sys.executable, "-m", "studio.cuts.espeak", voice], input=text.encode("utf-8"),
                                capture_output=True, timeout=60, check=True)
    except subprocess.CalledProcessError as error:
        raise VoiceUnavailable(f"The local voice failed: {error.stderr.decode(errors='replace')[-300:]}") from error
    native_rate = int.from_bytes(result.stdout[:4], "little")
    speech = np.frombuffer(result.stdout[4:], dtype="<i2").astype(np.float32) / 32768.0
    return resample(speech, native_rate, RATE)


def resample(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    if source_rate == target_rate or not len(samples):
        return samples.astype(np.float32)
    count = round(len(samples) * target_rate / source_rate)
    positions = np.arange(count) * (source_rate / target_rate)
    return np.interp(positions, np.arange(len(samples)), samples).astype(np.float32)


def local_music_bed(seconds: float, *, seed: int) -> np.ndarray:
    """A soft chord pad (a four-chord loop picked by `seed`), mono float32 at 48 kHz, peak 0.5."""
    progressions = [(0, 7, 9, 5), (0, 5, 7, 5), (9, 5, 0, 7), (0, 9, 5, 7)]
    roots = progressions[seed % len(progressions)]
    count = int(seconds * RATE)
    t = np.arange(count) / RATE
    bed = np.zeros(count, dtype=np.float64)
    chord_samples = 2 * RATE
    for index, start in enumerate(range(0, count, chord_samples)):
        root = 220.0 * 2 ** (roots[index % 4] / 12)
        span = slice(start, min(count, start + chord_samples))
        local = t[span] - t[start]
        envelope = np.minimum(1, local / 0.3) * np.minimum(1, (2.0 - local) / 0.3).clip(0, 1)
        for ratio, level in ((1, 1.0), (1.25, 0.6), (1.5, 0.7), (0.5, 0.8)):
            bed[span] += level * envelope * np.sin(2 * np.pi * root * ratio * local)
    peak = np.abs(bed).max() or 1.0
    return (0.5 * bed / peak).astype(np.float32)


def take_sound(path: Path, *, in_seconds: float, out_seconds: float) -> np.ndarray:
    """The take's own sound between its in and out points, mono float32 at 48 kHz (silence where it runs short)."""
    from jobs.evaluation.audio import SAMPLE_RATE, audio_samples_read

    recorded = audio_samples_read(path)
    span = np.zeros(round((out_seconds - in_seconds) * RATE), dtype=np.float32)
    if recorded is not None:
        mono = recorded[round(in_seconds * SAMPLE_RATE): round(out_seconds * SAMPLE_RATE)].mean(axis=1)
        mono = resample(mono, SAMPLE_RATE, RATE)[: len(span)]
        span[: len(mono)] = mono
    return span


def edge_faded(samples: np.ndarray, *, fade_in_seconds: float, fade_out_seconds: float) -> np.ndarray:
    """Linear fades at both ends, at least EDGE_FADE_SECONDS long (a crossfade's or a dip's length where there is one)."""
    faded = samples.copy()
    for seconds, at_start in ((fade_in_seconds, True), (fade_out_seconds, False)):
        count = min(len(faded), round(max(seconds, EDGE_FADE_SECONDS) * RATE))
        ramp = np.linspace(0, 1, count, endpoint=False, dtype=np.float32)
        if at_start:
            faded[:count] *= ramp
        elif count:
            faded[-count:] *= ramp[::-1]
    return faded


def speech_seconds(samples: np.ndarray) -> float:
    return len(samples) / RATE


def mix(*, total_samples: int, speech: list[SpeechPlacement], music: np.ndarray | None, music_db: float,
        target_lufs: float, takes_sound: list[SpeechPlacement] = ()) -> np.ndarray:
    """Speech and the takes' own sound over the bed, the bed ducked under both, normalised to `target_lufs`.

    The voice-over is brought to SPEECH_LEVEL_DB peak; a take's sound keeps its own level (its
    dialogue and ambience were mixed by its model), so only the whole is normalised.
    """
    speech_track = _placed(speech, total_samples)
    if speech:
        speech_track *= _db(SPEECH_LEVEL_DB) / max(np.abs(speech_track).max(), 1e-6)
    own_track = _placed(takes_sound, total_samples)
    bed = np.zeros(total_samples, dtype=np.float32)
    if music is not None and len(music):
        bed[: min(total_samples, len(music))] = music[:total_samples]
        bed *= _db(music_db) * duck_gain(speech_track + own_track)
    mono = speech_track + own_track + bed
    stereo = np.vstack([mono, mono])
    return loudness_normalise(stereo, target_lufs)


def _placed(placements: list[SpeechPlacement], total_samples: int) -> np.ndarray:
    track = np.zeros(total_samples, dtype=np.float32)
    for placement in placements:
        end = min(total_samples, placement.start_sample + len(placement.samples))
        track[placement.start_sample:end] += placement.samples[: end - placement.start_sample]
    return track


def duck_gain(speech_track: np.ndarray) -> np.ndarray:
    """Per-sample gain for the bed: DUCK_DB while speech sounds, easing in and out over ~150 ms."""
    window = RATE // 50  # 20 ms
    padded = np.pad(np.abs(speech_track), (0, (-len(speech_track)) % window))
    active = padded.reshape(-1, window).max(axis=1) > 0.01
    kernel = np.ones(8) / 8  # ~160 ms of smoothing on 20 ms blocks
    held = np.convolve(active.astype(np.float64), np.ones(15), mode="same") > 0  # a pause of <300 ms stays ducked
    smooth = np.convolve(held.astype(np.float64), kernel, mode="same")
    blocks = 1 - smooth * (1 - _db(DUCK_DB))
    return np.repeat(blocks, window)[: len(speech_track)].astype(np.float32)


def loudness_normalise(stereo: np.ndarray, target_lufs: float) -> np.ndarray:
    """Gain to the target integrated loudness, peaks kept under the ceiling by a soft limiter."""
    import pyloudnorm

    meter = pyloudnorm.Meter(RATE)
    out = stereo.astype(np.float64)
    for _ in range(4):  # limiting lowers loudness a little: measure again and make it up
        loudness = meter.integrated_loudness(out.T)
        if not np.isfinite(loudness):
            return stereo.astype(np.float32)  # silence stays silence
        out = out * _db(target_lufs - loudness)
        out = _soft_limit(out)
        if abs(meter.integrated_loudness(out.T) - target_lufs) < 0.2:
            break
    return out.astype(np.float32)


def _soft_limit(samples: np.ndarray) -> np.ndarray:
    over = np.abs(samples) > PEAK_CEILING * 0.8
    if not over.any():
        return samples
    knee = PEAK_CEILING * 0.8
    headroom = PEAK_CEILING - knee
    limited = samples.copy()
    magnitude = np.abs(samples[over]) - knee
    limited[over] = np.sign(samples[over]) * (knee + headroom * np.tanh(magnitude / headroom))
    return limited


def _db(value: float) -> float:
    return float(10 ** (value / 20))
