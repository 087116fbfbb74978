"""Shotcraft benchmarks (`make bench`). Prints figures; asserts nothing.

Runs against its own database (a fresh SQLite file unless BENCH_DATABASE_URL is set), the Redis
in REDIS_URL, and real daphne and Celery worker processes, all started here.
"""

import datetime
import os
import statistics
import sys
import tempfile
import threading
import time
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH_DIR = Path(tempfile.mkdtemp(prefix="shotcraft-bench-"))
os.environ["DATABASE_URL"] = os.environ.get("BENCH_DATABASE_URL", f"sqlite:///{BENCH_DIR / 'bench.sqlite3'}")
os.environ["MEDIA_ROOT"] = str(BENCH_DIR / "media")
os.environ.setdefault("CELERY_QUEUE_PREFIX", f"bench{os.getpid()}-")
os.environ.setdefault("CHANNELS_PREFIX", f"bench{os.getpid()}")
os.environ["CELERY_RESULT_BACKEND"] = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.config.settings")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.urls import reverse  # noqa: E402

from jobs.models import Generation  # noqa: E402
from studio.config.celery import ping  # noqa: E402
from studio.services.takes import shot_take_request  # noqa: E402
from tests.factories import creator_create, project_for, shot_for  # noqa: E402
from tests.stack import celery_worker, daphne_server  # noqa: E402

TAKES = int(os.environ.get("BENCH_TAKES", "100"))
NOOPS = int(os.environ.get("BENCH_NOOPS", "200"))
LOAD_SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "5"))
LOAD_CONCURRENCY = int(os.environ.get("BENCH_LOAD_CONCURRENCY", "4"))


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def router_timings(rounds: int = 2000) -> tuple[list[float], list[float], int]:
    """The pure routing decision over the whole catalog, and a full quote (catalog + Redis health)."""
    from jobs.compiler import ShotSpec
    from jobs.services.requests import _route_candidates, route_needs_for, take_quote
    from providers.router import route_plan

    spec = ShotSpec(title="t", subject="s", scene="", camera="static", motion="", style="", negative="",
                    duration_seconds=5, aspect_ratio="16:9")
    needs = route_needs_for(spec=spec, tier="final")
    candidates, _ = _route_candidates(today=datetime.date.today(), with_audio=False)
    decisions = []
    for _ in range(rounds):
        started = time.perf_counter()
        route_plan(needs, candidates)
        decisions.append(time.perf_counter() - started)
    quotes = []
    for _ in range(rounds // 20):
        started = time.perf_counter()
        take_quote(spec=spec, tier="draft")
        quotes.append(time.perf_counter() - started)
    return decisions, quotes, len(candidates)


def celery_noop_round_trips(count: int) -> list[float]:
    ping.delay().get(timeout=30)  # warm up the connections
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        ping.delay().get(timeout=30)
        timings.append(time.perf_counter() - started)
    return timings


def take_overheads(count: int) -> tuple[list[float], list[float]]:
    """Per take: time from request to ready minus the time spent rendering (the generating state)."""
    user = creator_create(username="bench-pipeline", credits=100_000)
    shot = shot_for(project_for(user), duration_seconds=1, camera="static")
    overheads, totals = [], []
    for index in range(count):
        take = shot_take_request(user=user, shot=shot, idempotency_key=f"bench-{index}")
        take = wait_terminal(take.pk)
        if take.state != "ready":
            raise RuntimeError(f"bench take failed: {take.failure_reason}")
        stamps = {event.to_state: event.created_at for event in take.events.all()}
        total = (stamps["ready"] - stamps["queued"]).total_seconds()
        rendering = (stamps["downloading"] - stamps["generating"]).total_seconds()
        overheads.append(total - rendering)
        totals.append(total)
    return overheads, totals


def wait_terminal(take_id: int, timeout: float = 120) -> Generation:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        take = Generation.objects.get(pk=take_id)
        if take.is_terminal:
            return take
        time.sleep(0.01)
    raise TimeoutError(f"take {take_id} not finished after {timeout} s")


def storyboard_query_counts() -> dict[int, int]:
    counts = {}
    for shot_count in (5, 200):
        user = creator_create(username=f"bench-board-{shot_count}", credits=0)
        project = project_for(user)
        for index in range(shot_count):
            shot_for(project, title=f"Shot {index + 1}")
        client = Client()
        client.force_login(user)
        url = reverse("project-detail", args=[project.pk])
        client.get(url)  # warm caches (sessions, content types)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
        assert response.status_code == 200, response.status_code
        counts[shot_count] = len(queries)
    reset_queries()
    return counts


def requests_per_second(base_url: str, path: str, cookie: str) -> float:
    parsed = urlparse(base_url)
    stop_at = time.monotonic() + LOAD_SECONDS
    done = [0] * LOAD_CONCURRENCY

    def hammer(slot: int) -> None:
        conn = HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        while time.monotonic() < stop_at:
            conn.request("GET", path, headers={"Cookie": cookie, "Host": "127.0.0.1"})
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"{path} answered {response.status}")
            done[slot] += 1
        conn.close()

    threads = [threading.Thread(target=hammer, args=(slot,)) for slot in range(LOAD_CONCURRENCY)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.monotonic() - started)


def storyboard_throughput(base_url: str) -> tuple[float, float]:
    user = creator_create(username="bench-rps", credits=0)
    project = project_for(user)
    for index in range(20):
        shot_for(project, title=f"Shot {index + 1}")
    client = Client()
    client.force_login(user)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    hello = requests_per_second(base_url, reverse("healthz"), cookie)
    board = requests_per_second(base_url, reverse("project-detail", args=[project.pk]), cookie)
    return board, hello


def main() -> None:
    call_command("migrate", verbosity=0)
    call_command("catalog_sync", verbosity=0)
    print(f"Shotcraft benchmark — database {connection.vendor}, Redis {settings.REDIS_URL}, {os.cpu_count()} CPUs\n")

    decisions, quotes, catalog_size = router_timings()
    print(f"Router over the full catalog ({catalog_size} provider models)")
    print(f"  decision (pure)   p50 {percentile(decisions, 50) * 1e6:8.1f} µs   p99 {percentile(decisions, 99) * 1e6:8.1f} µs")
    print(f"  full quote        p50 {ms(percentile(quotes, 50))}   p99 {ms(percentile(quotes, 99))}   (catalog query + Redis health)\n")

    counts = storyboard_query_counts()
    print("Storyboard page queries")
    print(f"  5 shots: {counts[5]} queries   200 shots: {counts[200]} queries"
          f"   ({'constant' if counts[5] == counts[200] else 'GROWS with shots'})\n")

    with celery_worker(BENCH_DIR / "worker.log", CELERY_RESULT_BACKEND=os.environ["CELERY_RESULT_BACKEND"]):
        noop = celery_noop_round_trips(NOOPS)
        overheads, totals = take_overheads(TAKES)
    print(f"Pipeline overhead per take, rendering excluded ({TAKES} takes of 1 s on the local renderer)")
    print(f"  take overhead     p50 {ms(percentile(overheads, 50))}   p99 {ms(percentile(overheads, 99))}")
    print(f"  whole take        p50 {ms(percentile(totals, 50))}   p99 {ms(percentile(totals, 99))}")
    print(f"  Celery no-op trip p50 {ms(percentile(noop, 50))}   p99 {ms(percentile(noop, 99))}   ({NOOPS} round trips)")
    print(f"  overhead / no-op (p50): {statistics.median(overheads) / statistics.median(noop):.1f}x\n")

    with daphne_server(BENCH_DIR / "daphne.log") as base_url:
        board, hello = storyboard_throughput(base_url)
    print(f"Requests per second on one daphne process ({LOAD_CONCURRENCY} keep-alive clients, {LOAD_SECONDS:.0f} s each)")
    print(f"  storyboard (20 shots) {board:8.1f} req/s")
    print(f"  hello-world view      {hello:8.1f} req/s   (storyboard at {board / hello:.0%} of it)")
    print(f"\nLogs: {BENCH_DIR}")


if __name__ == "__main__":
    main()
