"""manage.py evaluate_video PATH --duration S --aspect A [--prompt TEXT] [--audio] [--json]

Runs the take quality gate on any file: ops check a vendor's output or re-check a disputed take.
The expected size is the file's own size when it has the requested aspect ratio (providers pick
their resolution), otherwise the requested shape at the file's width, as the pipeline does.
The soundtrack is always measured (`jobs.evaluation.audio.audio_defects`, inside the evaluation);
`--audio` says the take asked for sound, so a missing or silent track fails like it would in the pipeline.
"""

import json as jsonlib
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from jobs.evaluation import evaluate_take_video
from jobs.media import expected_size_for, video_size


class Command(BaseCommand):
    help = "Evaluate a video file with the take quality gate: verdict, defects with time ranges, metrics, score."

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--duration", type=float, required=True, help="requested length in seconds")
        parser.add_argument("--aspect", required=True, help="requested aspect ratio, e.g. 16:9")
        parser.add_argument("--prompt", default="", help="prompt for CLIP alignment (needs CLIP_MODEL_DIR)")
        parser.add_argument("--audio", action="store_true", help="the take asked for sound")
        parser.add_argument("--json", action="store_true", help="print one JSON object")

    def handle(self, *args, path, duration, aspect, prompt, audio, json: bool, **options):
        video = Path(path)
        if not video.is_file():
            raise CommandError(f"{path} is not a file")
        try:
            width, height = expected_size_for(aspect, video_size(video))
        except (ValueError, ZeroDivisionError) as error:
            raise CommandError(f"--aspect must look like 16:9 ({error})") from error
        except Exception:  # noqa: BLE001 - an unreadable file still gets its verdict below
            width, height = 1, 1
        result = evaluate_take_video(
            video, expected_duration_seconds=duration, expected_width=width, expected_height=height, prompt=prompt,
            clip_model_dir=settings.CLIP_MODEL_DIR, weights=settings.EVALUATION_WEIGHTS or None, expects_audio=audio,
        )  # fmt: skip
        report = _report(result, audio)
        if json:
            self.stdout.write(_json_dumps(report))
            return
        self.stdout.write(_text(report, result.failure_reason))


def _report(result, audio: bool) -> dict:
    stored = result.as_dict()
    sound = _audio_report(stored, audio)
    pictures = [{key: defect[key] for key in ("kind", "start", "end", "value", "detail")} for defect in stored["defects"]]
    return {
        "passed": result.passed,
        "outcome": result.outcome,
        "reason": result.failure_reason,
        "defects": sorted(pictures + [{**defect, "detail": "soundtrack"} for defect in sound["defects"]],
                          key=lambda defect: (defect["start"], defect["kind"])),  # fmt: skip
        "metrics": {name: {"value": metric["value"], "unit": metric["unit"], "score": metric["score"],
                           "available": metric["available"], "reason": metric["reason"]}
                    for name, metric in stored["metrics"].items()},  # fmt: skip
        "checks": stored["technical"],
        "gates": stored["gates"],
        "score": result.aggregate,
        "audio": sound,
    }


def _audio_report(stored: dict, requested: bool) -> dict:
    """The audio dimension as `jobs.evaluation.audio.audio_defects` measured it inside the evaluation."""
    metric = stored["metrics"]["audio"]
    detail = metric.get("detail") or {}
    gate = stored["gates"].get("audio", {})
    return {
        "requested": requested,
        "analysed": metric["available"],
        "reason": metric["reason"],  # why there is nothing to analyse (no soundtrack, undecodable video)
        "passed": gate.get("passed", True),
        "verdict": gate.get("reason", ""),
        "loudness_lufs": metric["value"],
        "peak_dbfs": detail.get("peak_dbfs"),
        "clipped_share": detail.get("clipped_share"),
        "duration_seconds": detail.get("duration_seconds"),
        "defects": gate.get("defects", detail.get("defects", [])),
    }


def _json_dumps(report: dict) -> str:
    return jsonlib.dumps(report, indent=2, default=str)


def _text(report: dict, reason: str) -> str:
    lines = [f"Verdict: {report['outcome'].upper()}" + (f" — {reason}" if reason else "")]
    lines.append(f"Score: {report['score'] if report['score'] is not None else 'n/a'} / 100")
    lines.append("Defects:" if report["defects"] else "Defects: none")
    for defect in report["defects"]:
        span = f"{defect['start']:.2f} s" if defect["end"] == defect["start"] else f"{defect['start']:.2f}–{defect['end']:.2f} s"
        lines.append(f"  {defect['kind']:<13} {span:<16} {defect['value']}  {defect['detail']}")
    lines.append("Metrics:")
    for name, metric in report["metrics"].items():
        shown = metric["value"] if metric["available"] else f"unavailable ({metric['reason']})"
        score = "" if metric["score"] is None else f"  score {metric['score']:.2f}"
        lines.append(f"  {name:<22} {shown} {metric['unit'] if metric['available'] else ''}{score}")
    lines.append(_audio_line(report["audio"]))
    return "\n".join(lines)


def _audio_line(sound: dict) -> str:
    asked = "asked for" if sound["requested"] else "not asked for"
    if not sound["analysed"]:
        return f"Audio ({asked}): not analysed, {sound['reason']}" + (f" — {sound['verdict']}" if sound["verdict"] else "")
    loudness = "n/a" if sound["loudness_lufs"] is None else f"{sound['loudness_lufs']} LUFS"
    verdict = "passes" if sound["passed"] else f"fails — {sound['verdict']}"
    kinds = ", ".join(defect["kind"] for defect in sound["defects"]) or "no defects"
    return (f"Audio ({asked}): {verdict}; loudness {loudness}, peak {sound['peak_dbfs']} dBFS, "
            f"{sound['duration_seconds']} s; {kinds}")
