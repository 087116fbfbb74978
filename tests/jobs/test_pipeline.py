"""The pipeline driven step by step in-process, rendering real videos with the local renderer."""

import io
from datetime import timedelta

import av
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from billing.models import CreditAccount, LedgerEntry, Reservation
from billing.selectors import credit_accounts_out_of_balance
from jobs.exceptions import IllegalTransition
from jobs.models import Take
from jobs.pipeline.evaluate import take_evaluate
from jobs.pipeline.recover import takes_reap_stalled
from jobs.pipeline.transitions import take_progress_report, take_transition
from studio.services.images import character_image_add
from studio.services.projects import character_create, shot_update
from studio.services.takes import shot_take_request
from tests.conftest import run_commit_callbacks_except_enqueue
from tests.pipeline import take_render

pytestmark = pytest.mark.django_db


def take_run_and_evaluate(take_id: int) -> Take:
    """Render a take in-process, then evaluate it, as the pipeline and evaluation workers would."""
    take_render(take_id)
    take_evaluate(take_id=take_id)
    return Take.objects.get(pk=take_id)


def take_made_ready(take: Take) -> Take:
    """`take`, rendered and evaluated, asserted ready."""
    take = take_run_and_evaluate(take.pk)
    assert take.state == "ready", take.failure_reason
    return take


def png_upload(colour, size=(320, 240)) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, format="PNG")
    return SimpleUploadedFile("ref.png", buffer.getvalue(), content_type="image/png")


def test_a_take_goes_from_queued_to_ready_and_is_charged(catalog, creator, shot):
    take = shot_take_request(user=creator, shot=shot)
    take_run_and_evaluate(take.pk)
    take.refresh_from_db()
    assert take.state == "ready", take.failure_reason
    assert take.progress == 100
    assert list(take.events.values_list("to_state", flat=True)) == [
        "queued", "routing", "submitting", "generating", "downloading", "evaluating", "ready",
    ]
    with take.video.open("rb") as handle, av.open(handle) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 854, 480)
    assert take.poster.width == 854 and take.thumbnail.width <= 320
    assert take.evaluation["passed"] is True
    assert set(take.evaluation["technical"]) >= {"decodes", "duration", "size", "not_black", "not_frozen"}
    assert take.reservation.state == Reservation.State.CAPTURED
    assert CreditAccount.objects.get(user=creator).balance == 500 - take.price_credits
    assert credit_accounts_out_of_balance() == []


def test_running_a_finished_take_again_changes_nothing(catalog, creator, shot):
    take = shot_take_request(user=creator, shot=shot)
    take_run_and_evaluate(take.pk)
    entries = LedgerEntry.objects.count()
    take_run_and_evaluate(take.pk)
    assert LedgerEntry.objects.count() == entries
    assert Take.objects.get().events.count() == 7


def test_a_reference_image_is_used_and_a_black_video_fails_evaluation_and_is_refunded(catalog, creator, project, shot):
    mei = character_create(project=project, name="Shadow")
    character_image_add(character=mei, upload=png_upload((0, 0, 0)))
    shot_update(shot=shot, characters=[mei], camera="static")
    take = shot_take_request(user=creator, shot=shot)
    assert take.request["reference_image_names"]
    take_run_and_evaluate(take.pk)
    take.refresh_from_db()
    assert take.state == "failed"
    assert "black" in take.failure_reason.lower()
    assert take.evaluation["technical"]["not_black"]["passed"] is False
    assert take.reservation.state == Reservation.State.CAPTURED  # rendered, so charged, then refunded
    assert take.reservation.refund.amount == take.price_credits
    assert CreditAccount.objects.get(user=creator).balance == 500
    assert credit_accounts_out_of_balance() == []


def test_a_render_crash_fails_the_take_with_a_readable_reason(catalog, creator, project, shot):
    mei = character_create(project=project, name="Gone")
    picture = character_image_add(character=mei, upload=png_upload((200, 40, 40)))
    shot_update(shot=shot, characters=[mei])
    take = shot_take_request(user=creator, shot=shot)
    picture.image.storage.delete(picture.image.name)  # the reference vanished from storage
    take_render(take.pk)
    take.refresh_from_db()
    assert take.state == "failed"
    assert "credits were released" in take.failure_reason
    assert CreditAccount.objects.get(user=creator).held == 0


def test_transitions_refuse_illegal_moves_and_ignore_repeats(catalog, creator, shot):
    take = shot_take_request(user=creator, shot=shot)
    with pytest.raises(IllegalTransition):
        take_transition(take_id=take.pk, to_state="downloading")
    take_transition(take_id=take.pk, to_state="routing")
    take_transition(take_id=take.pk, to_state="routing")
    assert take.events.count() == 2


def test_transitions_and_progress_are_published_after_commit(catalog, creator, shot, group_listener, django_capture_on_commit_callbacks):
    listener = group_listener(shot.project.notify_group)
    take = shot_take_request(user=creator, shot=shot)
    with django_capture_on_commit_callbacks() as callbacks:
        for state in ("routing", "submitting", "generating"):
            take_transition(take_id=take.pk, to_state=state)
        take_progress_report(take_id=take.pk, percent=40)
        take_progress_report(take_id=take.pk, percent=30)  # never goes backwards, so no event
    assert len(callbacks) == 4  # nothing is sent before the transaction commits
    run_commit_callbacks_except_enqueue(callbacks)
    events = listener.collect(5, timeout=1.0)
    assert [event["type"] for event in events] == ["live.html"] * 4  # each change, rendered once for the page
    assert f'id="take-{take.pk}"' in events[-1]["html"] and "40%" in events[-1]["html"]
    assert Take.objects.get().progress == 40


def test_reaper_fails_stalled_takes_and_releases_their_credits(catalog, creator, shot, settings):
    settings.TAKE_STALL_SECONDS = 600
    take = shot_take_request(user=creator, shot=shot)
    Take.objects.filter(pk=take.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=11))
    fresh = shot_take_request(user=creator, shot=shot)
    assert takes_reap_stalled() == 1
    take.refresh_from_db()
    assert take.state == "failed" and "no progress for 10 minutes" in take.failure_reason
    assert Take.objects.get(pk=fresh.pk).state == "queued"
    assert CreditAccount.objects.get(user=creator).held == fresh.price_credits


def test_an_urgent_poll_that_finds_another_poll_at_work_comes_back_in_a_moment(catalog, creator, shot, settings):
    """The job announced its end while a scheduled poll held the take: that poll may have looked
    just before the end, so the announced (urgent) poll tries again shortly instead of giving up."""
    from jobs.pipeline.poll import take_poll
    from jobs.pipeline.submit import take_submit
    from tests.jobs.test_self_hosted_take import queued_messages

    take = shot_take_request(user=creator, shot=shot)
    take_submit(take_id=take.pk)
    Take.objects.filter(pk=take.pk).update(lease_token="a-scheduled-poll", wake_at=timezone.now() + timedelta(seconds=15))
    waiting = queued_messages(settings.CELERY_TASK_DEFAULT_QUEUE)
    take_poll(take_id=take.pk, urgent=True)
    assert queued_messages(settings.CELERY_TASK_DEFAULT_QUEUE) == waiting + 1
    take_poll(take_id=take.pk)  # an ordinary poll leaves the take to the poll at work
    assert queued_messages(settings.CELERY_TASK_DEFAULT_QUEUE) == waiting + 1
