"""/readyz: can this process serve? The database, Redis (broker, channel layer, cache) and media
storage each answer, or the probe says which one does not (503). /healthz stays plain liveness."""

import logging
import time
import uuid

import redis
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)
PROBE_TIMEOUT_SECONDS = 3


def _database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _redis() -> None:
    for url in dict.fromkeys([settings.REDIS_URL, settings.CELERY_BROKER_URL]):
        with redis.Redis.from_url(url, socket_timeout=PROBE_TIMEOUT_SECONDS,
                                  socket_connect_timeout=PROBE_TIMEOUT_SECONDS) as client:
            client.ping()


def _storage() -> None:
    """Write, read back and delete a small file: listing alone would not catch a read-only volume
    or a bucket whose credentials allow no writes."""
    name = default_storage.save(f"readyz/{uuid.uuid4().hex}.txt", ContentFile(b"ok"))
    try:
        with default_storage.open(name) as handle:
            if handle.read() != b"ok":
                raise OSError("the probe file read back different bytes")
    finally:
        default_storage.delete(name)


CHECKS = {"database": _database, "redis": _redis, "storage": _storage}


@never_cache
@require_GET
def readyz(request):
    results, ready = {}, True
    for name, check in CHECKS.items():
        started = time.monotonic()
        try:
            check()
            results[name] = {"ok": True, "ms": int((time.monotonic() - started) * 1000)}
        except Exception as error:  # any failure means "not ready"; which one is the answer
            ready = False
            results[name] = {"ok": False, "error": f"{type(error).__name__}: {error}"[:300]}
            logger.warning("readiness check %s failed: %s", name, error)
    return JsonResponse({"ready": ready, "checks": results}, status=200 if ready else 503)
