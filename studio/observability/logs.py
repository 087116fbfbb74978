"""Structured logs: every line (ours, Django's, Celery's) through structlog's formatter, as JSON in
production (LOG_FORMAT=json) or readable text elsewhere, with what is bound for the current
request or task merged in: request_id and user_id for a request, task_id, task and take_id for a
Celery task. The codebase keeps logging through the standard library; binding is done here once.
"""

import logging
import time
import uuid

import structlog
from structlog.contextvars import bind_contextvars, bound_contextvars, clear_contextvars

REQUEST_ID_HEADER = "X-Request-ID"
TAKE_TASK_PREFIX = "jobs.take_"
logger = logging.getLogger("shotcraft.requests")
task_logger = logging.getLogger("shotcraft.tasks")

_SHARED = [
    structlog.contextvars.merge_contextvars,
    structlog.stdlib.add_log_level,
    structlog.stdlib.add_logger_name,
    structlog.stdlib.ExtraAdder(),
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def logging_config(*, json_lines: bool, level: str) -> dict:
    """settings.LOGGING: one console handler whose formatter renders JSON or text."""
    renderer = structlog.processors.JSONRenderer() if json_lines else structlog.dev.ConsoleRenderer(colors=False)
    tail = [structlog.processors.dict_tracebacks] if json_lines else []
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"structured": {
            "()": structlog.stdlib.ProcessorFormatter, "foreign_pre_chain": _SHARED,
            "processors": [structlog.stdlib.ProcessorFormatter.remove_processors_meta, *tail, renderer],
        }},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "structured"}},
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.channels.server": {"level": "WARNING"}},
    }


def structlog_configure() -> None:
    structlog.configure(
        processors=[*_SHARED, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(), wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


class RequestContext:
    """Binds a request id (the proxy's X-Request-ID, else a new one, echoed back) and the user id
    for every line logged while the request runs, then logs the request itself in one line. It sits
    after the authentication middleware, so the user is known."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        clear_contextvars()
        request_id = (request.headers.get(REQUEST_ID_HEADER) or uuid.uuid4().hex)[:64]
        started = time.monotonic()
        user_id = _user_id(request)
        with bound_contextvars(request_id=request_id, user_id=user_id):
            request.request_id = request_id
            response = self.get_response(request)
            logger.info("request", extra={"method": request.method, "path": request.path, "status": response.status_code,
                                          "duration_ms": int((time.monotonic() - started) * 1000)})
        response[REQUEST_ID_HEADER] = request_id
        return response


def _user_id(request) -> int | None:
    """The signed-in user's id; None when anonymous, or when the session cannot be read because the
    database is down: the view then meets the same error and answers with the outage page."""
    from studio.config.outages import DEPENDENCY_DOWN_ERRORS

    user = getattr(request, "user", None)
    try:
        return user.pk if user is not None and user.is_authenticated else None
    except DEPENDENCY_DOWN_ERRORS:
        return None


_task_started: dict[str, float] = {}


def task_context_bind(task_id: str, task, args=None, kwargs=None, **_) -> None:
    """celery task_prerun: task id and name, and the take a pipeline task works on."""
    clear_contextvars()
    bind_contextvars(task_id=task_id, task=task.name)
    take_id = (kwargs or {}).get("take_id") or (args[0] if task.name.startswith(TAKE_TASK_PREFIX) and args else None)
    if take_id is not None:
        bind_contextvars(take_id=take_id)
    _task_started[task_id] = time.monotonic()


def task_context_clear(task_id: str, task, state=None, **_) -> None:
    """celery task_postrun: one line per task run with its outcome and duration, then unbind."""
    started = _task_started.pop(task_id, None)
    task_logger.info("task finished", extra={"state": state,
                                             "duration_ms": int((time.monotonic() - started) * 1000) if started else None})
    clear_contextvars()
