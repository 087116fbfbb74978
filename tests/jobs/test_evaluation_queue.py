"""Evaluation on its own queue: rendering stops at evaluating, an evaluation task reads the stored
video and settles the take, once, and reconciliation rescues a take whose evaluation was lost."""

import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from billing.models import LedgerEntry, Reservation
from billing.selectors import credit_accounts_out_of_balance
from jobs.claims import take_evaluation_claim
from jobs.models import Generation
from jobs.services.pipeline import take_evaluate, take_run, takes_reap_stalled
from jobs.services.reconcile import EVALUATION_QUIET_SECONDS, EVALUATION_REQUEUES, takes_reconcile
from studio.services.takes import shot_take_request
from tests.factories import creator_create, project_for, shot_for
from tests.jobs.test_evaluation import black_clip
from tests.jobs.test_worker_end_to_end import wait_for_state, wait_until_finished
from tests.stack import celery_worker

QUIET = timedelta(seconds=EVALUATION_QUIET_SECONDS + 30)


def enqueued(callbacks) -> list[str]:
    return [callback.func.__name__ for callback in callbacks if callback.func.__name__.startswith("_enqueue")]


@pytest.mark.django_db
def test_a_render_stops_at_evaluating_and_queues_its_evaluation_after_commit(catalog, creator, shot, django_capture_on_commit_callbacks):
    take = shot_take_request(user=creator, shot=shot)
    with django_capture_on_commit_callbacks() as callbacks:
        take_run(take_id=take.pk)
    take.refresh_from_db()
    assert take.state == "evaluating" and take.video and not take.evaluation
    assert enqueued(callbacks) == ["_enqueue_take_evaluate"]
    assert Reservation.objects.get(pk=take.reservation_id).state == Reservation.State.OPEN
    with django_capture_on_commit_callbacks() as callbacks:
        take_run(take_id=take.pk)  # the render task again (redelivered): nothing is rendered twice
    assert enqueued(callbacks) == ["_enqueue_take_evaluate"]
    assert take.events.filter(to_state="downloading").count() == 1


@pytest.mark.django_db
def test_the_evaluation_task_settles_once_and_a_repeat_does_nothing(catalog, creator, shot):
    take = shot_take_request(user=creator, shot=shot)
    take_run(take_id=take.pk)
    take_evaluate(take_id=take.pk)
    take.refresh_from_db()
    assert take.state == "ready" and take.evaluation["passed"] is True
    entries, events = LedgerEntry.objects.count(), take.events.count()
    take_evaluate(take_id=take.pk)  # a redelivered task
    assert (LedgerEntry.objects.count(), take.events.count()) == (entries, events)
    assert Reservation.objects.get(pk=take.reservation_id).captured_amount == take.price_credits
    assert credit_accounts_out_of_balance() == []


@pytest.mark.django_db
def test_evaluation_reads_the_video_as_stored(catalog, creator, shot, tmp_path):
    take = shot_take_request(user=creator, shot=shot)
    take_run(take_id=take.pk)
    take.refresh_from_db()
    storage, name = take.video.storage, take.video.name
    storage.delete(name)
    with black_clip(tmp_path).open("rb") as black:  # what storage holds is what is judged
        storage.save(name, black)
    take_evaluate(take_id=take.pk)
    take.refresh_from_db()
    assert take.state == "failed" and take.evaluation["technical"]["not_black"]["passed"] is False


@pytest.mark.django_db
def test_only_one_worker_evaluates_a_take_at_a_time(catalog, creator, shot):
    take = shot_take_request(user=creator, shot=shot)
    take_run(take_id=take.pk)
    cache.add(take_evaluation_claim(take.pk), "evaluating")  # another worker is on it
    take_evaluate(take_id=take.pk)
    assert Generation.objects.get(pk=take.pk).state == "evaluating"
    cache.delete(take_evaluation_claim(take.pk))
    take_evaluate(take_id=take.pk)
    assert Generation.objects.get(pk=take.pk).state == "ready"


@pytest.mark.django_db
def test_a_crashing_evaluation_fails_the_take_and_releases_its_credits(catalog, creator, shot):
    take = shot_take_request(user=creator, shot=shot)
    take_run(take_id=take.pk)
    take.refresh_from_db()
    take.video.storage.delete(take.video.name)  # nothing left to read
    take_evaluate(take_id=take.pk)
    take.refresh_from_db()
    assert take.state == "failed" and "while checking the video" in take.failure_reason
    assert Reservation.objects.get(pk=take.reservation_id).state == Reservation.State.RELEASED


@pytest.mark.django_db
def test_reconcile_queues_a_quiet_evaluation_again_and_keeps_the_reaper_away(catalog, creator, shot, django_capture_on_commit_callbacks):
    take = shot_take_request(user=creator, shot=shot)
    take_run(take_id=take.pk)
    assert takes_reconcile() == {"polled": 0, "requeued": 0}  # fresh: left alone
    later = timezone.now() + QUIET
    with django_capture_on_commit_callbacks() as callbacks:
        assert takes_reconcile(now=later) == {"polled": 0, "requeued": 1}
    assert enqueued(callbacks) == ["_enqueue_take_evaluate"]
    assert Generation.objects.get(pk=take.pk).heartbeat_at == later  # waiting its turn is not a stall
    assert takes_reap_stalled(now=later + timedelta(seconds=60)) == 0
    assert "evaluation queued again (1 of" in take.events.latest("id").detail


@pytest.mark.django_db
def test_an_evaluation_that_keeps_dying_is_left_to_the_reaper(catalog, creator, shot, settings):
    take = shot_take_request(user=creator, shot=shot)
    take_run(take_id=take.pk)
    now = timezone.now()
    for _ in range(EVALUATION_REQUEUES):
        now += QUIET
        assert takes_reconcile(now=now)["requeued"] == 1
    now += QUIET
    assert takes_reconcile(now=now)["requeued"] == 0
    assert takes_reap_stalled(now=now + timedelta(seconds=settings.TAKE_STALL_SECONDS)) == 1
    take.refresh_from_db()
    assert take.state == "failed" and Reservation.objects.get(pk=take.reservation_id).state == "released"


# -- real workers -------------------------------------------------------------------------------


@pytest.fixture
def evaluating_take(catalog, django_db_setup, tmp_path, settings):
    """A take rendered by a worker that reads only the pipeline queue: it stays evaluating."""
    from tests.conftest import purge_test_queue

    purge_test_queue()
    creator = creator_create()
    take = shot_take_request(user=creator, shot=shot_for(project_for(creator)))
    with celery_worker(tmp_path / "pipeline.log", queues=(settings.CELERY_TASK_DEFAULT_QUEUE,)):
        wait_for_state(take.pk, "evaluating")
        time.sleep(3)
    assert Generation.objects.get(pk=take.pk).state == "evaluating"
    assert "Task jobs.take_evaluate[" not in (tmp_path / "pipeline.log").read_text()
    yield take
    purge_test_queue()


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_an_evaluation_worker_finishes_what_the_pipeline_worker_left_evaluating(evaluating_take, tmp_path, settings):
    with celery_worker(tmp_path / "evaluation.log", queues=(settings.EVALUATION_QUEUE,)):
        take = wait_until_finished(evaluating_take.pk)
    assert take.state == "ready", take.failure_reason
    assert Reservation.objects.get(pk=take.reservation_id).captured_amount == take.price_credits
    assert "Task jobs.take_evaluate[" in (tmp_path / "evaluation.log").read_text()
    assert credit_accounts_out_of_balance() == []


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_a_take_whose_evaluation_task_was_lost_is_rescued_by_reconcile(evaluating_take, tmp_path, settings):
    from tests.conftest import purge_test_queue

    purge_test_queue()  # the evaluation task is gone, as if the broker lost it
    with celery_worker(tmp_path / "evaluation.log", queues=(settings.EVALUATION_QUEUE,)):
        time.sleep(2)
        assert Generation.objects.get(pk=evaluating_take.pk).state == "evaluating"
        assert takes_reconcile(now=timezone.now() + QUIET) == {"polled": 0, "requeued": 1}
        take = wait_until_finished(evaluating_take.pk)
    assert take.state == "ready", take.failure_reason
    assert credit_accounts_out_of_balance() == []
