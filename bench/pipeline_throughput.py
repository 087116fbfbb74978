"""Sustained takes per second through the whole remote pipeline, next to bare Celery no-ops per second.

Every take runs the path a vendor take runs in production: take_request (quote, reserve credits,
queue) → worker: submit to the fal queue emulator → its signed callback to daphne → poll →
download → store (video, stills, preview) → evaluate → ready with its credits captured. The
driver keeps `in_flight` takes running for `seconds`, starting a new one as each finishes; when the
worker has stopped, the takes left are failed (credits released).

Why fal: every emulator takes `latency_seconds` (0 answers "done" at once), but only fal's generic
endpoint schema (Wan 2.6) accepts a 1 s clip, and fal signs callbacks, so the callback path runs
too. For the run, the bench database's catalog routes drafts to Wan 2.6 only, allows it 1 s and
lifts its rate limit and concurrency cap (vendor limits, not ours); it is restored after.

Each take gets a shot of its own: asking twice for one shot would reuse the stored video.
"""

import json
import math
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from itertools import count
from pathlib import Path

from django.db.models import F
from django.test.utils import override_settings
from django.utils import timezone

from bench.figures import ms, p50_p99, percentile
from bench.fixtures import ABANDONED, BUSIEST_PLAN, TINY_CLIP, creators_with_shots, takes_abandon
from billing.models import Plan, Reservation
from jobs.models import Take, TakeEvent
from jobs.states import TERMINAL_STATES, TakeState
from providers.models import ProviderModel
from studio.config.celery import ping
from studio.models import Project
from studio.services.takes import shot_take_request
from tests.factories import shot_for
from tests.stack import ROOT, celery_worker, daphne_server, free_port, stack_env, wait_for_port

FAMILY = "fal"
MODEL_SLUG = "wan-2-6-fal"
LEFT_AT_THE_END = "still running when the run ended (failed, credits released)"
WARM_UP_TAKES = 3  # one at a time, before the load: loads the models, renders the emulator's clip
STAGES = (  # (label, from state, to state) of a remote take's history; under load each includes its queue
    ("submit", TakeState.QUEUED, TakeState.GENERATING),
    ("callback → poll", TakeState.GENERATING, TakeState.DOWNLOADING),
    ("download + store", TakeState.DOWNLOADING, TakeState.EVALUATING),
    ("evaluate", TakeState.EVALUATING, TakeState.READY),
)


@dataclass(frozen=True)
class ThroughputFigures:
    takes_per_second: float
    window_seconds: float
    alone: list[float]  # end-to-end seconds of the warm-up takes, one in flight
    latencies: list[float]  # end-to-end seconds of the takes that finished under load
    stages: dict[str, list[float]]
    ready: int
    captured: int
    unsettled: Counter  # state or failure reason → takes that did not end ready
    noops_per_second: float
    media_cpu_per_take: float  # CPU seconds of our own work on each take's video (download … evaluate)

    @property
    def ceiling(self) -> float:
        """Takes per second the media work alone allows on this machine's cores."""
        return (os.cpu_count() or 1) / self.media_cpu_per_take if self.media_cpu_per_take else 0.0


def pipeline_throughput(bench_dir: Path, *, in_flight: int, seconds: float, noops: int, workers: int,
                        label: str = "flight") -> ThroughputFigures:
    """`label` names this run's creators and logs, so that one bench process may run several."""
    with ExitStack() as stack:
        emulator_url = stack.enter_context(emulator_started(bench_dir / "emulator.log"))
        stack.enter_context(sandbox_family(FAMILY, emulator_url))
        stack.enter_context(catalog_only(MODEL_SLUG))
        base_url = stack.enter_context(daphne_server(bench_dir / "daphne-callbacks.log"))
        limit = Plan.objects.get(slug=BUSIEST_PLAN).concurrency_limit or in_flight
        projects = [own[0].project for own in creators_with_shots(
            math.ceil(in_flight / limit), prefix=f"bench-{label}", plan_slug=BUSIEST_PLAN, credits=1_000_000, **TINY_CLIP)]
        flight = TakeFlight(projects)
        with ExitStack() as worker_stack:
            for index in range(workers):
                worker_stack.enter_context(celery_worker(
                    bench_dir / f"worker-{label}-{index}.log", PUBLIC_BASE_URL=base_url,
                    CELERY_RESULT_BACKEND=os.environ["CELERY_RESULT_BACKEND"]))
            noops_per_second = celery_noops_per_second(noops)
            alone = [flight.one_alone() for _ in range(WARM_UP_TAKES)]
            window = flight.keep_flying(in_flight=in_flight, seconds=seconds)
        takes_abandon(list(flight.running))  # the workers have stopped: what is left will not finish
    return throughput_figures(flight, window=window, alone=alone, noops_per_second=noops_per_second)


@contextmanager
def emulator_started(log_path: Path) -> Iterator[str]:
    """The family's emulator in its own process, as `make run` serves it, answering with zero latency."""
    port = free_port()
    command = [sys.executable, "-m", "providers.emulators.sandbox", "--ports", json.dumps({FAMILY: port}), "--latency", "0"]
    with log_path.open("w") as log, subprocess.Popen(command, cwd=ROOT, env=stack_env(), stdout=log,
                                                     stderr=subprocess.STDOUT) as process:
        try:
            wait_for_port(port, process)
            yield f"http://127.0.0.1:{port}"
        finally:
            process.terminate()  # leaving the Popen block waits for it


@contextmanager
def sandbox_family(family: str, url: str) -> Iterator[None]:
    """Point `family` at its emulator here and in every process started meanwhile."""
    previous = os.environ.get("PROVIDER_SANDBOX_URLS")
    os.environ["PROVIDER_SANDBOX_URLS"] = json.dumps({family: url})
    try:
        with override_settings(PROVIDER_SANDBOX_URLS={family: url}):
            yield
    finally:
        if previous is None:
            del os.environ["PROVIDER_SANDBOX_URLS"]
        else:
            os.environ["PROVIDER_SANDBOX_URLS"] = previous


@contextmanager
def catalog_only(slug: str) -> Iterator[None]:
    """Route to `slug` alone, for any whole second, with no vendor rate limit or cap; restore after."""
    enabled = list(ProviderModel.objects.filter(enabled=True).values_list("slug", flat=True))
    limits = ProviderModel.objects.values("allowed_durations", "rate_limit_per_minute", "max_concurrency").get(slug=slug)
    ProviderModel.objects.exclude(slug=slug).update(enabled=False)
    ProviderModel.objects.filter(slug=slug).update(enabled=True, allowed_durations=[], rate_limit_per_minute=None,
                                                   max_concurrency=None)
    try:
        yield
    finally:
        ProviderModel.objects.filter(slug=slug).update(**limits)
        ProviderModel.objects.filter(slug__in=enabled).update(enabled=True)
        ProviderModel.objects.exclude(slug__in=enabled).update(enabled=False)


def celery_noops_per_second(total: int) -> float:
    """`total` no-op tasks sent at once and every result collected: tasks per second through the worker."""
    ping.delay().get(timeout=30)  # warm up the connections
    started = time.perf_counter()
    results = [ping.delay() for _ in range(total)]
    for result in results:
        result.get(timeout=120)
    return total / (time.perf_counter() - started)


class TakeFlight:
    """Takes of the bench creators' projects, each creator refilling its own slots as takes finish."""

    def __init__(self, projects: list[Project]):
        self.projects = projects
        self.running: dict[int, int] = {}  # take id → index of its project
        self.loaded: list[int] = []  # every take started under load
        self._numbers = count(1)

    def start(self, project_index: int) -> int:
        number = next(self._numbers)
        shot = shot_for(self.projects[project_index], title=f"Take {number}", **TINY_CLIP)
        take = shot_take_request(user=self.projects[project_index].owner, shot=shot, idempotency_key=f"bench-flight-{number}")
        self.running[take.pk] = project_index
        return take.pk

    def finished(self) -> list[int]:
        """Forget the takes that reached a terminal state; returns their projects' indexes."""
        done = list(Take.objects.filter(pk__in=self.running, state__in=TERMINAL_STATES).values_list("pk", flat=True))
        return [self.running.pop(take_id) for take_id in done]

    def one_alone(self) -> float:
        take_id = self.start(0)
        self.wait_all(timeout=60)
        take = Take.objects.get(pk=take_id)
        return (take.finished_at - take.created_at).total_seconds()

    def keep_flying(self, *, in_flight: int, seconds: float) -> tuple[datetime, datetime]:
        """`in_flight` takes at once for `seconds` after every slot was first filled; returns that span."""
        for slot in range(in_flight):
            self.loaded.append(self.start(slot % len(self.projects)))
        full_from = timezone.now()
        stop_at = time.monotonic() + seconds
        while time.monotonic() < stop_at:
            done = self.finished()
            for project_index in done:
                self.loaded.append(self.start(project_index))
            if not done:
                time.sleep(0.02)
        return full_from, timezone.now()

    def wait_all(self, *, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.running:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.running)} takes still running after {timeout:.0f} s")
            if not self.finished():
                time.sleep(0.02)


def throughput_figures(flight: TakeFlight, *, window: tuple[datetime, datetime], alone: list[float],
                       noops_per_second: float) -> ThroughputFigures:
    takes = Take.objects.filter(pk__in=flight.loaded)
    rows = list(takes.values("pk", "state", "created_at", "finished_at", "failure_reason"))
    ready = [row for row in rows if row["state"] == TakeState.READY]
    finishes = sorted(row["finished_at"] for row in ready)
    # Sustained: while every slot was taken (and some take had finished), `in_flight` takes ran throughout.
    start, end = max(window[0], finishes[0]) if finishes else window[0], window[1]
    in_window = [row for row in ready if start < row["finished_at"] <= end]
    span = (end - start).total_seconds()
    return ThroughputFigures(
        takes_per_second=len(in_window) / span if span > 0 else 0.0, window_seconds=span, alone=alone,
        latencies=[(row["finished_at"] - row["created_at"]).total_seconds() for row in in_window],
        stages=stage_durations([row["pk"] for row in in_window]), ready=len(ready),
        captured=takes.filter(state=TakeState.READY, reservation__state=Reservation.State.CAPTURED,
                              reservation__captured_amount=F("price_credits")).count(),
        unsettled=Counter(row["failure_reason"] or row["state"] for row in rows if row["state"] != TakeState.READY),
        noops_per_second=noops_per_second, media_cpu_per_take=media_cpu_per_take([row["pk"] for row in in_window]),
    )


def media_cpu_per_take(take_ids: list[int]) -> float:
    """The median CPU seconds our stages spent on each take's video (Take.stage_seconds)."""
    spent = [sum(stage["cpu"] for stage in seconds.values())
             for seconds in Take.objects.filter(pk__in=take_ids).values_list("stage_seconds", flat=True) if seconds]
    return percentile(spent, 50) if spent else 0.0


def stage_durations(take_ids: list[int]) -> dict[str, list[float]]:
    """Seconds each take spent in each stage, from its history (first arrival in each state)."""
    reached: dict[int, dict[str, datetime]] = {}
    events = TakeEvent.objects.filter(take_id__in=take_ids).order_by("pk")
    for take_id, state, at in events.values_list("take_id", "to_state", "created_at"):
        reached.setdefault(take_id, {}).setdefault(state, at)
    return {label: [(stamps[to] - stamps[since]).total_seconds() for stamps in reached.values()]
            for label, since, to in STAGES}


def throughput_print(figures: ThroughputFigures, *, in_flight: int, seconds: float, workers: int) -> None:
    print(f"Sustained throughput, whole remote pipeline ({in_flight} takes in flight for {seconds:.0f} s, {workers} worker "
          f"process{'es' if workers > 1 else ''} × 2 threads)")
    print(f"  provider: {MODEL_SLUG} on the {FAMILY} emulator at zero latency (the one emulator whose schema takes a")
    print("            1 s clip; its signed callbacks to daphne drive the polls); clip 1 s, 1:1 (480×480)")
    if not figures.latencies:
        print(f"  no take finished within {figures.window_seconds:.0f} s under load: run longer (--flight-seconds)\n")
        return
    print(f"  takes             {figures.takes_per_second:8.2f} takes/s   ({len(figures.latencies)} ready in "
          f"{figures.window_seconds:.1f} s with {in_flight} in flight)")
    share = figures.takes_per_second / figures.ceiling if figures.ceiling else 0.0
    print(f"  media ceiling     {figures.ceiling:8.2f} takes/s   ({os.cpu_count()} cores / {figures.media_cpu_per_take:.2f} "
          f"CPU s of media work a take: download, previews, store, evaluate)")
    print(f"  share of ceiling  {share:8.0%}   goal ≥ 80%   {'ok' if share >= 0.8 else 'MISSED'}")
    print(f"  take, end to end  {p50_p99(figures.latencies)}   (request → ready, credits captured; the takes above)")
    print(f"  take, one alone   p50 {ms(percentile(figures.alone, 50))}   ({len(figures.alone)} warm-up takes, one at a time)")
    print("  stages, p50       " + "   ".join(f"{label} {percentile(values, 50):.1f} s" for label, values in figures.stages.items()))
    print(f"  Celery no-op      {figures.noops_per_second:8.1f} tasks/s   (same worker setup, results collected)")
    print(f"  no-op / take:     {figures.noops_per_second / figures.takes_per_second:.0f}x")
    print(f"  steady state by Little's law: {in_flight} in flight / {figures.takes_per_second:.2f} takes/s = "
          f"{in_flight / figures.takes_per_second:.0f} s a take (the run shows only the first wave's)")
    print(f"  settled: {figures.ready} ready, {figures.captured} of them with their price captured"
          + "".join(f"; {number} {LEFT_AT_THE_END if reason == ABANDONED else reason}"
                    for reason, number in figures.unsettled.items()) + "\n")
