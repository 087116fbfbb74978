"""Sentry is on when SENTRY_DSN is set and off otherwise: a process with the real settings reports an
error from a Celery task to a loopback ingest endpoint (the DSN's host), which records the envelope."""

import gzip
import subprocess
import sys

from tests.outbound.receiver import LoopbackReceiver, wait_until
from tests.stack import ROOT

SCRIPT = """
import django, sentry_sdk
django.setup()
from studio.config.celery import app

@app.task(name="tests.sentry_boom")
def boom():
    raise RuntimeError("sentry-test-boom")

print("active" if sentry_sdk.get_client().is_active() else "inactive")
boom.apply()  # runs the task here, through Celery's tracer, where the Celery integration hooks in
sentry_sdk.flush(timeout=10)
"""


def envelope(request) -> bytes:
    """The envelope's bytes; the SDK compresses them (gzip here: brotli is not installed)."""
    encoding = request.headers.get("content-encoding", "")
    return gzip.decompress(request.body) if encoding == "gzip" else request.body


def run_with(dsn: str) -> str:
    env = {"DJANGO_SETTINGS_MODULE": "studio.config.settings", "SENTRY_DSN": dsn, "PATH": "/usr/bin:/bin",
           "REDIS_URL": "redis://127.0.0.1:6379/0"}
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_a_failing_task_is_reported_when_sentry_dsn_is_set():
    with LoopbackReceiver() as ingest:
        port = ingest.url.split(":")[2].split("/")[0]
        assert run_with(f"http://publickey@127.0.0.1:{port}/42") == "active"
        assert wait_until(lambda: any(b"sentry-test-boom" in envelope(request) for request in ingest.received), timeout=20)
    request = next(request for request in ingest.received if b"sentry-test-boom" in envelope(request))
    assert request.path.startswith("/api/42/envelope/")
    assert b'"celery"' in envelope(request)  # reported by the Celery integration


def test_nothing_is_reported_without_a_dsn():
    assert run_with("") == "inactive"
