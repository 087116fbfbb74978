"""When a database connection runs short or breaks: a 503 for requests.

PostgreSQL connections come from a pool of at most DATABASE_POOL_MAX_SIZE per process (settings).
A request or task that finds the pool empty waits up to DATABASE_POOL_TIMEOUT_SECONDS for one. If
none frees up in time, or the server refuses or drops the connection, trying again later can
succeed: a browser or API client is told so (503 with Retry-After, never a 500).
"""

import logging

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse

logger = logging.getLogger(__name__)

# Django's wrappers of what the driver raises for a connection refused, dropped or not had in time
# (psycopg_pool.PoolTimeout is an OperationalError), and for transient server-side failures.
DATABASE_CONNECTION_ERRORS = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 5


def database_unavailable_response() -> HttpResponse:
    response = HttpResponse("Shotcraft is busy. Please try again in a few seconds.", status=503,
                            content_type="text/plain; charset=utf-8")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware:
    """A view that could not get (or keep) a database connection answers 503, not 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DATABASE_CONNECTION_ERRORS):
            return None
        logger.warning("database unavailable for %s %s: %s", request.method, request.path, exception)
        return database_unavailable_response()
