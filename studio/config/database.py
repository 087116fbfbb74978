"""When a database connection runs short or breaks: a later retry for tasks.

PostgreSQL connections come from a pool of at most DATABASE_POOL_MAX_SIZE per process (settings).
A request or task that finds the pool empty waits up to DATABASE_POOL_TIMEOUT_SECONDS for one. If
none frees up in time, or the server refuses or drops the connection, trying again later can
succeed: a request is answered 503 with Retry-After (studio.config.outages), and a Celery task on
DatabaseRetryTask runs again after a growing pause.
"""

import logging
import random

from celery import Task
from django.db import InterfaceError, OperationalError, close_old_connections

logger = logging.getLogger(__name__)

# Django's wrappers of what the driver raises for a connection refused, dropped or not had in time
# (psycopg_pool.PoolTimeout is an OperationalError), and for transient server-side failures.
DATABASE_CONNECTION_ERRORS = (OperationalError, InterfaceError)
DATABASE_RETRY_PAUSE_MAX_SECONDS = 60


def database_retry_pause(retries: int) -> float:
    """1, 2, 4… seconds up to DATABASE_RETRY_PAUSE_MAX_SECONDS, each cut by up to half at random so
    the tasks that lost the database together do not all come back at the same moment."""
    ceiling = min(DATABASE_RETRY_PAUSE_MAX_SECONDS, 2 ** retries)
    return ceiling * random.uniform(0.5, 1.0)


class DatabaseRetryTask(Task):
    """A task that runs again later when it loses its database connection (base=DatabaseRetryTask).

    Only DATABASE_CONNECTION_ERRORS are retried; the task must be safe to run twice, as every task
    of ours is. Celery counts all of a task's retries together, so `database_retries` caps its
    retries of any cause when a connection error comes; None leaves the task's own max_retries.
    """

    database_retries: int | None = 5

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except DATABASE_CONNECTION_ERRORS as error:
            # Celery's Django fixup closes connections after the task too; closing the broken one
            # now keeps the retry's own bookkeeping on this thread from reusing it first.
            close_old_connections()
            logger.warning("%s[%s] lost its database connection: %s", self.name, self.request.id, error)
            raise self.retry(exc=error, countdown=database_retry_pause(self.request.retries),
                             max_retries=self.database_retries) from error
