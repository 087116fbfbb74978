import pytest

from providers.catalog import catalog_sync
from tests.factories import creator_create, project_for, shot_for
from tests.stack import celery_worker, daphne_server, worker_queues


@pytest.fixture(scope="session", autouse=True)
def media_root_removed_after_the_run():
    """tests/settings.py gives each run a throwaway media folder; leave nothing behind."""
    import shutil

    from django.conf import settings

    yield
    shutil.rmtree(settings.MEDIA_ROOT, ignore_errors=True)


@pytest.fixture
def catalog(db):
    """The default provider catalog (transactional tests flush the migration's copy), every
    provider starting healthy: circuits, rate limits and slots live in Redis across tests."""
    from providers.health import health_forget
    from providers.models import ProviderModel

    catalog_sync()
    for slug in ProviderModel.objects.values_list("slug", flat=True):
        health_forget(slug)


@pytest.fixture
def creator(db):
    return creator_create()


@pytest.fixture
def project(creator):
    return project_for(creator)


@pytest.fixture
def shot(project):
    return shot_for(project)


@pytest.fixture
def creator_client(client, creator):
    client.force_login(creator)
    return client


@pytest.fixture
def worker(django_db_setup, tmp_path):
    """A real Celery worker process on the test database, for one test.

    Transactional tests that request takes without a worker leave their tasks in the queue;
    purging before the worker starts keeps them from running against another test's rows.
    """
    purge_test_queue()
    with celery_worker(tmp_path / "worker.log") as process:
        yield process
    purge_test_queue()


def purge_test_queue() -> None:
    from studio.config.celery import app

    with app.connection_for_write() as connection:
        for queue in worker_queues():
            connection.default_channel.queue_purge(queue)


@pytest.fixture(scope="session")
def live_server_url(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real daphne server (HTTP + websockets) on the test database."""
    with daphne_server(tmp_path_factory.mktemp("daphne") / "daphne.log") as url:
        yield url


@pytest.fixture
def group_listener():
    """Listen on a Channels group through the real Redis layer: `listen(group)` → `collect(n)`."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    class Listener:
        def __init__(self, group: str):
            self.group = group
            async_to_sync(self._join)()

        async def _join(self):
            layer = get_channel_layer()
            self.channel = await layer.new_channel()
            await layer.group_add(self.group, self.channel)

        def collect(self, count: int, timeout: float = 2.0) -> list[dict]:
            """Up to `count` events, stopping early when none arrives within `timeout` seconds."""
            import asyncio

            async def receive_all():
                layer, events = get_channel_layer(), []
                try:
                    while len(events) < count:
                        events.append(await asyncio.wait_for(layer.receive(self.channel), timeout))
                except TimeoutError:
                    pass
                return events

            return async_to_sync(receive_all)()

    return Listener


def run_commit_callbacks_except_enqueue(callbacks) -> None:
    """Run captured on-commit work (events) but not Celery sends, which no worker consumes here."""
    for callback in callbacks:
        if not is_task_send(callback):
            callback()


def is_task_send(callback) -> bool:
    from jobs.pipeline import enqueue

    return getattr(getattr(callback, "func", None), "__module__", "") == enqueue.__name__
