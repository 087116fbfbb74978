from django import template

register = template.Library()


@register.filter
def words(name: str) -> str:
    """A metric or check name as words: "motion_smoothness" → "Motion smoothness"."""
    text = str(name).replace("_", " ").strip()
    return text[:1].upper() + text[1:]


@register.filter
def metric_value(value) -> str:
    """A raw metric value for people: numbers rounded, detections listed, nothing as "none found"."""
    if isinstance(value, bool) or value is None:
        return "—" if value is None else ("yes" if value else "no")
    if isinstance(value, float):
        return f"{value:.3g}"
    if isinstance(value, dict):
        return ", ".join(f"{key} ({score:.2f})" if isinstance(score, float) else str(key) for key, score in value.items()) or "none found"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(item) for item in value) or "none found"
    return str(value)


DEFECT_LABELS = {
    "black": "Black", "fade": "Fade", "frozen": "Frozen", "flicker": "Flicker", "cut": "Cut",
    "dropped_time": "Missing time", "noise": "Noise", "truncated": "Cut off", "undecodable": "Unreadable",
    "duration": "Wrong length", "size": "Wrong shape",
}  # fmt: skip
WHOLE_CLIP_KINDS = frozenset({"duration", "size", "undecodable"})  # listed, not placed on the timeline


@register.filter
def defect_timeline(evaluation) -> dict | None:
    """The stored defects placed on a 0-100 % timeline of the clip, for the strip under the player."""
    defects = (evaluation or {}).get("defects") or [] if isinstance(evaluation, dict) else []
    if not defects:
        return None
    length = max([defect["end"] for defect in defects] + [_measured_seconds(evaluation), 0.01])
    placed, listed = [], []
    for defect in defects:
        label = DEFECT_LABELS.get(defect["kind"], defect["kind"])
        start, end = float(defect["start"]), float(defect["end"])
        span = f"{start:.1f} s" if end - start < 0.05 else f"{start:.1f}–{end:.1f} s"
        entry = {"kind": defect["kind"], "label": label, "span": span, "value": defect["value"],
                 "detail": defect.get("detail", ""), "notice": defect["kind"] == "fade"}  # fmt: skip
        listed.append(entry)
        if defect["kind"] not in WHOLE_CLIP_KINDS:
            left = 100 * start / length
            placed.append({**entry, "left": f"{left:.2f}", "width": f"{max(0.8, 100 * (end - start) / length):.2f}"})
    return {"seconds": f"{length:.1f}", "placed": placed, "listed": listed}


def _measured_seconds(evaluation: dict) -> float:
    value = (evaluation.get("technical") or {}).get("duration", {}).get("value")
    return float(value) if isinstance(value, (int, float)) else 0.0


@register.filter
def timecode(milliseconds) -> str:
    """A time in a video for people: 2000 → "0:02", 75500 → "1:16" (to the nearest second)."""
    if milliseconds is None or milliseconds == "":
        return ""
    seconds = round(int(milliseconds) / 1000)
    return f"{seconds // 60}:{seconds % 60:02d}"


@register.filter
def percent_of_seconds(milliseconds, seconds) -> int:
    """Where a time falls in a video of `seconds`, in whole percent (for a timeline marker)."""
    try:
        return max(0, min(100, round(int(milliseconds) / (int(seconds) * 10))))
    except (TypeError, ValueError, ZeroDivisionError):
        return 0
