"""Fault benchmark: takes in flight while each kind of process is killed once, and how fast they recover.

The production shape runs as separate processes on this machine: daphne (vendors call back to it),
a pipeline worker (pipeline and render queues), an evaluation worker and beat (recovery every few
seconds). For each kind of process in turn, a batch of takes is requested (half on our animatic,
half at the Runway emulator), the process is SIGKILLed at the moment it has work of those takes in
hand, and started again a second later, as a supervisor would.

Printed per kind:
* recovery: from the process being back to the moment the last of the takes it left behind moves
  again (its next history entry), the goal is ≤ 30 s;
* takes lost: takes of the batch not ready once the batch should long be over, the goal is 0.
"""

import json
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.test.utils import override_settings

from bench.fixtures import creators_with_shots
from jobs.models import Take, TakeEvent
from jobs.states import TERMINAL_STATES, TakeState
from providers.emulators.sandbox import emulator_create
from providers.models import ProviderModel
from studio.services.takes import shot_take_request
from tests.stack import ROOT, free_port, stack_env, wait_for_port

GOAL_SECONDS = 30
TAKES_PER_KIND = 6
VENDOR_LATENCY_SECONDS = 4.0
BATCH_TIMEOUT_SECONDS = 150


class Process:
    """One process of the stack that the benchmark may kill and start again."""

    def __init__(self, name: str, command: list[str], env: dict, log: Path, *, ready_port: int | None = None,
                 ready_marker: str = ""):
        self.name, self.command, self.env, self.log = name, command, env, log
        self.ready_port, self.ready_marker = ready_port, ready_marker
        self.popen: subprocess.Popen | None = None

    def start(self) -> float:
        """Start it; returns the moment it is ready to work."""
        handle = self.log.open("a")
        offset = self.log.stat().st_size
        self.popen = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=handle, stderr=subprocess.STDOUT)
        if self.ready_port:
            wait_for_port(self.ready_port, self.popen)
        else:
            self._wait_for_marker(offset)
        return time.monotonic()

    def _wait_for_marker(self, offset: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.log.open() as log:
                log.seek(offset)
                if self.ready_marker in log.read():
                    return
            if self.popen.poll() is not None:
                raise RuntimeError(f"{self.name} exited early: see {self.log}")
            time.sleep(0.1)
        raise TimeoutError(f"{self.name} not ready after {timeout} s: see {self.log}")

    def kill(self) -> None:
        self.popen.send_signal(signal.SIGKILL)
        self.popen.wait()

    def stop(self) -> None:
        if self.popen and self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()


@dataclass(frozen=True)
class KindFigures:
    kind: str
    affected: int
    recovery_seconds: float
    lost: int


def fault_benchmark(bench_dir: Path) -> list[KindFigures]:
    with emulator_create("runway", latency_seconds=VENDOR_LATENCY_SECONDS) as runway:
        web_port = free_port()
        env = stack_env(PROVIDER_SANDBOX_URLS=json.dumps({"runway": runway.url}), PUBLIC_BASE_URL=f"http://127.0.0.1:{web_port}",
                        TAKE_RECOVERY_INTERVAL_SECONDS="2")
        processes = _stack(bench_dir, env, web_port)
        with override_settings(PROVIDER_SANDBOX_URLS={"runway": runway.url}):
            try:
                for process in processes.values():
                    process.start()
                return [_kill_once(kind, processes[kind]) for kind in ("worker", "evaluator", "beat", "web")]
            finally:
                for process in processes.values():
                    process.stop()


def _stack(bench_dir: Path, env: dict, web_port: int) -> dict[str, Process]:
    celery = [sys.executable, "-m", "celery", "-A", "studio.config"]
    worker = [*celery, "worker", "--loglevel=INFO", "--pool=threads", "--concurrency=2", "--without-gossip", "--without-mingle"]
    schedule = bench_dir / "celerybeat-schedule"
    return {
        "web": Process("web", [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(web_port),
                               "studio.config.asgi:application"], env, bench_dir / "faults-web.log", ready_port=web_port),
        "worker": Process("worker", [*worker, "-n", "faults-pipeline@%h", "-Q",
                                     f"{settings.CELERY_TASK_DEFAULT_QUEUE},{settings.LOCAL_RENDER_QUEUE}"],
                          env, bench_dir / "faults-worker.log", ready_marker="ready."),
        "evaluator": Process("evaluator", [*worker, "-n", "faults-evaluation@%h", "-Q", settings.EVALUATION_QUEUE],
                             env, bench_dir / "faults-evaluator.log", ready_marker="ready."),
        "beat": Process("beat", [*celery, "beat", "--loglevel=INFO", "--schedule", str(schedule)],
                        env, bench_dir / "faults-beat.log", ready_marker="beat: Starting"),
    }


# What each kind of process has in hand when it is worth killing.
def _worker_busy(take_ids: list[int]) -> bool:
    return Take.objects.filter(pk__in=take_ids, state=TakeState.GENERATING).exists()


def _evaluator_busy(take_ids: list[int]) -> bool:
    return Take.objects.filter(pk__in=take_ids, state=TakeState.EVALUATING).exclude(lease_token="").exists()


def _anything_in_flight(take_ids: list[int]) -> bool:
    return Take.objects.filter(pk__in=take_ids).exclude(state__in=TERMINAL_STATES).exists()


BUSY = {"worker": _worker_busy, "evaluator": _evaluator_busy, "beat": _anything_in_flight, "web": _worker_busy}


def _kill_once(kind: str, process: Process) -> KindFigures:
    take_ids = _batch_request(kind)
    _wait(lambda: BUSY[kind](take_ids), timeout=60)
    left = list(Take.objects.filter(pk__in=take_ids).exclude(state__in=TERMINAL_STATES).values_list("pk", flat=True))
    process.kill()
    time.sleep(1)
    back_at = process.start()
    back_clock = time.time()
    _wait(lambda: not _anything_in_flight(take_ids), timeout=BATCH_TIMEOUT_SECONDS, fail=False)
    return KindFigures(kind=kind, affected=len(left), recovery_seconds=_recovery(left, back_clock, back_at),
                       lost=Take.objects.filter(pk__in=take_ids).exclude(state=TakeState.READY).count())


def _batch_request(kind: str) -> list[int]:
    half = TAKES_PER_KIND // 2
    local = creators_with_shots(1, prefix=f"faults-{kind}-local", shots_each=half, credits=10_000, duration_seconds=4,
                                camera="static")[0]
    remote = creators_with_shots(1, prefix=f"faults-{kind}-remote", shots_each=half, credits=10_000, duration_seconds=5)[0]
    animatic = ProviderModel.objects.filter(slug="local-animatic")
    take_ids = [shot_take_request(user=shot.project.owner, shot=shot).pk for shot in local]
    animatic.update(enabled=False)  # the other half goes to the vendor
    try:
        take_ids += [shot_take_request(user=shot.project.owner, shot=shot).pk for shot in remote]
    finally:
        animatic.update(enabled=True)
    return take_ids


def _recovery(take_ids: list[int], back_clock: float, back_at: float) -> float:
    """Seconds from the process being back to the last left-behind take's next history entry
    (infinite when one never moved again)."""
    back = datetime.fromtimestamp(back_clock, tz=UTC)
    worst = 0.0
    for take_id in take_ids:
        moved = TakeEvent.objects.filter(take_id=take_id, created_at__gte=back).order_by("created_at").first()
        if moved is not None:
            worst = max(worst, (moved.created_at - back).total_seconds())
        elif not Take.objects.filter(pk=take_id, state__in=TERMINAL_STATES).exists():
            return float("inf")
    return worst


def _wait(condition, *, timeout: float, fail: bool = True) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    if fail:
        raise TimeoutError(f"waited {timeout} s for the stack")
    return False


def faults_print(figures: list[KindFigures]) -> None:
    print(f"Faults: each process kind SIGKILLed once with {TAKES_PER_KIND} takes in flight "
          f"(half animatic, half Runway emulator), started again 1 s later")
    print(f"  {'process':<12}{'takes left':>11}{'recovery':>12}{'goal':>8}{'takes lost':>12}{'goal':>6}")
    for row in figures:
        recovery = "never" if row.recovery_seconds == float("inf") else f"{row.recovery_seconds:.1f} s"
        verdict = "ok" if row.recovery_seconds <= GOAL_SECONDS else "MISSED"
        print(f"  {row.kind:<12}{row.affected:>11}{recovery:>12}{'≤ ' + str(GOAL_SECONDS) + ' s':>8}"
              f"{row.lost:>12}{'0':>6}   {verdict if not row.lost else 'LOST TAKES'}")
    print()
