"""A take whose task was lost is picked up again by reconciliation and finishes for real."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import Generation
from jobs.services.reconcile import takes_reconcile
from studio.services.takes import shot_take_request
from tests.factories import creator_create, project_for, shot_for
from tests.jobs.test_worker_end_to_end import wait_until_finished

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def test_a_take_whose_task_was_lost_is_requeued_and_rendered(catalog, request):
    from tests.conftest import purge_test_queue

    creator = creator_create()
    shot = shot_for(project_for(creator))
    take = shot_take_request(user=creator, shot=shot)
    purge_test_queue()  # the original task is gone, as if its worker died holding it
    request.getfixturevalue("worker")  # only now does a worker start
    time.sleep(1)
    assert Generation.objects.get(pk=take.pk).state == "queued"
    Generation.objects.filter(pk=take.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=3))
    assert takes_reconcile() == {"polled": 0, "requeued": 1}
    take = wait_until_finished(take.pk)
    assert take.state == "ready", take.failure_reason


def test_fresh_takes_are_left_alone(catalog):
    creator = creator_create()
    shot_take_request(user=creator, shot=shot_for(project_for(creator)))
    assert takes_reconcile() == {"polled": 0, "requeued": 0}
