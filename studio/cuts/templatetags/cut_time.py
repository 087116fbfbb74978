from django import template

register = template.Library()


@register.filter
def seconds(milliseconds) -> str:
    """1500 → "1.5": milliseconds as seconds for a form field, without float noise."""
    return f"{int(milliseconds or 0) / 1000:g}"
