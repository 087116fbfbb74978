import pytest

from providers.catalog import catalog_sync
from tests.factories import creator_create, project_for, shot_for
from tests.stack import celery_worker, daphne_server


@pytest.fixture
def catalog(db):
    """The default provider catalog (transactional tests flush the migration's copy)."""
    catalog_sync()


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


@pytest.fixture(scope="session")
def worker(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real Celery worker process on the test database, shared by the session's tests."""
    with celery_worker(tmp_path_factory.mktemp("worker") / "worker.log") as process:
        yield process


@pytest.fixture(scope="session")
def live_server_url(django_db_setup, django_db_blocker, tmp_path_factory):
    """A real daphne server (HTTP + websockets) on the test database."""
    with daphne_server(tmp_path_factory.mktemp("daphne") / "daphne.log") as url:
        yield url
