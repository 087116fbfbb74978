"""Shotcraft benchmarks (`make bench`). Prints figures; asserts nothing.

Runs against its own database (a fresh SQLite file unless BENCH_DATABASE_URL is set), the Redis
in REDIS_URL, and real daphne and Celery worker processes, all started here. `--only` picks
sections; the sizes of the load sections are flags (or environment variables): see --help.
"""

import argparse
import datetime
import logging
import os
import statistics
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from http.client import HTTPConnection
from http.cookies import SimpleCookie
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


def logs_to_file(path: Path) -> None:
    """This process's log lines (httpx requests and the like) go beside the workers' logs, not to the figures."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        root.removeHandler(existing)
    root.addHandler(handler)


logs_to_file(BENCH_DIR / "bench.log")

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection, reset_queries  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402
from django.urls import reverse  # noqa: E402

from bench.faults import fault_benchmark, faults_print  # noqa: E402
from bench.figures import p50_p99, percentile  # noqa: E402
from bench.fixtures import creators_with_shots, session_cookie, storyboard_in_use  # noqa: E402
from bench.pipeline_throughput import pipeline_throughput, throughput_print  # noqa: E402
from bench.webhooks import take_pipeline_cost, webhook_fanout, webhooks_print  # noqa: E402
from bench.websocket_push import push_print, websocket_push  # noqa: E402
from jobs.models import Take  # noqa: E402
from jobs.pipeline.transitions import take_progress_report  # noqa: E402
from providers.local.renders import render_seconds  # noqa: E402
from studio.config.celery import ping  # noqa: E402
from studio.services.takes import shot_take_request  # noqa: E402
from tests.stack import celery_worker, daphne_server  # noqa: E402

TAKES = int(os.environ.get("BENCH_TAKES", "100"))
NOOPS = int(os.environ.get("BENCH_NOOPS", "200"))
LOAD_SECONDS = float(os.environ.get("BENCH_LOAD_SECONDS", "5"))
LOAD_CONCURRENCY = int(os.environ.get("BENCH_LOAD_CONCURRENCY", "4"))
# A rendering take's progress arrives with its polls, at most once a second (jobs.pipeline.attempts.poll_delay).
PROGRESS_EVERY_SECONDS = float(os.environ.get("BENCH_PROGRESS_EVERY_SECONDS", "1"))
STORYBOARD_GOAL = 0.40  # issue #11: storyboard ÷ hello-world req/s on one daphne


def router_timings(rounds: int = 2000) -> tuple[list[float], list[float], int]:
    """The pure routing decision over the whole catalog, and a full quote (catalog + Redis health)."""
    from jobs.compiler import ShotSpec
    from jobs.pipeline.quote import _route_candidates, route_needs_for, take_quote
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


def health_timings(rounds: int = 200) -> tuple[list[float], list[float], int]:
    """Every catalog model's health read one model at a time (a Redis round trip or two each) and in one pipeline."""
    from providers.health import provider_health, providers_health
    from providers.models import ProviderModel

    limits = dict(ProviderModel.objects.values_list("slug", "rate_limit_per_minute"))
    per_model, batched = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        for slug, per_minute in limits.items():
            provider_health(slug, per_minute=per_minute)
        per_model.append(time.perf_counter() - started)
        started = time.perf_counter()
        providers_health(limits)
        batched.append(time.perf_counter() - started)
    return per_model, batched, len(limits)


def celery_noop_round_trips(count: int) -> list[float]:
    ping.delay().get(timeout=30)  # warm up the connections
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        ping.delay().get(timeout=30)
        timings.append(time.perf_counter() - started)
    return timings


@dataclass(frozen=True)
class TakeTiming:
    total: float  # request → ready
    media: float  # render + download + previews + store + evaluate, wall seconds
    media_cpu: float
    stages: dict[str, float]
    hops: dict[str, float]  # orchestration between the states, media work taken out

    @property
    def orchestration(self) -> float:
        return self.total - self.media


def take_timings(count: int, *, prefix: str = "bench-pipeline") -> list[TakeTiming]:
    """Per take, request → ready, and the media work inside it: the render (as the render service
    timed it) and each stage's work on the video (as the stage timed it, `Take.stage_seconds`)."""
    # A shot a take: asking twice for one shot would reuse its stored video instead of rendering again.
    shots = creators_with_shots(1, prefix=prefix, shots_each=count, credits=100_000, duration_seconds=1,
                                camera="static")[0]
    timings = []
    for index, shot in enumerate(shots):
        take = shot_take_request(user=shot.project.owner, shot=shot, idempotency_key=f"{prefix}-{index}")
        take = wait_terminal(take.pk)
        if take.state != "ready":
            raise RuntimeError(f"bench take failed: {take.failure_reason}")
        stamps = {event.to_state: event.created_at for event in take.events.all()}
        render_wall, render_cpu = render_seconds(take.attempts.get().provider_job_id) or (0.0, 0.0)
        stages = {"render": render_wall, **{stage: seconds["wall"] for stage, seconds in take.stage_seconds.items()}}
        cpu = render_cpu + sum(seconds["cpu"] for seconds in take.stage_seconds.values())
        timings.append(TakeTiming(total=(stamps["ready"] - stamps["queued"]).total_seconds(), media=sum(stages.values()),
                                  media_cpu=cpu, stages=stages, hops=_hops(stamps, stages)))
    return timings


def _hops(stamps: dict, stages: dict[str, float]) -> dict[str, float]:
    def between(start: str, end: str) -> float:
        return (stamps[end] - stamps[start]).total_seconds()

    return {
        "request → generating": between("queued", "generating"),
        "render wait": between("generating", "downloading") - stages.get("render", 0.0),
        "store hand-off": between("downloading", "evaluating") - sum(stages.get(s, 0.0) for s in ("download", "previews", "store")),
        "evaluation hand-off": between("evaluating", "ready") - stages.get("evaluate", 0.0),
    }


def wait_terminal(take_id: int, timeout: float = 120) -> Take:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        take = Take.objects.get(pk=take_id)
        if take.is_terminal:
            return take
        time.sleep(0.01)
    raise TimeoutError(f"take {take_id} not finished after {timeout} s")


def storyboard_query_counts() -> dict[int, dict[str, int]]:
    """Queries of the storyboard page rendered in full (no cache), served from the cache, and answered 304."""
    counts = {}
    for shot_count in (5, 200):
        project = creators_with_shots(1, prefix=f"bench-board-{shot_count}", shots_each=shot_count)[0][0].project
        client = Client()
        client.force_login(project.owner)
        url = reverse("project-detail", args=[project.pk])
        client.get(url)  # warm caches (sessions, content types) and set the CSRF cookie
        with override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}):
            full = queries_of(client, url)
        client.get(url)  # now cached
        cached = queries_of(client, url)
        etag = client.get(url)["ETag"]
        counts[shot_count] = {"full": full, "cached": cached, "304": queries_of(client, url, HTTP_IF_NONE_MATCH=etag)}
    reset_queries()
    return counts


def queries_of(client: Client, url: str, **headers) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **headers)
    assert response.status_code in (200, 304), response.status_code
    return len(queries)


@dataclass
class Load:
    """What a load run saw: requests answered, and how many of them were 304 Not Modified."""

    seconds: float
    answered: int = 0
    not_modified: int = 0

    @property
    def per_second(self) -> float:
        return self.answered / self.seconds

    @property
    def not_modified_share(self) -> float:
        return self.not_modified / self.answered if self.answered else 0.0


def requests_per_second(base_url: str, path: str, cookie: str, *, revalidate: bool = False) -> Load:
    """LOAD_CONCURRENCY keep-alive clients asking for `path` for LOAD_SECONDS. A client that
    revalidates sends the ETag of its last 200 in If-None-Match, as a browser does."""
    parsed = urlparse(base_url)
    stop_at = time.monotonic() + LOAD_SECONDS
    done, unchanged = [0] * LOAD_CONCURRENCY, [0] * LOAD_CONCURRENCY

    def hammer(slot: int) -> None:
        conn = HTTPConnection(parsed.hostname, parsed.port, timeout=30)
        etag = ""
        while time.monotonic() < stop_at:
            conn.request("GET", path, headers={"Cookie": cookie, "Host": "127.0.0.1",
                                               **({"If-None-Match": etag} if etag else {})})
            response = conn.getresponse()
            response.read()
            if response.status == 304:
                unchanged[slot] += 1
            elif response.status == 200:
                etag = response.getheader("ETag", "") if revalidate else ""
            else:
                raise RuntimeError(f"{path} answered {response.status}")
            done[slot] += 1
        conn.close()

    threads = [threading.Thread(target=hammer, args=(slot,)) for slot in range(LOAD_CONCURRENCY)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return Load(seconds=time.monotonic() - started, answered=sum(done), not_modified=sum(unchanged))


def browser_cookie(base_url: str, path: str, session: str) -> str:
    """The session cookie plus the CSRF cookie the first page view sets, as a browser holds them."""
    parsed = urlparse(base_url)
    conn = HTTPConnection(parsed.hostname, parsed.port, timeout=30)
    conn.request("GET", path, headers={"Cookie": session, "Host": "127.0.0.1"})
    response = conn.getresponse()
    response.read()
    conn.close()
    csrf = SimpleCookie(response.getheader("Set-Cookie", ""))[settings.CSRF_COOKIE_NAME].value
    return f"{session}; {settings.CSRF_COOKIE_NAME}={csrf}"


@contextmanager
def takes_progressing(project, every_seconds: float):
    """While the load runs, the project's rendering takes report progress, as a provider's would."""
    stop = threading.Event()
    rendering = list(Take.objects.filter(shot__project=project, state="generating").values_list("pk", "progress"))

    def report() -> None:
        percent = {take_id: progress for take_id, progress in rendering}
        while not stop.wait(every_seconds):
            for take_id in percent:
                percent[take_id] = min(percent[take_id] + 1, 99)
                take_progress_report(take_id=take_id, percent=percent[take_id])
        connection.close()

    reporter = threading.Thread(target=report, name="bench-progress")
    reporter.start()
    try:
        yield len(rendering)
    finally:
        stop.set()
        reporter.join()


@dataclass(frozen=True)
class StoryboardLoad:
    hello: Load
    full: Load  # every request rendered (no If-None-Match), shot cards from a warm cache
    revalidating: Load  # browsers revalidating while takes progress
    rendering_takes: int
    progress_every: float


def storyboard_throughput(base_url: str) -> StoryboardLoad:
    project = storyboard_in_use(prefix="bench-rps")
    path = reverse("project-detail", args=[project.pk])
    cookie = browser_cookie(base_url, path, session_cookie(project.owner))
    hello = requests_per_second(base_url, reverse("healthz"), cookie)
    full = requests_per_second(base_url, path, cookie)
    with takes_progressing(project, every_seconds=PROGRESS_EVERY_SECONDS) as rendering:
        revalidating = requests_per_second(base_url, path, cookie, revalidate=True)
    return StoryboardLoad(hello=hello, full=full, revalidating=revalidating, rendering_takes=rendering,
                          progress_every=PROGRESS_EVERY_SECONDS)


def router_section(arguments: argparse.Namespace) -> None:
    decisions, quotes, catalog_size = router_timings()
    print(f"Router over the full catalog ({catalog_size} provider models)")
    print(f"  decision (pure)   p50 {percentile(decisions, 50) * 1e6:8.1f} µs   p99 {percentile(decisions, 99) * 1e6:8.1f} µs")
    print(f"  full quote        {p50_p99(quotes)}   (catalog query + Redis health)")
    per_model, batched, models = health_timings()
    print(f"  health, per model {p50_p99(per_model)}   ({models} models, a round trip or two each)")
    print(f"  health, batched   {p50_p99(batched)}   (one pipeline: what the quote uses;"
          f" {statistics.median(per_model) / statistics.median(batched):.1f}x faster at p50)\n")


def storyboard_section(arguments: argparse.Namespace) -> None:
    counts = storyboard_query_counts()
    print("Storyboard page queries (5 shots / 200 shots)")
    for kind, meaning in (("full", "rendered in full, no cache"), ("cached", "page from the cache"), ("304", "answered 304")):
        few, many = counts[5][kind], counts[200][kind]
        print(f"  {meaning:27s} {few:3d} / {many:3d}   ({'constant' if few == many else 'GROWS with shots'})")
    print()


ORCHESTRATION_GOAL = 10  # × a Celery no-op round trip (issue #11)


def overhead_section(arguments: argparse.Namespace) -> None:
    with daphne_server(BENCH_DIR / "overhead-daphne.log") as base_url, override_settings(PUBLIC_BASE_URL=base_url), \
            celery_worker(BENCH_DIR / "worker.log", CELERY_RESULT_BACKEND=os.environ["CELERY_RESULT_BACKEND"],
                          PUBLIC_BASE_URL=base_url):
        noop = celery_noop_round_trips(NOOPS)
        take_timings(3, prefix="bench-warm-up")  # the worker's imports, the first render
        timings = take_timings(TAKES)
    orchestration = [timing.orchestration for timing in timings]
    ratio = statistics.median(orchestration) / statistics.median(noop)
    print(f"Pipeline per take ({TAKES} takes of 1 s on the local renderer, its callback heard by daphne)")
    print(f"  whole take        {p50_p99([timing.total for timing in timings])}")
    print(f"  media work        {p50_p99([timing.media for timing in timings])}   "
          f"(CPU p50 {statistics.median(t.media_cpu for t in timings) * 1000:.0f} ms)")
    for stage in timings[0].stages:
        print(f"    {stage:<15} {p50_p99([timing.stages.get(stage, 0.0) for timing in timings])}")
    print(f"  orchestration     {p50_p99(orchestration)}   (whole take − media work)")
    for hop in timings[0].hops:
        print(f"    {hop:<21} {p50_p99([timing.hops[hop] for timing in timings])}")
    print(f"  Celery no-op trip {p50_p99(noop)}   ({NOOPS} round trips)")
    print(f"  orchestration / no-op (p50): {ratio:.1f}x   goal ≤ {ORCHESTRATION_GOAL}x   "
          f"{'ok' if ratio <= ORCHESTRATION_GOAL else 'MISSED'}\n")


def requests_section(arguments: argparse.Namespace) -> None:
    with daphne_server(BENCH_DIR / "daphne.log") as base_url:
        load = storyboard_throughput(base_url)
    hello = load.hello.per_second
    print(f"Requests per second on one daphne process ({LOAD_CONCURRENCY} keep-alive clients, {LOAD_SECONDS:.0f} s each)")
    print(f"  hello-world view      {hello:8.1f} req/s")
    print(f"  storyboard, rendered  {load.full.per_second:8.1f} req/s   ({load.full.per_second / hello:.0%} of hello-world;"
          f" goal >= {STORYBOARD_GOAL:.0%}) 20 shots in five states, cards from a warm cache, no If-None-Match")
    print(f"  storyboard, browsers  {load.revalidating.per_second:8.1f} req/s   ({load.revalidating.per_second / hello:.0%} of"
          f" hello-world; goal >= {STORYBOARD_GOAL:.0%}) revalidating with If-None-Match while {load.rendering_takes} takes"
          f" report progress every {load.progress_every:.2f} s")
    print(f"    304 Not Modified    {load.revalidating.not_modified_share:8.0%} of {load.revalidating.answered} answers\n")


def throughput_section(arguments: argparse.Namespace) -> None:
    sizes = {"in_flight": arguments.in_flight, "seconds": arguments.flight_seconds, "workers": arguments.workers}
    figures = pipeline_throughput(BENCH_DIR, noops=arguments.noop_tasks, **sizes)
    throughput_print(figures, **sizes)


def scale_out_section(arguments: argparse.Namespace) -> None:
    """The throughput section's load on one worker process, then on two, side by side (issue #17)."""
    sizes = {"in_flight": arguments.in_flight, "seconds": arguments.flight_seconds}
    rates = {workers: pipeline_throughput(BENCH_DIR, noops=arguments.noop_tasks, workers=workers,
                                          label=f"scale{workers}", **sizes).takes_per_second
             for workers in (1, 2)}
    print(f"Scale-out: worker processes (2 threads each) sharing one queue, {sizes['in_flight']} takes in flight for "
          f"{sizes['seconds']:.0f} s, on {os.cpu_count()} cores")
    for workers, rate in rates.items():
        print(f"  {workers} worker{'s' if workers > 1 else ' '}         {rate:8.2f} takes/s")
    gain = rates[2] / rates[1] if rates[1] else 0.0
    print(f"  two ÷ one         {gain:8.2f}x   (bounded by the cores: media work is CPU; tests/test_scale_out.py "
          "shows the processes share the work without doing any twice)\n")


def push_section(arguments: argparse.Namespace) -> None:
    sizes = {"sockets": arguments.sockets, "per_project": arguments.sockets_per_project}
    figures = websocket_push(BENCH_DIR, events=arguments.push_events, **sizes)
    push_print(figures, **sizes)


def cut_section(arguments: argparse.Namespace) -> None:
    """Issue #16: a cut render next to a plain PyAV decode + re-encode of the same footage (also standalone:
    python bench/cut_render.py)."""
    from bench.cut_render import cut_benchmark, cut_print

    cut_print(cut_benchmark(shots=arguments.cut_shots, seconds=arguments.cut_seconds))


def webhooks_section(arguments: argparse.Namespace) -> None:
    fanout = webhook_fanout(BENCH_DIR, events=arguments.webhook_events, endpoints=arguments.webhook_endpoints)
    without = take_pipeline_cost(takes=arguments.webhook_takes, endpoints=0, prefix="bench-no-endpoints")
    subscribed = take_pipeline_cost(takes=arguments.webhook_takes, endpoints=5, prefix="bench-endpoints")
    webhooks_print(fanout, without, subscribed, events=arguments.webhook_events, endpoints=arguments.webhook_endpoints)


def learned_section(arguments: argparse.Namespace) -> None:
    from bench.learned_routing import learned_routing_benchmark, learned_routing_print

    learned_routing_print(learned_routing_benchmark())


def faults_section(arguments: argparse.Namespace) -> None:
    faults_print(fault_benchmark(BENCH_DIR))


SECTIONS = {"router": router_section, "storyboard": storyboard_section, "overhead": overhead_section,
            "requests": requests_section, "throughput": throughput_section, "scale": scale_out_section,
            "push": push_section, "cut": cut_section, "webhooks": webhooks_section,
            "faults": faults_section, "learned": learned_section}


# The load sections' sizes: flag, its environment variable, default, what it sets.
SIZES = (
    ("--flight-seconds", "BENCH_FLIGHT_SECONDS", 45.0, "throughput: how long the takes are kept in flight"),
    ("--in-flight", "BENCH_IN_FLIGHT", 200, "throughput: takes running at once"),
    ("--noop-tasks", "BENCH_NOOP_TASKS", 1000, "throughput: no-op tasks sent at once for the Celery baseline"),
    ("--workers", "BENCH_WORKERS", os.cpu_count() or 1, "throughput: worker processes of 2 threads each (one per core)"),
    ("--sockets", "BENCH_SOCKETS", 500, "push: websockets held open"),
    ("--sockets-per-project", "BENCH_SOCKETS_PER_PROJECT", 10, "push: sockets watching each project"),
    ("--push-events", "BENCH_PUSH_EVENTS", 100, "push: state changes timed, and as many raw group_sends"),
    ("--cut-shots", "BENCH_CUT_SHOTS", 10, "cut: shots in the cut (1080p)"),
    ("--cut-seconds", "BENCH_CUT_SECONDS", 5.0, "cut: seconds per shot"),
    ("--webhook-events", "BENCH_WEBHOOK_EVENTS", 1000, "webhooks: events recorded, each sent to every endpoint"),
    ("--webhook-endpoints", "BENCH_WEBHOOK_ENDPOINTS", 10, "webhooks: loopback endpoints"),
    ("--webhook-takes", "BENCH_WEBHOOK_TAKES", 10, "webhooks: takes timed without and with 5 endpoints"),
)


def arguments_parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Shotcraft benchmarks: print figures, assert nothing.")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {', '.join(SECTIONS)}")
    for flag, variable, default, meaning in SIZES:
        kind = type(default)
        parser.add_argument(flag, type=kind, default=kind(os.environ.get(variable, default)), help=f"{meaning} ({variable})")
    arguments = parser.parse_args()
    unknown = set(arguments.only.split(",")) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")
    return arguments


def main() -> None:
    arguments = arguments_parse()
    call_command("migrate", verbosity=0)
    call_command("catalog_sync", verbosity=0)
    print(f"Shotcraft benchmark — database {connection.vendor}, Redis {settings.REDIS_URL}, {os.cpu_count()} CPUs\n")
    for name, section in SECTIONS.items():
        if name in arguments.only.split(","):
            section(arguments)
    print(f"Logs: {BENCH_DIR}")


if __name__ == "__main__":
    main()
