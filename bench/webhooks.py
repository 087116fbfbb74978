"""Outbound webhooks under load (issue #17): fan-out to loopback endpoints through the Procfile's
webhooks worker, and what subscribed endpoints add to a take's pipeline.

Fan-out: `events` events, each to every one of `endpoints` loopback receivers, recorded one
transaction each as the domain does; deliveries per second, and commit → arrival at the receiver
(p50/p99). Overhead: takes driven in this process (tests/pipeline.py) for a creator without
endpoints and one with five subscribed to every kind, with no webhooks worker running (sending
is the worker's business, never the pipeline's): time and queries per take.
"""

import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.db import connection, reset_queries, transaction
from django.test.utils import CaptureQueriesContext

from bench.figures import p50_p99
from bench.fixtures import creators_with_shots
from jobs.outbound.endpoints import webhook_endpoint_create
from jobs.outbound.kinds import EVENT_KINDS
from jobs.outbound.models import WebhookDelivery
from jobs.outbound.record import outbound_event_record
from studio.devstack import procfile_command, procfile_processes
from studio.services.takes import shot_take_request
from tests.outbound.receiver import LoopbackReceiver, wait_until
from tests.pipeline import take_made_ready
from tests.stack import ROOT, stack_env, wait_for_log


@dataclass
class FanOut:
    deliveries: int
    seconds: float
    latencies: list[float]
    failed: int
    recording_seconds: float


def webhooks_worker(log_path: Path) -> subprocess.Popen:
    """The Procfile's webhooks process, as production runs it."""
    prefix = settings.WEBHOOK_QUEUE.removesuffix("webhooks")  # the benchmark's own CELERY_QUEUE_PREFIX
    command = procfile_command(procfile_processes()["webhooks"], {"CELERY_QUEUE_PREFIX": prefix})
    log = log_path.open("w")
    process = subprocess.Popen(command, cwd=ROOT, env=stack_env(), stdout=log, stderr=subprocess.STDOUT)
    wait_for_log(log_path, "ready.", process)
    return process


def webhook_fanout(bench_dir: Path, *, events: int, endpoints: int) -> FanOut:
    owner = creators_with_shots(1, prefix="bench-webhooks", shots_each=1)[0][0].project.owner
    receivers = [LoopbackReceiver().__enter__() for _ in range(endpoints)]
    try:
        for receiver in receivers:
            webhook_endpoint_create(owner=owner, url=receiver.url, event_kinds=["credits.low"])
        worker = webhooks_worker(bench_dir / "webhooks-worker.log")
        try:
            committed: dict[str, float] = {}
            started = time.time()
            for number in range(events):
                with transaction.atomic():
                    event = outbound_event_record(owner_id=owner.pk, kind="credits.low", data={"n": number})
                committed[event.message_id] = time.time()
            recorded = time.time() - started
            total = events * endpoints
            wait_until(lambda: sum(len(receiver.received) for receiver in receivers) >= total, timeout=600, interval=0.5)
            arrivals = [request for receiver in receivers for request in receiver.received]
            finished = max(request.at for request in arrivals)
        finally:
            worker.terminate()
            worker.wait(timeout=30)
    finally:
        for receiver in receivers:
            receiver.__exit__(None, None, None)
    latencies = [request.at - committed[request.headers["webhook-id"]] for request in arrivals]
    failed = WebhookDelivery.objects.exclude(state=WebhookDelivery.State.SUCCEEDED).count()
    return FanOut(deliveries=len(arrivals), seconds=finished - started, latencies=latencies, failed=failed,
                  recording_seconds=recorded)


@dataclass
class PipelineCost:
    seconds: list[float]
    queries: list[int]


def take_pipeline_cost(*, takes: int, endpoints: int, prefix: str) -> PipelineCost:
    shots = creators_with_shots(1, prefix=prefix, shots_each=takes, credits=100_000, duration_seconds=1, camera="static")[0]
    owner = shots[0].project.owner
    for number in range(endpoints):
        webhook_endpoint_create(owner=owner, url=f"http://127.0.0.1:9/hook-{number}", event_kinds=list(EVENT_KINDS))
    cost = PipelineCost([], [])
    for shot in shots:
        reset_queries()  # the query log holds 9,000 at most: a full one would count nothing
        started = time.perf_counter()
        with CaptureQueriesContext(connection) as queries:
            take_made_ready(shot_take_request(user=owner, shot=shot).pk)
        cost.seconds.append(time.perf_counter() - started)
        cost.queries.append(len(queries))
    return cost


def webhooks_print(fanout: FanOut, without: PipelineCost, with_endpoints: PipelineCost, *, events: int, endpoints: int) -> None:
    print(f"Webhook fan-out: {events} events × {endpoints} loopback endpoints, the Procfile's webhooks worker")
    print(f"  delivered          {fanout.deliveries} in {fanout.seconds:.1f} s = {fanout.deliveries / fanout.seconds:8.1f} deliveries/s"
          f"   (not delivered: {fanout.failed})")
    print(f"  commit → delivery  {p50_p99(fanout.latencies)}   (the {events} events were committed within "
          f"{fanout.recording_seconds:.1f} s: the burst queues behind the worker's rate)")
    takes = len(without.seconds)
    print(f"Take pipeline with 5 endpoints subscribed to every event ({takes} takes each, driven in-process, no webhooks worker)")
    print(f"  no endpoints       {p50_p99(without.seconds)}   {statistics.median(without.queries):.0f} queries/take")
    print(f"  5 endpoints        {p50_p99(with_endpoints.seconds)}   {statistics.median(with_endpoints.queries):.0f} queries/take")
    change = statistics.median(with_endpoints.seconds) / statistics.median(without.seconds) - 1
    print(f"  median change      {change:+.1%}   (goal: none measurable; the sends happen after commit, on their own queue)\n")
