"""While Redis, the broker or the database is down, the API and the pages answer 503 with
Retry-After, never a 500 with a traceback.

Real processes where it matters: a daphne on the test database with a private Redis that the test
kills, and a daphne pointed at a database port where nothing listens.
"""

import httpx
import pytest
from django.conf import settings
from django.test import Client

from jobs.models import Take
from studio.services.tokens import api_token_create
from tests.factories import creator_create, project_for, shot_for
from tests.stack import daphne_server, free_port, private_redis

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shot(catalog):
    return shot_for(project_for(creator_create()))


@pytest.fixture
def api_headers(shot) -> dict:
    _, key = api_token_create(user=shot.project.owner, name="outages")
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def session_cookies(shot) -> dict:
    client = Client()
    client.force_login(shot.project.owner)
    return {settings.SESSION_COOKIE_NAME: client.cookies[settings.SESSION_COOKIE_NAME].value}


def assert_unavailable_json(response) -> None:
    assert response.status_code == 503, response.text[:500]
    assert int(response.headers["Retry-After"]) > 0
    body = response.json()
    assert body["code"] == "unavailable" and body["detail"]


def assert_unavailable_page(response) -> None:
    assert response.status_code == 503, response.text[:500]
    assert int(response.headers["Retry-After"]) > 0
    assert response.headers["Content-Type"].startswith("text/html")
    assert "Traceback" not in response.text and "try again" in response.text


def test_while_redis_is_down_the_api_and_the_pages_answer_503(shot, api_headers, session_cookies, tmp_path):
    quote, page = f"/api/shots/{shot.pk}/quote", f"/shots/{shot.pk}/"
    with (private_redis(tmp_path) as redis, daphne_server(tmp_path / "daphne.log", REDIS_URL=redis.url) as url,
          httpx.Client(base_url=url, cookies=session_cookies, timeout=60) as http):
        assert http.get(quote, headers=api_headers).status_code == 200
        assert http.get(page).status_code == 200

        redis.kill()

        assert_unavailable_json(http.get(quote, headers=api_headers))
        assert_unavailable_json(http.post(f"/api/shots/{shot.pk}/takes", headers=api_headers | {"Idempotency-Key": "k-1"}))
        assert_unavailable_page(http.get(page))
    assert not Take.objects.exists()


def test_while_the_database_is_unreachable_the_api_and_the_pages_answer_503(api_headers, session_cookies, tmp_path):
    nowhere = f"postgres://postgres@127.0.0.1:{free_port()}/shotcraft"
    # A request waits for a pooled connection up to the pool's timeout: one second is enough to wait here.
    with (daphne_server(tmp_path / "daphne.log", DATABASE_URL=nowhere, DATABASE_POOL_TIMEOUT_SECONDS="1") as url,
          httpx.Client(base_url=url, cookies=session_cookies, timeout=60) as http):
        assert_unavailable_json(http.get("/api/projects", headers=api_headers))
        assert_unavailable_page(http.get("/"))


@pytest.fixture
def broker_down(monkeypatch):
    """Celery's broker on a port where nothing listens, while the rest of Redis stays up.

    Celery caches its connection and producer pools, so they are dropped to be built anew."""
    from studio.config.celery import app

    monkeypatch.setattr(app.conf, "broker_url", f"redis://127.0.0.1:{free_port()}/0")
    monkeypatch.setattr(app, "_pool", None)
    monkeypatch.setattr(app.amqp, "_producer_pool", None)


def test_while_the_broker_is_down_a_take_request_is_still_taken_and_sent_once_it_is_back(
    client, shot, api_headers, broker_down, django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/shots/{shot.pk}/takes", headers=api_headers | {"Idempotency-Key": "k-1"})

    # The take and its hold are saved; its submit could not be sent, so it waits for recovery,
    # which sends it when it is due (jobs/pipeline/recover.py).
    assert response.status_code == 201, response.text[:500]
    take = Take.objects.get(idempotency_key="k-1")
    assert take.state == "queued" and take.wake_at is not None and take.reservation_id
