"""Short-lived claims in the shared cache (Redis): one process at a time does a piece of work.

A claim expires by itself, so a process that dies holding one frees the work after `seconds`;
choose it longer than the work can take.
"""

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.cache import cache


@contextmanager
def work_claimed(key: str, *, seconds: int) -> Iterator[bool]:
    """Yields True when this process holds the claim on `key` (and gives it back afterwards),
    False when another process holds it."""
    if not cache.add(key, "claimed", timeout=seconds):
        yield False
        return
    try:
        yield True
    finally:
        cache.delete(key)


def take_evaluation_claim(take_id: int) -> str:
    return f"take-evaluate:{take_id}"


def take_download_claim(take_id: int) -> str:
    return f"take-download:{take_id}"
