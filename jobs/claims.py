"""Short-lived claims in Redis: one process at a time does a piece of work.

A claim is a redis-py lock: it expires by itself, so a process that dies holding one frees the
work after `seconds`, and it is released by its own token, so a process whose claim expired
can never delete the claim another process took since.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import redis
from django.conf import settings
from redis.exceptions import LockError


@lru_cache(maxsize=4)
def _client_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def _claim_key(key: str) -> str:
    return f"{settings.CHANNEL_LAYERS['default']['CONFIG']['prefix']}:claim:{key}"


@contextmanager
def work_claimed(key: str, *, seconds: int) -> Iterator[bool]:
    """Yields True when this process holds the claim on `key` (and gives it back afterwards),
    False when another process holds it."""
    lock = _client_for(settings.REDIS_URL).lock(_claim_key(key), timeout=seconds, blocking=False, thread_local=False)
    if not lock.acquire():
        yield False
        return
    try:
        yield True
    finally:
        try:
            lock.release()
        except LockError:
            pass  # it expired while we worked; whoever claimed it since keeps it


def work_claim_held(key: str) -> bool:
    return bool(_client_for(settings.REDIS_URL).exists(_claim_key(key)))
