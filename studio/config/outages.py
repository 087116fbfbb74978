"""A dependency that is down answers 503 with Retry-After: the request may well succeed once Redis
or the database is back, so clients are told when to try again instead of shown a server error.

Which errors mean "down" is said once, here. The API answers them in its JSON error body
(`studio.config.api`); pages answer a short page through the middleware below.
"""

import logging

import kombu.exceptions
import redis.exceptions
from django.db import InterfaceError, OperationalError
from django.utils.deprecation import MiddlewareMixin

from studio.config.error_pages import error_page

logger = logging.getLogger(__name__)

DEPENDENCY_DOWN_ERRORS = (
    redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,  # the cache, the channel layer, provider health
    kombu.exceptions.OperationalError,  # the Celery broker
    OperationalError, InterfaceError,  # the database
)
RETRY_AFTER_SECONDS = 30


def dependency_down_log(request, exc: Exception) -> None:
    # One line, no traceback: during an outage every request ends here.
    logger.warning("%s %s answered 503, a dependency is down: %r", request.method, request.path, exc)


class DependencyDownPages(MiddlewareMixin):
    """A page whose view finds Redis, the broker or the database down answers a 503 page."""

    def process_exception(self, request, exception):
        if not isinstance(exception, DEPENDENCY_DOWN_ERRORS):
            return None
        dependency_down_log(request, exception)
        response = error_page("503.html", status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response
