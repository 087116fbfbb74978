"""Recovery: a take whose stage went quiet is driven again, for real, and fresh takes are left alone."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import Take
from jobs.pipeline.recover import takes_recover
from studio.services.takes import shot_take_request
from tests.factories import creator_create, project_for, shot_for
from tests.jobs.test_worker_end_to_end import wait_until_finished

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def test_a_take_whose_task_was_lost_is_sent_again_and_rendered(catalog, request):
    from tests.conftest import purge_test_queue

    creator = creator_create()
    shot = shot_for(project_for(creator))
    take = shot_take_request(user=creator, shot=shot)
    purge_test_queue()  # the original task is gone, as if its worker died holding it
    request.getfixturevalue("worker")  # only now does a worker start
    time.sleep(1)
    assert Take.objects.get(pk=take.pk).state == "queued"
    assert takes_recover(now=Take.objects.get(pk=take.pk).wake_at + timedelta(seconds=5))["resent"] == 1
    take = wait_until_finished(take.pk)
    assert take.state == "ready", take.failure_reason


def test_fresh_takes_are_left_alone(catalog):
    creator = creator_create()
    shot_take_request(user=creator, shot=shot_for(project_for(creator)))
    counts = takes_recover()
    assert (counts["resent"], counts["restarted"], counts["failed"]) == (0, 0, 0)
    assert takes_recover(now=timezone.now() + timedelta(seconds=5))["resent"] == 0  # still within its handover
