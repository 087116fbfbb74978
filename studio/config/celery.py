import functools
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.config.settings")

from celery.signals import task_postrun, task_prerun  # noqa: E402

from studio.config.database import DatabaseRetryTask  # noqa: E402
from studio.observability.logs import task_context_bind, task_context_clear  # noqa: E402


def kombu_redis_detached_channel_guard_install() -> None:
    """Keep a worker alive when Redis goes away while it holds unacknowledged messages.

    Guards kombu.transport.redis.Channel._connparams (kombu 5.7.0 with celery 5.7.0, the latest
    releases). On a lost broker, celery's Consumer.on_connection_error_after_connected first calls
    Connection.collect(), whose close of the default channel stops at the dead BRPOP read
    (Channel.close re-reads it and lets the ConnectionError out) and leaves the channel open; collect
    then detaches the transport (transport.client = None). Celery 5.7 then closes the connection
    again; this time the channel restores its unacknowledged messages through a new Redis pool built
    from transport.client, and _connparams fails with AttributeError ('NoneType' object has no
    attribute 'hostname'). That is no connection error, so ignore_errors lets it through and the
    worker exits ("Unrecoverable error").

    A detached transport has no broker to talk to: saying so with a connection error lets every
    caller on that path ignore it as it already ignores the dead socket, and the worker reconnects.
    Nothing is lost that the broker still holds: Redis keeps delivered messages in its unacked hash
    until the visibility timeout gives them back. Remove this once kombu's Channel.close survives a
    dead BRPOP (or celery stops closing a collected connection): without it,
    tests/jobs/test_fault_injection.py::test_a_worker_holding_a_message_outlives_a_redis_restart
    tells whether upstream still needs it.
    """
    from kombu.transport import redis as kombu_redis
    from redis.exceptions import ConnectionError as RedisConnectionError

    upstream = kombu_redis.Channel._connparams
    if getattr(upstream, "detached_channel_guard", False):
        return

    @functools.wraps(upstream)
    def connparams_of_an_attached_transport(self, *args, **kwargs):
        if self.connection.client is None:
            raise RedisConnectionError("the broker connection was already collected")
        return upstream(self, *args, **kwargs)

    connparams_of_an_attached_transport.detached_channel_guard = True
    kombu_redis.Channel._connparams = connparams_of_an_attached_transport


kombu_redis_detached_channel_guard_install()

# Every task (the pipeline's stages included) runs again later when it loses its database
# connection: they are all safe to run twice (jobs/pipeline/leases.py).
app = Celery("shotcraft", task_cls=DatabaseRetryTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# Every line a task logs carries its task id (and take id); one line per run says how it ended.
task_prerun.connect(task_context_bind, weak=False)
task_postrun.connect(task_context_clear, weak=False)


@app.task(name="studio.ping")
def ping() -> str:
    """A no-op round trip, used by the benchmark as the baseline for Celery overhead."""
    return "pong"


@app.task(name="studio.database_ping")
def database_ping() -> bool:
    """The worker reaches the database; like every task on DatabaseRetryTask, it runs again later
    when it cannot get a connection (tests/test_database_connections.py shows it)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        return cursor.fetchone() == (1,)
