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
