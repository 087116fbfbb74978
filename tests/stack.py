"""Real processes for end-to-end tests: daphne (HTTP + websockets), Celery workers and beat.

They run against the test database that pytest-django created, with the same media folder,
Redis, queue names and channel prefix as the test process.
"""

import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def connected_database_url() -> str:
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def stack_env(**extra: str) -> dict:
    """The test process's database, media and Redis; `extra` may replace any of them (e.g. REDIS_URL)."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "studio.config.settings",
        "DATABASE_URL": connected_database_url(),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "REDIS_URL": settings.REDIS_URL,
        "PYTHONUNBUFFERED": "1",
        # The processes route drafts as the test process does (tests/settings.py: no AI model configured).
        "DRAFT_QUALITY_FLOOR": str(settings.DRAFT_QUALITY_FLOOR),
        "LEARNED_ROUTING": "1" if settings.LEARNED_ROUTING else "0",
        **extra,
    }


def wait_for_port(port: int, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited early with code {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listening on port {port} after {timeout} s")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def worker_queues() -> tuple[str, ...]:
    """Every queue a take's tasks go to but the self-hosted one: the pipeline's, evaluation's and the animatic's."""
    return settings.CELERY_TASK_DEFAULT_QUEUE, settings.EVALUATION_QUEUE, settings.LOCAL_RENDER_QUEUE


@contextmanager
def celery_worker(log_path: Path, queues: tuple[str, ...] | None = None, name: str = "worker", **extra_env: str):
    command = [sys.executable, "-m", "celery", "-A", "studio.config", "worker", "--loglevel=INFO", "-n", f"{name}@%h",
               "--pool=threads", "--concurrency=2", "--without-gossip", "--without-mingle", "--without-heartbeat",
               "-Q", ",".join(queues or worker_queues())]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=stack_env(**extra_env), stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_log(log_path, "ready.", process)
            yield process
        finally:
            _stop(process)


@contextmanager
def daphne_server(log_path: Path, **extra_env: str):
    with daphne_process(log_path, **extra_env) as (url, _):
        yield url


@contextmanager
def daphne_process(log_path: Path, **extra_env: str):
    """(its URL, the process), for tests that kill a daphne."""
    port = free_port()
    command = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "studio.config.asgi:application"]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=stack_env(**extra_env), stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, process)
            yield f"http://127.0.0.1:{port}", process
        finally:
            _stop(process)


@contextmanager
def celery_beat(log_path: Path, **extra_env: str):
    command = [sys.executable, "-m", "celery", "-A", "studio.config", "beat", "--loglevel=INFO",
               "--schedule", str(log_path.with_suffix(".schedule"))]
    with log_path.open("w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=stack_env(**extra_env), stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_log(log_path, "beat: Starting", process)
            yield process
        finally:
            _stop(process)


def wait_for_log(log_path: Path, marker: str, process: subprocess.Popen, timeout: float = 60) -> None:
    """Until `marker` shows in the process's log; fails when the process exits or time runs out first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process exited early:\n{log_path.read_text()}")
        if marker in log_path.read_text():
            return
        time.sleep(0.2)
    raise TimeoutError(f"no {marker!r} in the log after {timeout} s:\n{log_path.read_text()}")


class PrivateRedis:
    """A Redis of one test's own on a free port, which the test may kill and start again.

    Nothing is kept on disk, so a restart loses every key, as a crashed Redis without
    persistence does.
    """

    def __init__(self, workdir: Path):
        from studio.devstack import redis_server_binary

        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None
        self._workdir = workdir
        self._command = [redis_server_binary(), "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                         "--appendonly", "no", "--dir", str(workdir), "--daemonize", "no"]

    def start(self) -> "PrivateRedis":
        with (self._workdir / "redis.log").open("a") as log:
            self.process = subprocess.Popen(self._command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        wait_for_port(self.port, self.process)
        return self

    def waiting_for_messages(self) -> bool:
        """Is a client (a Celery consumer) blocked in BRPOP, waiting for messages?"""
        import redis

        with redis.Redis.from_url(self.url) as client:
            return any(connection["cmd"] == "brpop" for connection in client.client_list())

    def kill(self) -> None:
        """SIGKILL: no shutdown save, every key gone; `start` brings up an empty Redis on the same port."""
        self.process.kill()
        self.process.wait()


@contextmanager
def private_redis(workdir: Path):
    server = PrivateRedis(workdir).start()
    try:
        yield server
    finally:
        _stop(server.process)
