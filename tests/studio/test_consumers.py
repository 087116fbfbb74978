"""The project websocket through the real ASGI app: session auth, origin check, Redis layer."""


import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client

from jobs.events import live_publisher_drain
from jobs.pipeline.transitions import take_progress_report, take_transition
from studio.config.asgi import application
from studio.services.takes import shot_take_request
from tests.factories import creator_create, project_for, shot_for

pytestmark = pytest.mark.django_db(transaction=True)


def session_cookie(user) -> bytes:
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}".encode()


def communicator_for(project_id: int, cookie: bytes | None = None, origin: bytes = b"http://127.0.0.1") -> WebsocketCommunicator:
    headers = [(b"origin", origin), (b"host", b"127.0.0.1")]
    if cookie:
        headers.append((b"cookie", cookie))
    return WebsocketCommunicator(application, f"/ws/projects/{project_id}/", headers=headers)


async def connected(communicator: WebsocketCommunicator) -> bool:
    ok, _ = await communicator.connect(timeout=5)
    return ok


def test_anonymous_visitors_cannot_listen(catalog):
    owner = creator_create()
    project = project_for(owner)

    async def scenario():
        communicator = communicator_for(project.pk)
        assert not await connected(communicator)

    async_to_sync(scenario)()


def test_a_creator_cannot_join_another_creators_project(catalog):
    owner, intruder = creator_create(username="owner"), creator_create(username="intruder")
    project = project_for(owner)
    cookie = session_cookie(intruder)

    async def scenario():
        assert not await connected(communicator_for(project.pk, cookie))
        assert not await connected(communicator_for(999_999, cookie))

    async_to_sync(scenario)()


def test_foreign_origins_are_refused(catalog):
    owner = creator_create()
    project = project_for(owner)
    cookie = session_cookie(owner)

    async def scenario():
        assert not await connected(communicator_for(project.pk, cookie, origin=b"http://evil.example"))

    async_to_sync(scenario)()


def test_every_state_and_progress_change_reaches_the_page(catalog):
    owner = creator_create()
    shot = shot_for(project_for(owner))
    cookie = session_cookie(owner)
    take = shot_take_request(user=owner, shot=shot)
    assert live_publisher_drain()  # the request's own news went out before the page opened

    async def receive_html(communicator) -> str:
        return await communicator.receive_from(timeout=1.0)  # the page must hear within a second

    async def scenario():
        communicator = communicator_for(shot.project_id, cookie)
        assert await connected(communicator)
        from channels.db import database_sync_to_async

        await database_sync_to_async(take_transition)(take_id=take.pk, to_state="routing")
        assert 'data-state="routing"' in await receive_html(communicator)
        await database_sync_to_async(take_transition)(take_id=take.pk, to_state="submitting")
        await receive_html(communicator)
        await database_sync_to_async(take_transition)(take_id=take.pk, to_state="generating")
        await receive_html(communicator)
        await database_sync_to_async(take_progress_report)(take_id=take.pk, percent=55)
        html = await receive_html(communicator)
        assert f'id="take-{take.pk}"' in html and "55" in html
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_credit_changes_reach_the_page(catalog):
    owner = creator_create()
    shot = shot_for(project_for(owner))
    cookie = session_cookie(owner)

    async def scenario():
        communicator = communicator_for(shot.project_id, cookie)
        assert await connected(communicator)
        from channels.db import database_sync_to_async

        await database_sync_to_async(shot_take_request)(user=owner, shot=shot)
        messages = [await communicator.receive_from(timeout=1.0) for _ in range(2)]
        balance = next(message for message in messages if 'id="credit-balance"' in message)
        assert "494" in balance  # 500 − the 6 credits held for the take
        await communicator.disconnect()

    async_to_sync(scenario)()


def test_events_for_other_projects_do_not_leak(catalog):
    owner, other = creator_create(username="owner"), creator_create(username="other")
    mine, theirs = shot_for(project_for(owner)), shot_for(project_for(other))
    cookie = session_cookie(owner)

    async def scenario():
        communicator = communicator_for(mine.project_id, cookie)
        assert await connected(communicator)
        from channels.db import database_sync_to_async

        await database_sync_to_async(shot_take_request)(user=other, shot=theirs)
        assert await communicator.receive_nothing(timeout=0.5)
        await communicator.disconnect()

    async_to_sync(scenario)()


IDLE_SECONDS = 15  # redis-py 8 closed an idle socket after ~6 s (its 5 s read timeout vs the layer's 5 s BZPOPMIN)


@pytest.mark.stack
def test_an_idle_socket_on_a_real_daphne_stays_open_and_hears_the_next_event(catalog, live_server_url):
    from websockets.sync.client import connect

    owner = creator_create()
    shot = shot_for(project_for(owner))
    take = shot_take_request(user=owner, shot=shot)
    ws_url = live_server_url.replace("http://", "ws://") + f"/ws/projects/{shot.project_id}/"
    headers = {"Cookie": session_cookie(owner).decode(), "Origin": live_server_url}

    with connect(ws_url, additional_headers=headers, open_timeout=10) as socket:
        with pytest.raises(TimeoutError):  # idle: nothing arrives, and the server must not close
            socket.recv(timeout=IDLE_SECONDS)
        take_transition(take_id=take.pk, to_state="routing")
        assert 'data-state="routing"' in socket.recv(timeout=5)
