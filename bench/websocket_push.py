"""Websocket push latency: a take's state change committed → the browsers watching it have the new card.

daphne serves the real ASGI app (studio/config/asgi.py). `sockets` websockets log in with a
session cookie and an Origin, like a browser, and watch /ws/projects/<id>/, `per_project` of them
on each project. A timed state change is one `take_transition` committed in this process through
the real service: after commit jobs/events.py hands the take to its background publisher, which
renders the card once (studio.live) and group_sends it to the project's group; the clock starts
when the transaction commits and stops at each of the project's sockets as the new card arrives.
As many raw Channels `group_send`s to the same groups of an already-rendered `live.html` message
of the same take (the same size), interleaved with them, give the floor: only the channel layer,
the consumer (which forwards the HTML) and the socket. The issue's goal: the state change within
4x the raw send, at p50 and at p99.
"""

import asyncio
import math
import resource
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from channels.layers import get_channel_layer
from django.db import connections, transaction
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.figures import p50_p99, percentile
from bench.fixtures import BUSIEST_PLAN, TINY_CLIP, creators_with_shots, session_cookie, takes_abandon
from billing.models import Plan
from jobs.models import Take
from jobs.pipeline.transitions import take_transition
from jobs.states import TakeState
from studio.live import take_changed_messages
from studio.services.takes import shot_take_request
from tests.stack import daphne_server

# routing … evaluating, in TakeState's order (the happy path): each move publishes and leaves the take open
STEPS = list(TakeState)[list(TakeState).index(TakeState.ROUTING):list(TakeState).index(TakeState.READY)]
CONNECTING_AT_ONCE = 50
PUSH_GOAL = 4  # issue #11: commit → card within 4x a raw group_send of the rendered card
DELIVERY_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class PushFigures:
    events: int  # state changes timed, and as many raw group_sends
    connect_seconds: float
    service: list[float]  # every socket's delay after each state change
    service_first: list[float]  # the first socket's, each change
    render: list[float]  # studio.live's render of each change (both queries and the template), for the profile
    raw: list[float]
    raw_first: list[float]
    missed: int  # deliveries that never came (timed out, or their socket was dropped)
    dropped: int  # sockets the server closed during the run


@dataclass
class Expected:
    """One event on its way: the text that identifies it, and the sockets that still have to see it."""

    marker: str
    pending: set[int]
    arrivals: list[float] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class Watchers:
    """The open sockets, and the one event they are waiting for."""

    def __init__(self) -> None:
        self.sockets: list[ClientConnection] = []
        self.expected: Expected | None = None
        self.closed: set[int] = set()  # sockets the server dropped: nothing more arrives on them

    async def read(self, index: int) -> None:
        try:
            async for message in self.sockets[index]:
                if self.expected and self.expected.marker in message:
                    self._arrived(index, time.perf_counter())
        except ConnectionClosed:
            pass
        self.closed.add(index)
        self._arrived(index, None)

    def _arrived(self, index: int, at: float | None) -> None:
        expected = self.expected
        if expected is None or index not in expected.pending:
            return
        expected.pending.discard(index)
        if at is not None:
            expected.arrivals.append(at)
        if not expected.pending:
            expected.done.set()


@dataclass(frozen=True)
class Step:
    """One timed state change: which take moves where, and which project's sockets watch it."""

    project: int  # index into the viewers
    take: Take
    state: str


def websocket_push(bench_dir: Path, *, sockets: int, per_project: int, events: int) -> PushFigures:
    creators = creators_with_shots(math.ceil(sockets / per_project), prefix="bench-push", plan_slug=BUSIEST_PLAN,
                                   credits=100_000, **TINY_CLIP)
    shots = [own[0] for own in creators]
    viewers = [(shot.project_id, session_cookie(shot.project.owner)) for shot in shots]
    # More takes a project when one cannot carry every event, as many as the plan lets run at once.
    rounds = math.ceil(events / (len(shots) * len(STEPS)))
    rounds = min(rounds, Plan.objects.get(slug=BUSIEST_PLAN).concurrency_limit or rounds)
    takes = [(index, shot_take_request(user=shot.project.owner, shot=shot, idempotency_key=f"bench-push-{round_}"))
             for round_ in range(rounds) for index, shot in enumerate(shots)]
    steps = [Step(project=index, take=take, state=state) for state in STEPS for index, take in takes][:events]
    file_limit_raise(sockets * 2 + 256)  # before daphne starts: it inherits the limit
    try:
        with daphne_server(bench_dir / "daphne-push.log") as base_url:
            return asyncio.run(push_measure(base_url, viewers, steps, sockets=sockets))
    finally:
        takes_abandon([take.pk for _, take in takes])  # and their queued runs: no worker was meant to render them


def file_limit_raise(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (needed if hard == resource.RLIM_INFINITY else min(needed, hard), hard))


async def push_measure(base_url: str, viewers: list[tuple[int, str]], steps: list[Step], *, sockets: int) -> PushFigures:
    watchers = Watchers()
    started = time.perf_counter()
    watchers.sockets = await sockets_open(base_url, viewers, sockets)
    connect_seconds = time.perf_counter() - started
    readers = [asyncio.create_task(watchers.read(index)) for index in range(sockets)]
    watching = [set(range(project, sockets, len(viewers))) for project in range(len(viewers))]
    layer = get_channel_layer()
    loop = asyncio.get_running_loop()
    service, service_first, raw, raw_first, render, missed = [], [], [], [], [], 0
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-service") as service_thread:
        for step in steps[:len(viewers)]:  # warm-up: every socket's first message, not timed
            message = await loop.run_in_executor(service_thread, rendered, step.take.pk, [])
            await deliveries(watchers, step.take, watching[step.project], partial(raw_send, layer, step.take, message))
        for step in steps:
            changed = partial(loop.run_in_executor, service_thread, transition_committed_at, step.take.pk, step.state)
            arrivals, committed, late = await deliveries(watchers, step.take, watching[step.project], changed, state=step.state)
            service += [arrived - committed for arrived in arrivals]
            service_first += [min(arrivals) - committed] if arrivals else []
            message = await loop.run_in_executor(service_thread, rendered, step.take.pk, render)
            arrivals, sent, late_raw = await deliveries(watchers, step.take, watching[step.project],
                                                        partial(raw_send, layer, step.take, message), state=step.state)
            raw += [arrived - sent for arrived in arrivals]
            raw_first += [min(arrivals) - sent] if arrivals else []
            missed += late + late_raw
        await loop.run_in_executor(service_thread, connections.close_all)
    dropped = len(watchers.closed)
    for reader in readers:
        reader.cancel()
    await asyncio.gather(*(socket.close() for socket in watchers.sockets), return_exceptions=True)
    return PushFigures(events=len(steps), connect_seconds=connect_seconds, service=service, service_first=service_first,
                       render=render, raw=raw, raw_first=raw_first, missed=missed, dropped=dropped)


async def sockets_open(base_url: str, viewers: list[tuple[int, str]], count: int) -> list[ClientConnection]:
    """`count` sockets, socket i on viewer i's project (modulo the viewers) with its owner's cookie."""
    gate = asyncio.Semaphore(CONNECTING_AT_ONCE)
    ws_url = base_url.replace("http://", "ws://", 1)

    async def open_one(index: int) -> ClientConnection:
        project_id, cookie = viewers[index % len(viewers)]
        async with gate:
            return await connect(f"{ws_url}/ws/projects/{project_id}/", origin=base_url,
                                 additional_headers={"Cookie": cookie}, compression=None, open_timeout=60)

    return list(await asyncio.gather(*(open_one(index) for index in range(count))))


async def deliveries(watchers: Watchers, take: Take, sockets: set[int], send, *,
                     state: str = "") -> tuple[list[float], float, int]:
    """Send one event (`send()` returns when it started, by perf_counter) and wait until every socket
    watching the take's project has its card. Returns the arrival times, the start, and the missed."""
    marker = f'id="take-{take.pk}" class="take-card"' + (f' data-state="{state}"' if state else "")
    watchers.expected = expected = Expected(marker=marker, pending=set(sockets) - watchers.closed)
    if not expected.pending:
        expected.done.set()
    started = await send()
    try:
        await asyncio.wait_for(expected.done.wait(), timeout=DELIVERY_TIMEOUT_SECONDS)
    except TimeoutError:
        pass
    watchers.expected = None
    return expected.arrivals, started, len(sockets) - len(expected.arrivals)


def rendered(take_id: int, timings: list[float]) -> dict:
    """The take's live message as the publisher renders it now (timed into `timings`), for a raw send."""
    started = time.perf_counter()
    [(_, message)] = take_changed_messages(take_id)
    timings.append(time.perf_counter() - started)
    return message


async def raw_send(layer, take: Take, message: dict) -> float:
    started = time.perf_counter()
    await layer.group_send(take.notify_group, message)
    return started


def transition_committed_at(take_id: int, state: str) -> float:
    """Move the take through the real service; returns when its transaction committed, by perf_counter."""
    committed = []
    with transaction.atomic():
        transaction.on_commit(lambda: committed.append(time.perf_counter()))  # runs before the publish it precedes
        take_transition(take_id=take_id, to_state=state, detail="benchmark")
    return committed[0]


def push_print(figures: PushFigures, *, sockets: int, per_project: int) -> None:
    projects = math.ceil(sockets / per_project)
    print(f"Websocket push latency ({sockets} sockets open on one daphne process, {per_project} per project "
          f"over {projects} projects)")
    print(f"  connect           {sockets} sockets in {figures.connect_seconds:.1f} s   (session cookie, project check)")
    print(f"  state change      {p50_p99(figures.service)}   (take_transition committed → card at each socket;"
          f" {figures.events} changes)")
    print(f"    first socket    {p50_p99(figures.service_first)}   (of the {per_project} on the project)")
    print(f"  raw group_send    {p50_p99(figures.raw)}   (an already-rendered card: channel layer → consumer → socket,"
          " same groups)")
    print(f"    first socket    {p50_p99(figures.raw_first)}")
    print(f"  render (studio.live) {p50_p99(figures.render)}   (its queries and template, once per change)")
    ratios = [percentile(figures.service, pct) / percentile(figures.raw, pct) for pct in (50, 99)]
    print(f"  state change / raw: p50 {ratios[0]:.1f}x   p99 {ratios[1]:.1f}x   (goal <= {PUSH_GOAL:.0f}x at both)"
          + (f"   MISSED {figures.missed} deliveries" if figures.missed else "")
          + (f"; the server DROPPED {figures.dropped} sockets (see its log)" if figures.dropped else "") + "\n")
