"""Live take events for open pages: rendered once per change, sent to the page's group after commit.

The page wants the take's card as HTML, and rendering it is the studio's business (jobs never
imports studio): settings.LIVE_TAKE_RENDERER names a function `(take_id) -> [(group, message)]`
that renders the card once for each audience that sees it. Consumers only forward the message.

Publishing happens on a background thread of the process, so a stage's worker never waits on
templates or on the channel layer, and changes that arrive while a render is pending are
coalesced: a take that moves through three states in a blink is rendered once, in its newest
state. A page that missed events (a reconnect, a Redis hiccup) reloads its cards itself
(static/js/app.js), so a failed publish is logged and dropped, never raised into the pipeline.
"""

import asyncio
import logging
import queue
import threading
from functools import partial

import redis.exceptions
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


def take_changed_publish_on_commit(*, group: str, take_id: int) -> None:
    transaction.on_commit(partial(take_changed_publish, group, take_id))


def take_changed_publish(group: str, take_id: int) -> None:
    if connection.in_atomic_block:
        # Still inside an outer transaction (a test's): another connection could not see the
        # change yet, so render it here.
        _send_logged(take_id, group)
    else:
        _publisher().publish(group, take_id)


def _send_logged(take_id: int, group: str, loop: asyncio.AbstractEventLoop | None = None) -> None:
    try:
        take_changed_send(take_id, group, loop=loop)
    except Exception as error:  # the page reloads what it missed; the pipeline must not care
        logger.warning("live update for take %s not sent: %s", take_id, error)


def take_changed_messages(take_id: int, group: str) -> list[tuple[str, dict]]:
    """What each audience's open pages receive for this take (rendered now)."""
    renderer = settings.LIVE_TAKE_RENDERER
    if not renderer:  # no studio to render for (tests of the pipeline alone): ids only
        return [(group, {"type": "take.changed", "take_id": take_id})]
    return import_string(renderer)(take_id)


def take_changed_send(take_id: int, group: str, *, loop: asyncio.AbstractEventLoop | None = None) -> None:
    """Render and send now. With the publisher's own `loop` the channel layer keeps its Redis
    connections from one send to the next (async_to_sync would make a loop, and connect, each time)."""
    layer = get_channel_layer()
    for audience_group, message in take_changed_messages(take_id, group):
        if loop is None:
            async_to_sync(layer.group_send)(audience_group, message)
        else:
            try:
                loop.run_until_complete(layer.group_send(audience_group, message))
            except redis.exceptions.ConnectionError:  # a connection Redis dropped (a restart): once more, afresh
                loop.run_until_complete(layer.group_send(audience_group, message))


class _Publisher(threading.Thread):
    """One per process: renders and sends take changes in order of arrival, one per take at a time."""

    def __init__(self):
        super().__init__(name="live-take-publisher", daemon=True)
        self._pending: queue.SimpleQueue[tuple[str, int]] = queue.SimpleQueue()
        self._waiting: set[int] = set()
        self._unsent = 0
        self._lock = threading.Lock()

    def publish(self, group: str, take_id: int) -> None:
        with self._lock:
            if take_id in self._waiting:  # its render has not started: it will show this change too
                return
            self._waiting.add(take_id)
            self._unsent += 1
        self._pending.put((group, take_id))

    def run(self) -> None:
        loop = asyncio.new_event_loop()  # the thread's own, for as long as it lives
        while True:
            group, take_id = self._pending.get()
            with self._lock:
                self._waiting.discard(take_id)
            close_old_connections()
            _send_logged(take_id, group, loop)
            with self._lock:
                self._unsent -= 1
            if self._pending.empty():
                connection.close()  # idle: hold no database connection

    def idle(self) -> bool:
        with self._lock:
            return self._unsent == 0


_instance: _Publisher | None = None
_instance_lock = threading.Lock()


def _publisher() -> _Publisher:
    global _instance
    with _instance_lock:
        if _instance is None or not _instance.is_alive():
            _instance = _Publisher()
            _instance.start()
        return _instance


def live_publisher_drain(timeout: float = 5.0) -> bool:
    """Wait until every pending live update was sent (tests and benchmarks); False on timeout."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _instance is None or _instance.idle():
            return True
        time.sleep(0.01)
    return False
