"""evaluate_take_video: every metric for one stored take, its defects, its gates and its aggregate.

One decoding pass (frames.py) gives per-frame signals over the whole clip and a few sampled frames.
The signals become time-stamped defects (defects.py), which the technical checks and the temporal
gates read; the sampled frames feed motion, aesthetics, safety and CLIP. With `media_dir` the same
pass also yields the poster, thumbnail and animated preview. A take that fails a hard gate is not
passed, whatever its aggregate, and its aggregate is scaled into 0-20. The outcome is pass, needs
review (a doubtful flag: delivered, the creator decides) or block; reasons come most specific first
(outcome.py). The soundtrack is checked from its own audio packets (audio.py).
"""

from dataclasses import dataclass, field
from pathlib import Path

from jobs.evaluation.aesthetics import aesthetics_measure
from jobs.evaluation.aggregate import aggregate_compute
from jobs.evaluation.alignment import clip_metrics_measure
from jobs.evaluation.audio import audio_defects
from jobs.evaluation.defects import Defect, defects_find
from jobs.evaluation.frames import FramesUnreadable, VideoFrames, video_frames_read
from jobs.evaluation.metric import Metric, metric_unavailable
from jobs.evaluation.motion import motion_measure
from jobs.evaluation.outcome import evaluation_outcome, verdict_outcome, verdicts_ordered
from jobs.evaluation.safety import UNSAFE_LABELS, UNSAFE_MIN_SCORE, LabelThreshold, safety_gate, safety_measure
from jobs.evaluation.technical import TechnicalEvaluation, technical_from_frames, technical_undecodable
from jobs.evaluation.temporal import FLICKER_SHARE_LIMIT, flicker_measure, hard_cuts_measure

METRIC_NAMES = (
    "flicker", "hard_cuts", "motion_magnitude", "motion_smoothness", "dynamic_degree", "sharpness", "exposure",
    "contrast", "colourfulness", "safety", "prompt_alignment", "character_consistency", "audio",
)  # fmt: skip


@dataclass(frozen=True)
class EvaluationGates:
    """Which failures stop a take outright, whatever its aggregate."""

    technical: bool = True  # decodes, duration, size, not black, not frozen
    safety: bool = True  # fails closed: a detector that cannot run fails the gate
    unsafe_labels: frozenset[str] = UNSAFE_LABELS
    unsafe_min_score: float = UNSAFE_MIN_SCORE
    safety_thresholds: tuple[tuple[str, LabelThreshold], ...] = ()  # per-label (review, block) overrides
    audio: bool = True  # sound asked for but missing or silent, heavy clipping, sound and picture lengths apart
    hard_cuts: bool = True
    max_hard_cuts: int = 0  # raise for a request that asks for cuts
    flicker: bool = True
    max_flicker_share: float = FLICKER_SHARE_LIMIT  # kept for callers; any flickering segment now fails
    dropped_time: bool = True  # time stamp gaps and motion jumping ahead inside one shot
    noise: bool = True  # frames drowned in noise


DEFAULT_GATES = EvaluationGates()


@dataclass(frozen=True)
class TakeEvaluation:
    passed: bool
    failure_reason: str  # "" when passed; otherwise the first failing gate's reason, for the creator
    aggregate: float | None  # 0-100 over the available scores; None when nothing could be scored
    technical: TechnicalEvaluation
    metrics: dict[str, Metric]
    gates: dict[str, dict] = field(default_factory=dict)  # per gate: passed, reason
    weights: dict[str, float] = field(default_factory=dict)  # the re-normalised weights applied
    defects: list[Defect] = field(default_factory=list)  # time-stamped, fades included (not failing)
    media: dict[str, Path] = field(default_factory=dict)  # poster, thumbnail, preview when asked for
    outcome: str = "pass"  # pass, needs_review (delivered, the creator decides) or block
    reasons: list[str] = field(default_factory=list)  # every failing gate's reason, most specific first

    @property
    def scores(self) -> dict[str, float]:
        return {name: metric.score for name, metric in self.metrics.items() if metric.score is not None}

    def as_dict(self) -> dict:
        """JSON-serialisable; `technical` and `passed` keep the shape stored on takes before."""
        return {
            "passed": self.passed,
            "failure_reason": self.failure_reason,
            "aggregate": self.aggregate,
            "technical": self.technical.checks,
            "metrics": {name: metric.as_dict() for name, metric in self.metrics.items()},
            "gates": self.gates,
            "weights": self.weights,
            "defects": [defect.as_dict() for defect in self.defects],
            "outcome": self.outcome,
            "reasons": self.reasons,
        }


def evaluate_take_video(
    path: Path, *, expected_duration_seconds: float, expected_width: int, expected_height: int, prompt: str = "",
    reference_images: tuple[Path, ...] = (), clip_model_dir: str | None = None,
    weights: dict[str, float] | None = None, gates: EvaluationGates = DEFAULT_GATES, media_dir: Path | None = None,
    expects_audio: bool = False,
) -> TakeEvaluation:  # fmt: skip
    expected = {"expected_duration_seconds": expected_duration_seconds, "expected_width": expected_width,
                "expected_height": expected_height}  # fmt: skip
    try:
        frames = video_frames_read(Path(path), preview_frames=PREVIEW_FRAMES if media_dir else 0)
    except FramesUnreadable as failure:
        technical = technical_undecodable(failure.detail, failure.reason)
        frames, defects = None, [Defect("undecodable", 0.0, 0.0, 0, failure.detail)]
    else:
        defects = defects_find(frames, expected_seconds=expected_duration_seconds,
                               expected_size=(expected_width, expected_height))  # fmt: skip
        technical = technical_from_frames(frames, defects, **expected)
    metrics, detections = _metrics_measure(frames, defects, technical, prompt, tuple(reference_images), clip_model_dir)
    verdicts = _gates_check(gates, technical, metrics, detections, defects)
    if technical.checks["decodes"]["passed"]:  # else every metric, audio too, is already unavailable
        audio = audio_defects(Path(path), expects_audio=expects_audio,
                              video_duration_seconds=technical.checks["duration"]["value"])  # fmt: skip
        metrics["audio"] = audio.as_metric()
        if gates.audio:
            verdicts["audio"] = audio.as_gate()
    outcome, reasons = evaluation_outcome(verdicts)
    aggregate = aggregate_compute({name: metric.score for name, metric in metrics.items()}, weights,
                                  failed_gate=outcome == "block")  # fmt: skip
    media = _media_write(frames, media_dir) if media_dir and frames is not None else {}
    return TakeEvaluation(
        passed=outcome == "pass", failure_reason=reasons[0] if reasons else "", aggregate=aggregate.value,
        technical=technical, metrics=metrics, gates=verdicts_ordered(verdicts), weights=aggregate.weights,
        defects=defects, media=media, outcome=outcome, reasons=reasons,
    )  # fmt: skip


PREVIEW_FRAMES = 12


def _media_write(frames: VideoFrames, media_dir: Path) -> dict[str, Path]:
    # Pillow only; kept out of the plain evaluation import
    from jobs.media import media_from_frames

    return media_from_frames(frames.poster, frames.preview, Path(media_dir))


def _metrics_measure(
    frames: VideoFrames | None, defects: list[Defect], technical: TechnicalEvaluation, prompt: str,
    reference_images: tuple[Path, ...], clip_model_dir: str | None,
) -> tuple[dict[str, Metric], list | None]:  # fmt: skip
    if frames is None or not technical.checks["decodes"]["passed"]:
        return _all_unavailable("the video could not be decoded"), None
    magnitude, smoothness, dynamic = motion_measure(frames)
    safety, detections = safety_measure(frames.stills)
    return {
        "flicker": flicker_measure(frames, defects),
        "hard_cuts": hard_cuts_measure(defects),
        "motion_magnitude": magnitude,
        "motion_smoothness": smoothness,
        "dynamic_degree": dynamic,
        **aesthetics_measure(frames.stills),
        "safety": safety,
        **clip_metrics_measure(frames.stills, prompt=prompt, reference_images=reference_images,
                               clip_model_dir=clip_model_dir),  # fmt: skip
    }, detections


def _all_unavailable(reason: str) -> dict[str, Metric]:
    return {name: metric_unavailable(unit="", explanation="", reason=reason) for name in METRIC_NAMES}


def _gates_check(gates: EvaluationGates, technical: TechnicalEvaluation, metrics: dict[str, Metric],
                 detections: list | None, defects: list[Defect]) -> dict[str, dict]:  # fmt: skip
    verdicts = {}
    if gates.technical:
        verdicts["technical"] = {"passed": technical.passed, "reason": technical.failure_reason}
    if gates.safety:
        verdicts["safety"] = _safety_verdict(gates, metrics["safety"], detections)
    if gates.hard_cuts and metrics["hard_cuts"].available:
        cuts = metrics["hard_cuts"]
        reason = f"The video cuts abruptly to a different picture at {_seconds(cuts.detail['at_seconds'])}."
        verdicts["hard_cuts"] = _verdict(cuts.value <= gates.max_hard_cuts, reason)
    if gates.flicker and metrics["flicker"].available:
        segments = [defect for defect in defects if defect.kind == "flicker"]
        reason = f"The picture flickers {_when(segments)}: its brightness keeps jumping from frame to frame."
        verdicts["flicker"] = _verdict(not segments, reason)
    decoded = technical.checks["decodes"]["passed"]
    if gates.dropped_time and decoded:
        drops = [defect for defect in defects if defect.kind == "dropped_time"]
        verdicts["dropped_time"] = _verdict(not drops, f"Time is missing from the video {_when(drops)}: it jumps ahead.")
    if gates.noise and decoded:
        noisy = [defect for defect in defects if defect.kind == "noise"]
        verdicts["noise"] = _verdict(not noisy, f"The picture dissolves into noise {_when(noisy)}.")
    return verdicts


def _when(defects: list[Defect]) -> str:
    return ", ".join(defect.when for defect in defects)


def _safety_verdict(gates: EvaluationGates, metric: Metric, detections: list | None) -> dict:
    if detections is None:
        if not metric.reason:  # the video never got as far as safety: the technical gate says why
            return {**_verdict(False, "The video could not be checked for safety."), "unchecked": True}
        return {**_verdict(False, f"The video could not be checked for safety: {metric.reason}."), "unchecked": True}
    return safety_gate(detections, unsafe_labels=gates.unsafe_labels, min_score=gates.unsafe_min_score,
                       overrides=dict(gates.safety_thresholds)).as_gate()  # fmt: skip


def _verdict(passed: bool, reason: str) -> dict:
    return {"passed": passed, "reason": "" if passed else reason}


def _seconds(at: list[float]) -> str:
    return ", ".join(f"{second:g} s" for second in at)


def evaluation_failed_check(evaluation: dict) -> tuple[str, str]:
    """(name, reason) of the first hard check a stored evaluation (`as_dict`) failed: a technical
    check by its own name (decodes, duration, size, not_black, not_frozen), else the gate's name
    (safety, hard_cuts, flicker)."""
    for gate, verdict in verdicts_ordered(evaluation.get("gates", {})).items():
        if verdict_outcome(verdict) != "block":  # a doubtful flag is the creator's to judge, never a failure
            continue
        if gate == "technical":
            failed = [name for name, check in evaluation.get("technical", {}).items() if not check["passed"]]
            return (failed[0] if failed else gate), verdict["reason"]
        return gate, verdict["reason"]
    return "technical", evaluation.get("failure_reason", "")
