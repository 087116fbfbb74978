from django import template

register = template.Library()


@register.filter
def words(name: str) -> str:
    """A metric or check name as words: "motion_smoothness" → "Motion smoothness"."""
    text = str(name).replace("_", " ").strip()
    return text[:1].upper() + text[1:]
