"""The development supervisor: embedded Redis, the with-redis wrapper and `devstack run` end to end."""

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

import psutil
import pytest
import redis

from studio.devstack import embedded_redis, free_port

ROOT = Path(__file__).resolve().parent.parent
# Variables the test settings put into this process's environment, which a real `make run` lacks.
TEST_ONLY_VARIABLES = ("REDIS_URL", "DJANGO_SETTINGS_MODULE", "CELERY_QUEUE_PREFIX", "CHANNELS_PREFIX", "MEDIA_ROOT")


def _devstack(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studio.devstack", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def _env_without_redis() -> dict:
    return {key: value for key, value in os.environ.items() if key not in TEST_ONLY_VARIABLES}


def test_embedded_redis_runs_on_a_private_port_keeps_nothing_and_is_gone_after_stop():
    with embedded_redis() as (url, process):
        address = urlparse(url)
        client = redis.Redis.from_url(url)
        assert address.hostname == "127.0.0.1"
        assert address.port != 6379
        assert client.ping() is True
        assert client.config_get("bind")["bind"] == "127.0.0.1"
        assert client.config_get("save")["save"] == ""
        assert client.config_get("appendonly")["appendonly"] == "no"
        workdir = Path(client.config_get("dir")["dir"])
        client.close()

    assert process.poll() is not None
    assert not workdir.exists()
    with pytest.raises(redis.ConnectionError):
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()


CHILD_SCRIPT = (
    "import os, sys, redis; url = os.environ['REDIS_URL']; "
    "assert redis.Redis.from_url(url).ping(); print(url); sys.exit(int(sys.argv[1]))"
)


@pytest.mark.parametrize("exit_code", [0, 3])
def test_with_redis_gives_the_command_a_redis_and_returns_its_exit_code(exit_code):
    result = _devstack("with-redis", "--", sys.executable, "-c", CHILD_SCRIPT, str(exit_code), env=_env_without_redis())

    assert result.returncode == exit_code, result.stderr
    address = urlparse(result.stdout.strip())
    assert (address.scheme, address.hostname) == ("redis", "127.0.0.1")
    assert address.port != 6379


def test_with_redis_uses_the_configured_redis_url_as_it_is(settings):
    env = {**_env_without_redis(), "REDIS_URL": settings.REDIS_URL}

    result = _devstack("with-redis", "--", sys.executable, "-c", CHILD_SCRIPT, "0", env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == settings.REDIS_URL


def test_with_redis_reports_a_command_killed_by_a_signal_as_128_plus_the_signal():
    script = "import os, signal; os.kill(os.getpid(), signal.SIGTERM)"

    result = _devstack("with-redis", "--", sys.executable, "-c", script, env=_env_without_redis())

    assert result.returncode == 128 + signal.SIGTERM


# ---------------------------------------------------------------- `devstack run`, end to end


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _wait_for_login_page(port: int, process: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Until the creator login page answers (or, while it is not built yet, the admin's)."""
    urls = [f"http://127.0.0.1:{port}/login/", f"http://127.0.0.1:{port}/admin/login/"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"devstack run exited early with code {process.returncode}:\n{log.read_text()}")
        try:
            if any(_status(url) == 200 for url in urls):
                return
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"no login page answered within {timeout} s:\n{log.read_text()}")


def _children_when_complete(process: subprocess.Popen, timeout: float = 30) -> dict[str, psutil.Process]:
    """The supervisor's web, worker, beat and redis processes, keyed by what they are."""
    markers = {"web": "daphne", "worker": " worker", "beat": " beat", "redis": "redis-server"}
    deadline = time.monotonic() + timeout
    found: dict[str, psutil.Process] = {}
    while time.monotonic() < deadline and len(found) < len(markers):
        for child in psutil.Process(process.pid).children(recursive=True):
            command = " ".join(child.cmdline())
            found.update({name: child for name, marker in markers.items() if marker in command})
        time.sleep(0.2)
    assert set(found) == set(markers), f"children found: {found}"
    return found


@contextmanager
def _devstack_running(tmp_path: Path):
    port = free_port()
    env = {**_env_without_redis(), "PORT": str(port), "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
           "MEDIA_ROOT": str(tmp_path / "media"), "PYTHONUNBUFFERED": "1"}
    log = tmp_path / "devstack.log"
    with log.open("wb") as output:
        # Started as a shell starts a background job, with SIGINT ignored: Ctrl-C must still work.
        command = ["sh", "-c", 'trap "" INT; exec "$0" -m studio.devstack run', sys.executable]
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        _wait_for_login_page(port, process, log)
        yield process, port, log
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _assert_all_gone(children: dict[str, psutil.Process]) -> None:
    _, alive = psutil.wait_procs(list(children.values()), timeout=5)
    assert not alive, f"still running: {[' '.join(p.cmdline()) for p in alive]}"


def _pipeline_worker(process: subprocess.Popen, port: int, *, other_than: int | None = None, timeout: float = 30) -> psutil.Process:
    """The supervisor's pipeline worker (`-n worker-<port>@…`), optionally one other than pid `other_than`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for child in psutil.Process(process.pid).children(recursive=True):
            try:
                if f"worker-{port}@" in " ".join(child.cmdline()) and child.pid != other_than:
                    return child
            except psutil.NoSuchProcess:
                pass
        time.sleep(0.2)
    pytest.fail(f"no pipeline worker (other than pid {other_than}) within {timeout} s")


def test_run_serves_the_app_restarts_a_child_that_dies_and_stops_everything_on_ctrl_c(tmp_path):
    """One devstack run (each costs seconds of setup): it serves the app, a child that dies comes
    back while the others keep running, and Ctrl-C stops them all."""
    with _devstack_running(tmp_path) as (process, port, log):
        children = _children_when_complete(process)
        killed = _pipeline_worker(process, port)
        killed.kill()
        restarted = _pipeline_worker(process, port, other_than=killed.pid)
        assert process.poll() is None, log.read_text()
        assert _status(f"http://127.0.0.1:{port}/login/") == 200
        assert children["web"].is_running() and children["redis"].is_running()
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=20)

    output = log.read_text()
    assert code == 0, output
    assert "Demo login: username 'demo'" in output
    assert f"Shotcraft is running at http://127.0.0.1:{port}" in output
    assert f"worker exited unexpectedly with code {-signal.SIGKILL}; restarting it in 1 s" in output
    _assert_all_gone({**children, "restarted": restarted})


def test_run_stops_everything_and_fails_when_its_redis_dies(tmp_path):
    with _devstack_running(tmp_path) as (process, _, log):
        children = _children_when_complete(process)
        children["redis"].kill()
        code = process.wait(timeout=20)

    assert code != 0
    assert "redis exited unexpectedly" in log.read_text()
    _assert_all_gone(children)


def test_a_child_that_keeps_dying_waits_longer_each_time_and_a_healthy_one_starts_over():
    from studio.devstack import Child, restart_pause_schedule

    child = Child(name="worker", process=None, started_at=0.0)
    pauses = [restart_pause_schedule(child, now=1.0) for _ in range(7)]
    assert pauses == [1, 2, 4, 8, 16, 30, 30]

    child.started_at = 100.0  # restarted, then up for a minute before dying again
    assert restart_pause_schedule(child, now=160.0) == 1
    assert child.restart_at == 161.0
