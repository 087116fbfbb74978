"""A take through a real Celery worker process, on the real database and Redis."""

import time

import pytest

from billing.models import CreditAccount, Reservation
from billing.selectors import credit_accounts_out_of_balance
from jobs.models import Take
from studio.services.takes import shot_take_request
from tests.factories import creator_create, project_for, shot_for

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def wait_until_finished(take_id: int, timeout: float = 90) -> Take:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        take = Take.objects.get(pk=take_id)
        if take.is_terminal:
            return take
        time.sleep(0.2)
    raise AssertionError(f"take {take_id} still {take.state} after {timeout} s")


def wait_for_state(take_id: int, state: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Take.objects.filter(pk=take_id, state=state).exists():
            return
        time.sleep(0.05)
    raise AssertionError(f"take {take_id} never reached {state}: {Take.objects.get(pk=take_id).state}")


def test_a_requested_take_is_rendered_by_the_worker_and_charged(catalog, worker, group_listener):
    creator = creator_create()
    shot = shot_for(project_for(creator), camera="pan_right")
    listener = group_listener(shot.project.notify_group)
    take = shot_take_request(user=creator, shot=shot)
    take = wait_until_finished(take.pk)
    assert take.state == "ready", take.failure_reason
    assert take.video.storage.exists(take.video.name)
    assert Reservation.objects.get(pk=take.reservation_id).state == Reservation.State.CAPTURED
    assert CreditAccount.objects.get(user=creator).balance == 500 - take.price_credits
    assert credit_accounts_out_of_balance() == []
    events = listener.collect(50, timeout=1.0)
    assert events and all(f'<article id="take-{take.pk}"' in event["html"] for event in events)
    assert 'data-state="ready"' in events[-1]["html"]  # changes may be coalesced; the newest is always sent


def test_a_take_that_fails_in_the_worker_releases_its_credits(catalog, worker):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from studio.services.images import character_image_add
    from studio.services.projects import character_create, shot_update

    creator = creator_create()
    project = project_for(creator)
    shot = shot_for(project)
    character = character_create(project=project, name="Ghost")
    picture = character_image_add(character=character, upload=SimpleUploadedFile("g.png", _png_bytes()))
    shot_update(shot=shot, characters=[character])
    picture.image.storage.delete(picture.image.name)
    take = wait_until_finished(shot_take_request(user=creator, shot=shot).pk)
    assert take.state == "failed" and take.failure_reason
    assert CreditAccount.objects.get(user=creator).available == 500


def _png_bytes() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (90, 120, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_approving_a_final_has_the_worker_export_it(catalog, worker):
    from studio.services.takes import take_approve

    creator = creator_create()
    take = wait_until_finished(shot_take_request(user=creator, shot=shot_for(project_for(creator))).pk)
    assert take.state == "ready", take.failure_reason
    Take.objects.filter(pk=take.pk).update(tier=Take.Tier.FINAL)  # the render-final flow is tested apart
    take_approve(take=Take.objects.get(pk=take.pk))
    deadline = time.monotonic() + 30
    while not Take.objects.filter(pk=take.pk, exported_at__isnull=False).exists():
        assert time.monotonic() < deadline, "the approved final was never exported"
        time.sleep(0.2)
    take = Take.objects.get(pk=take.pk)
    assert take.export_record.storage.exists(take.export_record.name)
