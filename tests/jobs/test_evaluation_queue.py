"""Evaluation on its own queue: rendering stops at evaluating, an evaluation task reads the stored
video and settles the take, once, and recovery rescues a take whose evaluation was lost or died."""

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from billing.models import LedgerEntry, Reservation
from billing.selectors import credit_accounts_out_of_balance
from jobs.models import Take
from jobs.pipeline.evaluate import take_evaluate
from jobs.pipeline.poll import take_poll
from jobs.pipeline.recover import takes_recover
from providers.local.renders import render_run
from studio.services.takes import shot_take_request
from tests.factories import creator_create, project_for, shot_for
from tests.jobs.test_evaluation import black_clip
from tests.jobs.test_worker_end_to_end import wait_for_state, wait_until_finished
from tests.pipeline import take_render
from tests.stack import celery_worker


def sent(callbacks) -> list[tuple]:
    """The stage tasks sent after commit, as (take id, stage)."""
    return [callback.args for callback in callbacks if callback.func.__name__ == "take_stage_send"]


def due(take: Take):
    """A moment past the take's wake_at, when recovery looks at it."""
    return Take.objects.get(pk=take.pk).wake_at + timedelta(seconds=5)


@pytest.mark.django_db
def test_a_render_stops_at_evaluating_and_queues_its_evaluation_after_commit(catalog, creator, shot, django_capture_on_commit_callbacks):
    take = shot_take_request(user=creator, shot=shot)
    with django_capture_on_commit_callbacks() as callbacks:
        take_render(take.pk)
    take.refresh_from_db()
    assert take.state == "evaluating" and take.video and not take.evaluation
    assert sent(callbacks)[-1] == (take.pk, "evaluate")
    assert Reservation.objects.get(pk=take.reservation_id).state == Reservation.State.OPEN
    with django_capture_on_commit_callbacks() as callbacks:
        render_run(job_id=take.attempts.get().provider_job_id)  # the render task again (redelivered)
        take_poll(take_id=take.pk)  # and a late poll: nothing is rendered or downloaded twice
    assert sent(callbacks) == []
    assert take.events.filter(to_state="downloading").count() == 1


@pytest.mark.django_db
def test_the_evaluation_task_settles_once_and_a_repeat_does_nothing(catalog, creator, shot):
    take = shot_take_request(user=creator, shot=shot)
    take_render(take.pk)
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
    take_render(take.pk)
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
    take_render(take.pk)
    # another worker is on it: it holds the take's lease, renewed a moment ago
    Take.objects.filter(pk=take.pk).update(lease_token="another-worker", wake_at=timezone.now() + timedelta(seconds=15))
    take_evaluate(take_id=take.pk)
    assert Take.objects.get(pk=take.pk).state == "evaluating"
    Take.objects.filter(pk=take.pk).update(wake_at=timezone.now() - timedelta(seconds=1))  # it stopped renewing: died
    take_evaluate(take_id=take.pk)
    assert Take.objects.get(pk=take.pk).state == "ready"


@pytest.mark.django_db
def test_a_crashing_evaluation_fails_the_take_and_releases_its_credits(catalog, creator, shot):
    take = shot_take_request(user=creator, shot=shot)
    take_render(take.pk)
    take.refresh_from_db()
    take.video.storage.delete(take.video.name)  # nothing left to read
    take_evaluate(take_id=take.pk)
    take.refresh_from_db()
    assert take.state == "failed" and "while checking the video" in take.failure_reason
    assert Reservation.objects.get(pk=take.reservation_id).state == Reservation.State.RELEASED


@pytest.mark.django_db
def test_recovery_sends_an_evaluation_that_never_started_again_and_later_each_time(
    catalog, creator, shot, django_capture_on_commit_callbacks,
):
    take = shot_take_request(user=creator, shot=shot)
    take_render(take.pk)
    assert takes_recover()["resent"] == 0  # not due yet: its task may simply be waiting in the queue
    first = due(take)
    with django_capture_on_commit_callbacks() as callbacks:
        assert takes_recover(now=first)["resent"] == 1
    assert sent(callbacks) == [(take.pk, "evaluate")]
    take.refresh_from_db()
    assert take.deliveries == 1 and take.wake_at - first == timedelta(seconds=settings.TAKE_HANDOVER_SECONDS)
    assert takes_recover(now=first + timedelta(seconds=settings.TAKE_HANDOVER_SECONDS))["resent"] == 0  # spaced out
    assert take.events.latest("id").to_state == "evaluating"  # a resend is not news for the card


@pytest.mark.django_db
def test_recovery_restarts_an_evaluation_whose_worker_died_then_gives_up(catalog, creator, shot, django_capture_on_commit_callbacks):
    take = shot_take_request(user=creator, shot=shot)
    take_render(take.pk)
    for restart in range(1, settings.TAKE_RECOVERIES_MAX + 1):
        # a worker took the lease and died: it stopped renewing
        Take.objects.filter(pk=take.pk).update(lease_token=f"dead-worker-{restart}", wake_at=timezone.now() - timedelta(seconds=30))
        with django_capture_on_commit_callbacks() as callbacks:
            assert takes_recover()["restarted"] == 1
        assert sent(callbacks) == [(take.pk, "evaluate")]
        assert take.events.latest("id").detail == f"evaluation started again ({restart} of {settings.TAKE_RECOVERIES_MAX})"
    Take.objects.filter(pk=take.pk).update(lease_token="dead-worker-last", wake_at=timezone.now() - timedelta(seconds=30))
    assert takes_recover()["failed"] == 1
    take.refresh_from_db()
    assert take.state == "failed" and "stopped 4 times" in take.failure_reason
    assert Reservation.objects.get(pk=take.reservation_id).state == Reservation.State.RELEASED


# -- real workers -------------------------------------------------------------------------------


@pytest.fixture
def evaluating_take(catalog, django_db_setup, tmp_path, settings):
    """A take rendered by a worker that reads only the pipeline queue: it stays evaluating."""
    from tests.conftest import purge_test_queue

    purge_test_queue()
    creator = creator_create()
    take = shot_take_request(user=creator, shot=shot_for(project_for(creator)))
    with celery_worker(tmp_path / "pipeline.log", queues=(settings.CELERY_TASK_DEFAULT_QUEUE, settings.LOCAL_RENDER_QUEUE)):
        wait_for_state(take.pk, "evaluating")
        time.sleep(3)
    assert Take.objects.get(pk=take.pk).state == "evaluating"
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
def test_a_take_whose_evaluation_task_was_lost_is_rescued_by_recovery(evaluating_take, tmp_path, settings):
    from tests.conftest import purge_test_queue

    purge_test_queue()  # the evaluation task is gone, as if the broker lost it
    with celery_worker(tmp_path / "evaluation.log", queues=(settings.EVALUATION_QUEUE,)):
        time.sleep(2)
        assert Take.objects.get(pk=evaluating_take.pk).state == "evaluating"
        assert takes_recover(now=due(evaluating_take))["resent"] == 1
        take = wait_until_finished(evaluating_take.pk)
    assert take.state == "ready", take.failure_reason
    assert credit_accounts_out_of_balance() == []
