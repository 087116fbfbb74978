"""Database connections under load: pooled and bounded per process, never a 500 when they run short.

The stack tests run daphne (or a Celery worker) as a PostgreSQL role of their own with a low
CONNECTION LIMIT, as a server near max_connections behaves: a process that opens more connections
than that gets "too many connections" where it should have waited for one of its own.
"""

import asyncio
import os
import uuid
from contextlib import contextmanager

import httpx
import psycopg
import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from jobs.models import Take
from studio.config.celery import database_ping
from studio.config.database import database_retry_pause
from studio.services.tokens import api_token_create
from tests.conftest import purge_test_queue
from tests.factories import creator_create, project_for, shot_for
from tests.stack import celery_worker, connected_database_url, daphne_server, wait_for_log

POSTGRESQL = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
postgresql_only = pytest.mark.skipif(not POSTGRESQL, reason="PostgreSQL only")
CONNECTION_LIMIT = 12
POOL_MAX_SIZE = 8  # per process, below CONNECTION_LIMIT
BURST = 200


def test_database_retry_pauses_double_up_to_a_minute_each_cut_by_up_to_half():
    pauses = [database_retry_pause(retries) for retries in range(10)]

    assert all(2 ** retries / 2 <= pause <= 2 ** retries for retries, pause in enumerate(pauses[:6]))
    assert all(30 <= pause <= 60 for pause in pauses[6:])


# -- a role with few connections ----------------------------------------------------------------


@pytest.fixture
def limited_role(transactional_db):
    """A login role on the test database that may hold at most CONNECTION_LIMIT connections."""
    role = f"shotcraft_limited_{os.getpid()}"
    with connection.cursor() as cursor:
        cursor.execute(f'DROP ROLE IF EXISTS "{role}"')
        cursor.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT {CONNECTION_LIMIT}')
        cursor.execute(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{role}"')
        cursor.execute(f'GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO "{role}"')
    yield role
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [role])
        cursor.execute(f'DROP OWNED BY "{role}"')
        cursor.execute(f'DROP ROLE "{role}"')


def url_as(role: str) -> str:
    return connected_database_url().replace("//postgres@", f"//{role}@", 1)


def connections_held_by(role: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", [role])
        return cursor.fetchone()[0]


@contextmanager
def every_connection_taken(role: str):
    """Hold the role's connections until the server refuses one more: no process of it gets one."""
    held = []
    try:
        for _ in range(CONNECTION_LIMIT + 1):
            held.append(psycopg.connect(url_as(role)))
    except psycopg.OperationalError as refused:
        assert "too many connections" in str(refused)
    else:
        pytest.fail(f"the server gave {len(held)} connections to a role limited to {CONNECTION_LIMIT}")
    try:
        yield
    finally:
        for held_connection in held:
            held_connection.close()


# -- daphne ---------------------------------------------------------------------------------------


def take_requests_and_reads(creators: int, takes_each: int, reads: int) -> list[tuple[str, str, dict]]:
    """`takes_each` take requests (the Free plan's limit of takes at once) by each of `creators`
    creators, then `reads` project listings: each request as (method, path, headers)."""
    takes, bearer = [], {}
    for number in range(creators):
        creator = creator_create(username=f"burst{number}")
        shot = shot_for(project_for(creator))
        bearer = {"Authorization": f"Bearer {api_token_create(user=creator, name='burst')[1]}"}
        takes += [("POST", f"/api/shots/{shot.pk}/takes", {**bearer, "Idempotency-Key": str(uuid.uuid4())})
                  for _ in range(takes_each)]
    return takes + [("GET", "/api/projects", bearer)] * reads


async def burst(base_url: str, requests: list[tuple[str, str, dict]]) -> list[httpx.Response]:
    """Every request at once, each on a connection of its own."""
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120) as client:
        return await asyncio.gather(*(client.request(method, path, headers=headers) for method, path, headers in requests))


@postgresql_only
@pytest.mark.stack
def test_a_burst_of_requests_waits_for_pooled_connections_instead_of_failing(catalog, limited_role, tmp_path):
    requests = take_requests_and_reads(creators=8, takes_each=5, reads=BURST - 40)

    with daphne_server(tmp_path / "daphne.log", DATABASE_URL=url_as(limited_role),
                       DATABASE_POOL_MAX_SIZE=str(POOL_MAX_SIZE)) as base_url:
        responses = asyncio.run(burst(base_url, requests))
        held_after_the_burst = connections_held_by(limited_role)
    purge_test_queue()  # the takes' runs, which no worker here consumes

    statuses = [response.status_code for response in responses]
    assert all(status < 500 for status in statuses), (sorted(set(statuses)), (tmp_path / "daphne.log").read_text()[-3000:])
    assert statuses == [201] * 40 + [200] * (BURST - 40)  # nobody waited out the pool's timeout
    assert Take.objects.count() == 40
    assert 1 <= held_after_the_burst <= POOL_MAX_SIZE


@postgresql_only
@pytest.mark.stack
def test_requests_that_get_no_connection_answer_503_with_retry_after(limited_role, creator, tmp_path):
    bearer = {"Authorization": f"Bearer {api_token_create(user=creator, name='busy')[1]}"}
    browser = Client()
    browser.force_login(creator)
    session = {settings.SESSION_COOKIE_NAME: browser.cookies[settings.SESSION_COOKIE_NAME].value}

    daphne = daphne_server(tmp_path / "daphne.log", DATABASE_URL=url_as(limited_role), DATABASE_POOL_TIMEOUT_SECONDS="1")
    with daphne as base_url, every_connection_taken(limited_role), httpx.Client(base_url=base_url, timeout=30) as client:
        api = client.get("/api/projects", headers=bearer)
        client.cookies.update(session)
        page = client.get("/")

    assert (api.status_code, api.json()["code"]) == (503, "unavailable") and int(api.headers["Retry-After"]) > 0
    assert page.status_code == 503 and int(page.headers["Retry-After"]) > 0


# -- Celery ---------------------------------------------------------------------------------------


@postgresql_only
@pytest.mark.stack
def test_a_task_that_gets_no_connection_runs_again_once_there_is_one(limited_role, tmp_path):
    log = tmp_path / "worker.log"
    purge_test_queue()
    with celery_worker(log, DATABASE_URL=url_as(limited_role), DATABASE_POOL_TIMEOUT_SECONDS="1") as worker:
        with every_connection_taken(limited_role):
            task_id = database_ping.delay().id
            wait_for_log(log, f"studio.database_ping[{task_id}] retry: Retry in", worker)
        wait_for_log(log, f"studio.database_ping[{task_id}] succeeded", worker)
    purge_test_queue()
    assert "True" in next(line for line in log.read_text().splitlines() if f"[{task_id}] succeeded" in line)
