"""Fault injection on the real stack: Celery workers SIGKILLed at each stage of a remote take, and
Redis restarted under a running take.

Worker processes run against the test database and Redis; the vendor is a provider emulator in
this process, whose request a test holds at the chosen stage so that the worker dies exactly
there. Recovery is what production does, with the clock brought forward:

* the killed worker held the take's lease; it stops renewing, so the lease runs out within
  TAKE_LEASE_SECONDS and beat's takes_recover starts the take's stage again (`recovered` runs it
  as of that moment);
* the killed worker's message stays unacknowledged in Redis, which hands it to another worker once
  the broker's visibility timeout (an hour) has passed: `redeliver` does that now, and it must
  change nothing;
* takes_reap_stalled fails takes silent for TAKE_STALL_SECONDS and releases their credits.

Every test ends with a terminal take, one job for it at the vendor, and a balanced ledger: the
reservation resolved exactly once, captured only for a ready take. The Redis test runs on a
private redis-server that it kills and starts again: the workers must outlive it, which celery and
kombu 5.7.0 do only with the guard in studio/config/celery.py.
"""

import json
import subprocess
import threading
import time
from contextlib import ExitStack, contextmanager
from datetime import timedelta
from signal import SIGSTOP

import pytest
from django.conf import settings
from django.utils import timezone

from billing.models import CreditAccount, Reservation, UnbilledProviderCost
from billing.reports import margin_report
from billing.selectors import credit_accounts_out_of_balance
from jobs.models import Attempt, Take
from jobs.pipeline.recover import takes_reap_stalled, takes_recover
from jobs.pipeline.submit import take_submit
from jobs.tasks import take_submit_task, takes_recover_task
from providers import health
from providers.emulators.sandbox import emulator_create
from providers.emulators.server import Emulator, Request, Response
from providers.local import renders
from providers.models import ProviderModel
from studio.config.celery import app, ping
from studio.models import ProductionRun
from studio.run_states import RunShotState, RunState
from studio.services.runs.advance import production_runs_advance
from studio.services.runs.lifecycle import run_start, run_takes
from studio.services.takes import shot_take_request
from tests.conftest import purge_test_queue
from tests.factories import shot_for
from tests.jobs.test_worker_end_to_end import wait_until_finished
from tests.stack import celery_worker, free_port, private_redis, worker_queues

pytestmark = pytest.mark.django_db(transaction=True)

CREDITS = 500  # what tests.factories.creator_create grants
RECONNECTING = "consumer: Cannot connect to"  # what a worker logs while Redis is gone


# -- the vendor ---------------------------------------------------------------------------------


@contextmanager
def only_provider(family: str, settings):
    """`family`'s emulator as the only provider, finishing jobs in 1.5 s and polled every second."""
    with emulator_create(family, latency_seconds=1.5) as emulator:
        settings.PROVIDER_SANDBOX_URLS = {family: emulator.url}
        ProviderModel.objects.filter(slug="local-animatic").update(enabled=False)
        ProviderModel.objects.filter(api_family=family).update(p50_latency_seconds=5)
        yield emulator


@pytest.fixture
def runway(settings, catalog):
    with only_provider("runway", settings) as emulator:
        yield emulator


@pytest.fixture
def kling(settings, catalog):
    """Kling's official API: the one vendor here that deduplicates submissions (external_task_id)."""
    with only_provider("kling", settings) as emulator:
        yield emulator


def operation_of(emulator: Emulator, request: Request) -> str | None:
    """The emulator's name for what a request does: submit, status, download…"""
    if request.path.startswith("/_emulator/files/"):
        return "download"
    routes = (route for route in emulator.routes if route.method == request.method and route.pattern.match(request.path))
    return next((route.operation for route in routes), None)


def submissions(emulator: Emulator) -> list[Request]:
    return [request for request in emulator.requests_seen if operation_of(emulator, request) == "submit"]


class Hold:
    """Keeps the first request for one emulator operation waiting until the test releases it.

    Unanswered, the vendor never handles the request (the call never arrived); answered, the
    vendor does the work and only its answer waits (the vendor accepted, the worker never heard).
    """

    def __init__(self, emulator: Emulator, operation: str, *, answered: bool):
        self.operation, self.answered = operation, answered
        self.reached, self.released = threading.Event(), threading.Event()
        self._emulator, self._dispatch = emulator, emulator.dispatch
        self._lock, self._taken = threading.Lock(), False
        emulator.dispatch = self._dispatch_held

    def _dispatch_held(self, request: Request) -> Response:
        if not self._claim(request):
            return self._dispatch(request)
        response = self._dispatch(request) if self.answered else Response(503, {"error": "never arrived"})
        self.reached.set()
        self.released.wait(60)
        return response

    def _claim(self, request: Request) -> bool:
        with self._lock:
            if self._taken or operation_of(self._emulator, request) != self.operation:
                return False
            self._taken = True
            return True

    def wait_reached(self, timeout: float = 60) -> None:
        assert self.reached.wait(timeout), f"no {self.operation} request reached the vendor in {timeout} s"


@pytest.fixture
def hold():
    """`hold(emulator, operation, answered=False)` → a Hold, released when the test ends."""
    holds = []

    def place(emulator: Emulator, operation: str, *, answered: bool = False) -> Hold:
        holds.append(Hold(emulator, operation, answered=answered))
        return holds[-1]

    yield place
    for placed in holds:
        placed.released.set()


# -- workers and the broker ---------------------------------------------------------------------


def wait_until(condition, *, what: str, timeout: float = 30, interval: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen in {timeout} s")
        time.sleep(interval)


class WorkerExited(AssertionError):
    """A worker process ended while the test waited on it."""


class Workers:
    """Celery worker processes for one test, calling the emulators this process routes to."""

    def __init__(self, stack: ExitStack, log_dir):
        self._stack, self._log_dir, self._logs = stack, log_dir, {}

    def start(self, **env: str) -> subprocess.Popen:
        log = self._log_dir / f"worker-{len(self._logs) + 1}.log"
        env = {"PROVIDER_SANDBOX_URLS": json.dumps(settings.PROVIDER_SANDBOX_URLS),
               "PUBLIC_BASE_URL": f"http://127.0.0.1:{free_port()}",  # vendor callbacks find nobody: polls drive
               **env}
        worker = self._stack.enter_context(celery_worker(log, **env))
        self._logs[worker.pid] = log
        return worker

    def log_of(self, worker: subprocess.Popen) -> str:
        return self._logs[worker.pid].read_text()

    def wait_for_log(self, worker: subprocess.Popen, marker: str) -> None:
        """Until the worker's log shows `marker`; fails when the worker exits without it."""

        def logged() -> bool:
            exited = worker.poll() is not None
            if marker in self.log_of(worker):
                return True
            if exited:
                raise WorkerExited(f"the worker exited with code {worker.returncode}:\n{self.log_of(worker)[-3000:]}")
            return False

        wait_until(logged, what=f"{marker!r} in the worker's log")


@pytest.fixture
def workers(django_db_setup, tmp_path):
    purge_test_queue()
    with ExitStack() as stack:
        yield Workers(stack, tmp_path)
    redeliver(unacked_in_test_queues())  # what killed workers still held goes back to its queue…
    purge_test_queue()  # …and is dropped: no later test's worker may run it


def kill(worker: subprocess.Popen) -> None:
    """SIGKILL: no warm shutdown, so nothing is acknowledged or handed back to the broker."""
    worker.kill()
    worker.wait()


@pytest.fixture
def killed_at(hold, workers):
    """`killed_at(vendor, operation, user=, shot=)`: a take requested with a worker running, the
    worker killed while the take's `operation` request is held at the vendor (see Hold)."""

    def take_request_and_kill(vendor: Emulator, operation: str, *, user, shot, answered: bool = False) -> Take:
        held = hold(vendor, operation, answered=answered)
        worker = workers.start()
        take = shot_take_request(user=user, shot=shot)
        held.wait_reached()
        kill(worker)
        return take

    return take_request_and_kill


def kill_while_evaluating(worker: subprocess.Popen, workers: "Workers", *, take_id: int) -> None:
    """Kill the worker once its evaluation task holds the take's lease (take_evaluate's first step):
    frozen (SIGSTOP) the moment that shows, checked to be still evaluating, then killed. (The
    download stage keeps its own lease a moment after moving the take to evaluating: only a lease
    seen after the evaluation task arrived is the evaluation's.)"""
    def evaluation_leased() -> bool:
        return ("jobs.take_evaluate[" in workers.log_of(worker)
                and Take.objects.filter(pk=take_id, state="evaluating").exclude(lease_token="").exists())

    wait_until(evaluation_leased, what="a worker taking the evaluation", timeout=60, interval=0.02)
    worker.send_signal(SIGSTOP)
    frozen_in = Take.objects.values_list("state", flat=True).get(pk=take_id)
    kill(worker)
    assert frozen_in == "evaluating", f"the take was already {frozen_in} when the worker froze"


def recovered(take_id: int) -> dict[str, int]:
    """Beat's recovery pass as it runs once the dead worker's lease on the take has run out."""
    wake_at = Take.objects.values_list("wake_at", flat=True).get(pk=take_id)
    return takes_recover(now=max(wake_at, timezone.now()) + timedelta(seconds=5))


@contextmanager
def broker_channel(url: str | None = None):
    with app.connection_for_write(url) as connection:
        yield connection.default_channel


def unacked_in_test_queues(url: str | None = None) -> dict[str, str]:
    """Delivery tag → task name of messages taken from this run's queues and never acknowledged."""
    with broker_channel(url) as channel, channel.conn_or_acquire() as client:
        held = client.hgetall(channel.unacked_key)
    unpacked = {tag.decode(): json.loads(raw) for tag, raw in held.items()}
    return {tag: message["headers"]["task"] for tag, (message, _exchange, routing_key) in unpacked.items()
            if routing_key in worker_queues()}


def redeliver(tags) -> None:
    """What Redis does with a dead worker's unacknowledged messages once the visibility timeout has passed."""
    with broker_channel() as channel:
        for tag in tags:
            channel.qos.restore_by_tag(tag, leftmost=True)


def wait_until_broker_idle(*, besides=()) -> None:
    """Every message of this run's queues delivered and acknowledged, `besides` those delivery tags."""

    def idle() -> bool:
        with broker_channel() as channel, channel.conn_or_acquire() as client:
            waiting = sum(client.llen(queue) for queue in worker_queues())  # a queue is a Redis list of its name
        return not waiting and not set(unacked_in_test_queues()) - set(besides)

    wait_until(idle, what="every message delivered and acknowledged", interval=0.2)


# -- the ledger ---------------------------------------------------------------------------------


def assert_settled_once(take_id: int, *, charged: bool) -> None:
    """Terminal take, reservation resolved once: captured at the take's price if ready, else released."""
    take = Take.objects.get(pk=take_id)
    reservation = Reservation.objects.get(pk=take.reservation_id)
    account = CreditAccount.objects.get(pk=reservation.account_id)
    entries = sorted(reservation.entries.values_list("kind", flat=True))
    if charged:
        assert take.state == "ready", take.failure_reason
        assert (reservation.state, reservation.captured_amount) == ("captured", take.price_credits)
        assert entries == ["capture", "reserve"]
        assert account.balance == CREDITS - take.price_credits
    else:
        assert take.state == "failed" and take.failure_reason
        assert (reservation.state, reservation.captured_amount) == ("released", None)
        assert entries == ["release", "reserve"]
        assert account.balance == CREDITS
    assert account.held == 0 and not Reservation.objects.filter(state="open").exists()
    assert credit_accounts_out_of_balance() == []


# -- a worker killed at each stage --------------------------------------------------------------


@pytest.mark.stack
def test_a_worker_killed_before_the_vendor_heard_of_the_take_submits_it_once_when_redelivered(runway, killed_at, workers, creator, shot):
    take = killed_at(runway, "submit", user=creator, shot=shot)
    assert Take.objects.get(pk=take.pk).state == "submitting"
    killed = unacked_in_test_queues()
    assert list(killed.values()) == ["jobs.take_submit"]  # not lost: Redis keeps it unacknowledged
    workers.start()
    assert recovered(take.pk)["restarted"] == 1
    wait_until_finished(take.pk)
    redeliver(killed)  # an hour on, Redis hands the killed submit out again: the take is done, nothing happens
    wait_until_broker_idle()
    assert len(runway.jobs) == len(submissions(runway)) == 1
    assert_settled_once(take.pk, charged=True)


@pytest.mark.stack
def test_a_worker_killed_while_the_vendor_works_is_polled_again_not_resubmitted(runway, killed_at, workers, creator, shot):
    take = killed_at(runway, "status", user=creator, shot=shot)  # the first poll: the vendor has the job
    assert Take.objects.get(pk=take.pk).provider_job_id
    killed = unacked_in_test_queues()
    assert list(killed.values()) == ["jobs.take_poll"]
    workers.start()
    assert recovered(take.pk)["restarted"] == 1
    assert wait_until_finished(take.pk).state == "ready"
    redeliver(killed)  # an hour on, Redis hands the killed poll out again: the take is done, nothing happens
    wait_until_broker_idle()
    assert len(runway.jobs) == len(submissions(runway)) == 1
    assert_settled_once(take.pk, charged=True)


@pytest.mark.stack
def test_a_worker_killed_before_it_heard_the_vendor_accept_gets_the_same_job_back(kling, killed_at, workers, creator, project):
    shot = shot_for(project, duration_seconds=5)  # Kling makes 5 or 10 s
    take = killed_at(kling, "submit", user=creator, shot=shot, answered=True)
    assert len(kling.jobs) == 1 and not Take.objects.get(pk=take.pk).provider_job_id
    workers.start()
    assert recovered(take.pk)["restarted"] == 1
    take = wait_until_finished(take.pk)
    # Asked again with the same external_task_id, Kling refuses a duplicate and the adapter takes up
    # the job the first submission started: one job, no second generation to pay for.
    (job,) = kling.jobs.values()
    assert take.provider_job_id == job.id and len(submissions(kling)) == 2
    assert_settled_once(take.pk, charged=True)


@pytest.mark.stack
def test_a_vendor_without_an_idempotency_key_renders_twice_and_the_second_job_is_recorded_as_unbilled_cost(
    runway, killed_at, workers, creator, shot,
):
    """Runway keeps no idempotency key, lists no jobs and calls back nobody: a worker killed after
    Runway accepted the take, before its job id was saved, leaves a job we cannot find. Sending the
    take again starts a second one; the first is recorded as provider cost charged to nobody."""
    take = killed_at(runway, "submit", user=creator, shot=shot, answered=True)
    assert len(runway.jobs) == 1 and not Take.objects.get(pk=take.pk).provider_job_id
    workers.start()
    assert recovered(take.pk)["restarted"] == 1
    take = wait_until_finished(take.pk)
    assert len(runway.jobs) == len(submissions(runway)) == 2
    assert_settled_once(take.pk, charged=True)  # the creator pays once
    orphan = UnbilledProviderCost.objects.get()
    assert (orphan.provider, orphan.usd_micros, orphan.confirmed) == (take.provider_model.name, take.provider_cost_usd_micros, False)
    (row,) = margin_report(start=timezone.now() - timedelta(hours=1), end=timezone.now() + timedelta(hours=1))
    assert row.unbilled_jobs == 1 and row.provider_cost_usd * 1_000_000 == 2 * take.provider_cost_usd_micros
    assert "a job from the first try may run unbilled" in " ".join(take.events.values_list("detail", flat=True))


@pytest.mark.stack
def test_a_worker_killed_while_downloading_has_the_finished_video_fetched_again(runway, killed_at, workers, creator, shot):
    take = killed_at(runway, "download", user=creator, shot=shot)
    assert Take.objects.get(pk=take.pk).state == "downloading"
    killed = unacked_in_test_queues()
    assert list(killed.values()) == ["jobs.take_poll"]
    workers.start()
    # The dead worker's lease on the take is still running: recovery waits until it has lapsed.
    # (On a loaded machine the lease may already have run out by now; then there is nothing to wait for.)
    if Take.objects.get(pk=take.pk).wake_at > timezone.now() + timedelta(seconds=1):
        assert takes_recover()["restarted"] == 0
    assert recovered(take.pk)["restarted"] == 1
    take = wait_until_finished(take.pk)
    assert take.state == "ready", take.failure_reason
    assert "download started again (1 of" in " ".join(take.events.values_list("detail", flat=True))
    redeliver(killed)  # an hour on: polling a settled take again does nothing
    wait_until_broker_idle()
    assert len(runway.jobs) == len(submissions(runway)) == 1
    assert_settled_once(take.pk, charged=True)


@pytest.mark.stack
def test_a_worker_killed_while_evaluating_is_evaluated_again_once_its_lease_lapses(runway, workers, creator, shot):
    first = workers.start()
    take = shot_take_request(user=creator, shot=shot)
    kill_while_evaluating(first, workers, take_id=take.pk)
    killed = unacked_in_test_queues()  # the evaluation, and maybe the poll that queued it, finishing
    assert "jobs.take_evaluate" in killed.values()
    workers.start()
    # The dead worker's lease on the evaluation is still running: a redelivered task stands aside…
    redeliver([tag for tag, name in killed.items() if name == "jobs.take_evaluate"])
    wait_until_broker_idle(besides=killed)
    assert Take.objects.get(pk=take.pk).state == "evaluating"
    assert recovered(take.pk)["restarted"] == 1  # …and once it runs out, recovery starts the evaluation again
    take = wait_until_finished(take.pk)
    assert "evaluation started again (1 of" in " ".join(take.events.values_list("detail", flat=True))
    redeliver(unacked_in_test_queues())  # an hour on: evaluating a settled take again does nothing
    wait_until_broker_idle()
    assert len(runway.jobs) == len(submissions(runway)) == 1
    assert_settled_once(take.pk, charged=True)


@pytest.mark.stack
def test_a_worker_killed_mid_render_has_its_local_take_rendered_again(catalog, workers, creator, project):
    """Our own renderer is a provider like the others: a render whose worker died is noticed by the
    next poll (its heartbeat stopped) and queued again; the take finishes, charged once."""
    shot = shot_for(project, duration_seconds=8)  # a render of a few seconds, long enough to be caught in
    first = workers.start()
    take = shot_take_request(user=creator, shot=shot)
    job_id = wait_for_local_render(take.pk, state="running")
    first.send_signal(SIGSTOP)  # frozen mid-render, then killed: its heartbeat and lease stop
    kill(first)
    assert renders._state_read(job_id)["state"] == "running"
    # The clock brought forward past the render's lease: its heartbeat is old, its lock has expired.
    renders._state_write(job_id, heartbeat=time.time() - 60)
    health.health_redis().delete(f"{renders._state_key(job_id)}:renderer")
    workers.start()
    counts = recovered(take.pk)  # the poll the dead worker held (or was running) is sent again…
    assert counts["resent"] + counts["restarted"] == 1
    take = wait_until_finished(take.pk)  # …finds the renderer gone, and queues the render again
    assert take.state == "ready", take.failure_reason
    assert renders._state_read(job_id)["restarts"] == "1"
    assert_settled_once(take.pk, charged=True)


@pytest.mark.stack
def test_a_run_whose_worker_dies_mid_run_accounts_for_every_shot_with_the_ledger_balanced(
        runway, hold, workers, creator, project, settings):
    """A production run (issue #14) is driven by its takes and by beat's advance: the pipeline worker
    killed while the run's first draft is at the vendor delays the run, and loses and double-pays nothing."""
    settings.DRAFT_QUALITY_FLOOR = 60  # drafts on Runway's Gen-4 Turbo, finals on Gen-4.5
    project.score_threshold = 30  # the emulator's clips score about 40: little motion, no prompt model
    project.save(update_fields=["score_threshold"])
    shots = [shot_for(project, title=f"Shot {n}") for n in (1, 2)]
    held = hold(runway, "status")
    worker = workers.start()
    run = run_start(user=creator, project=project, shots=shots, drafts_per_shot=1)
    held.wait_reached()
    kill(worker)

    workers.start()
    stranded = [take.pk for take in run_takes(run) if not take.is_terminal]
    counts = recovered(max(stranded, key=lambda pk: Take.objects.get(pk=pk).wake_at))  # what the dead worker held
    assert counts["restarted"] + counts["resent"] >= 1

    def run_settled() -> bool:
        production_runs_advance()  # beat's reconciliation
        return ProductionRun.objects.get(pk=run.pk).state != RunState.RUNNING

    wait_until(run_settled, what="the run ending", timeout=120, interval=0.5)
    run.refresh_from_db()
    assert run.state == RunState.COMPLETED, run.stop_reason
    assert sorted(run.shots.values_list("state", flat=True)) == [RunShotState.FINAL_READY] * 2
    takes = run_takes(run)
    assert all(take.is_terminal for take in takes)
    assert len(runway.jobs) == len(submissions(runway)) == len(takes)  # every take sent once, none twice
    wait_until_broker_idle(besides=unacked_in_test_queues())
    charged = sum(take.price_credits for take in takes if take.state == "ready")
    assert CreditAccount.objects.get(user=creator).balance == CREDITS - charged
    assert not Reservation.objects.filter(state="open").exists()
    assert credit_accounts_out_of_balance() == []


def wait_for_local_render(take_id: int, *, state: str) -> str:
    """The job id of the take's local render, once the render service reports it in `state`."""
    def job_id() -> str:
        return Attempt.objects.filter(take_id=take_id).exclude(provider_job_id="").values_list("provider_job_id", flat=True).first() or ""

    wait_until(lambda: job_id() and renders._state_read(job_id()).get("state") == state,
               what=f"the local render {state}", timeout=60, interval=0.02)
    return job_id()


@pytest.mark.django_db(transaction=True)
def test_a_reaped_take_gives_back_its_provider_concurrency_slot(runway, creator, shot):
    take = shot_take_request(user=creator, shot=shot)
    take_submit(take_id=take.pk)  # at the vendor, holding one of its slots; then the worker dies
    assert not health.concurrency_slot_take(take.provider_model.slug, holder="the next take", cap=1)
    assert takes_reap_stalled(now=timezone.now() + timedelta(seconds=settings.TAKE_STALL_SECONDS + 60)) == 1
    assert health.concurrency_slot_take(take.provider_model.slug, holder="the next take", cap=1)
    assert take.attempts.get().state == Attempt.State.FAILED


# -- Redis restarted mid-take -------------------------------------------------------------------


@pytest.fixture
def redis_server(tmp_path):
    """A Redis of this test's own (set up before `workers`, so stopped after them)."""
    with private_redis(tmp_path) as server:
        yield server


def send(broker_url: str, task, *args, **options) -> str:
    """Enqueue through the broker at `broker_url` (not the test process's own); returns the task id."""
    with app.connection_for_write(broker_url) as connection:
        return task.apply_async(args, connection=connection, **options).id


def redis_restart_noticed(redis_server, worker: subprocess.Popen, workers: Workers) -> None:
    """Kill Redis and start it again, empty, once the worker has noticed: it died, or it is retrying."""
    redis_server.kill()
    wait_until(lambda: worker.poll() is not None or RECONNECTING in workers.log_of(worker), what="the lost Redis noticed")
    redis_server.start()


def finish_with_beat(take_id: int, broker_url: str) -> Take:
    """Wait for the take to finish while beat keeps running takes_recover, each time with the
    take's wake_at passed (its lost poll was due; beat runs recovery every few seconds)."""

    def reconciled_and_finished() -> bool:
        Take.objects.filter(pk=take_id, wake_at__gt=timezone.now()).update(wake_at=timezone.now() - timedelta(seconds=5))
        send(broker_url, takes_recover_task)
        try:
            wait_until_finished(take_id, timeout=5)
        except AssertionError:
            return False
        return True

    wait_until(reconciled_and_finished, what=f"take {take_id} finishing", timeout=60, interval=0)
    return Take.objects.get(pk=take_id)


@pytest.mark.stack
def test_a_take_finishes_when_redis_restarts_mid_run(runway, redis_server, workers, creator, shot):
    env = {"REDIS_URL": redis_server.url}  # broker, cache, provider health and channel layer all on it
    first = workers.start(**env)
    take = shot_take_request(user=creator, shot=shot)
    purge_test_queue()  # that enqueue went to the shared Redis, which this test's workers do not read
    send(redis_server.url, take_submit_task, take.pk)
    wait_until(lambda: Take.objects.filter(pk=take.pk, state="generating").exists(), what="generating")
    redis_restart_noticed(redis_server, first, workers)  # every key gone: messages, slots, circuits, claims
    take = finish_with_beat(take.pk, redis_server.url)  # on the same worker: none is started again
    assert first.poll() is None, workers.log_of(first)[-3000:]
    assert len(runway.jobs) == len(submissions(runway)) == 1
    assert_settled_once(take.pk, charged=True)


@pytest.mark.stack
def test_a_worker_holding_a_message_outlives_a_redis_restart(redis_server, workers):
    worker = workers.start(REDIS_URL=redis_server.url)
    send(redis_server.url, ping, countdown=600)  # held by the worker, unacknowledged, until it is due
    wait_until(lambda: "studio.ping" in unacked_in_test_queues(redis_server.url).values(), what="the ping taken")
    wait_until(lambda: redis_server.waiting_for_messages(), what="the worker waiting for messages again")
    redis_restart_noticed(redis_server, worker, workers)
    workers.wait_for_log(worker, f"[{send(redis_server.url, ping)}] succeeded")
