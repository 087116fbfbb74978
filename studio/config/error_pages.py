"""The site's own HTML answers for requests it cannot serve, outside any view.

They render without the request's context: the context processors read the database, which may
be what is down. The API answers the same cases in its JSON error body (`studio.config.api`).
"""

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from django.template.defaultfilters import filesizeformat
from django.template.loader import render_to_string
from django.views import defaults


def upload_limit() -> str:
    """DATA_UPLOAD_MAX_MEMORY_SIZE for people: "12.0 MB"."""
    return filesizeformat(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)


def error_page(template: str, *, status: int, **context) -> HttpResponse:
    return HttpResponse(render_to_string(f"errors/{template}", context), status=status)


def bad_request(request, exception=None):
    """handler400. Django reports a body over DATA_UPLOAD_MAX_MEMORY_SIZE as a 400; it is a 413."""
    if isinstance(exception, RequestDataTooBig):
        return error_page("413.html", status=413, limit=upload_limit())
    return defaults.bad_request(request, exception)
