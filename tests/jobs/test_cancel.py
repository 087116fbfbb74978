import pytest
from django.core.files.storage import default_storage

from billing.models import CreditAccount, Reservation
from jobs.models import Generation, take_output_path
from jobs.services.cancel import TakeNotCancellable, take_cancel
from jobs.services.dispatch import take_advance
from jobs.services.pipeline import take_files_store, take_run
from jobs.services.remote import take_apply_status
from providers.base import JobState, JobStatus, RenderRequest
from providers.local.animatic import render_animatic
from providers.emulators.sandbox import emulator_create
from providers.models import ProviderModel
from studio.services.takes import shot_take_request

pytestmark = pytest.mark.django_db


def test_a_queued_take_is_cancelled_and_its_credits_released(catalog, creator, shot):
    take = shot_take_request(user=creator, shot=shot)
    take = take_cancel(take_id=take.pk)
    assert take.state == "cancelled"
    assert Reservation.objects.get(pk=take.reservation_id).state == Reservation.State.RELEASED
    assert CreditAccount.objects.get(user=creator).available == 500
    assert take_cancel(take_id=take.pk).state == "cancelled"  # a repeat changes nothing
    take_run(take_id=take.pk)  # a task that still arrives does nothing
    assert Generation.objects.get(pk=take.pk).state == "cancelled"


def test_a_local_render_stops_when_its_take_is_cancelled(catalog, creator, shot, monkeypatch):
    take = shot_take_request(user=creator, shot=shot)
    from jobs.services import pipeline

    real_report = pipeline.take_progress_report

    def cancel_midway(*, take_id, percent):
        real_report(take_id=take_id, percent=percent)
        if percent >= 30 and Generation.objects.get(pk=take_id).state == "generating":
            take_cancel(take_id=take_id)

    monkeypatch.setattr(pipeline, "take_progress_report", cancel_midway)
    take_run(take_id=take.pk)
    take = Generation.objects.get(pk=take.pk)
    assert take.state == "cancelled" and not take.video
    assert CreditAccount.objects.get(user=creator).balance == 500


def test_finished_takes_cannot_be_cancelled(catalog, creator, shot):
    take = shot_take_request(user=creator, shot=shot)
    take_run(take_id=take.pk)
    with pytest.raises(TakeNotCancellable, match="can no longer be cancelled"):
        take_cancel(take_id=take.pk)


@pytest.fixture
def slow_runway(settings, catalog):
    """Runway's emulator, taking 30 s per job, as the only provider."""
    with emulator_create("runway", latency_seconds=30) as runway:
        settings.PROVIDER_SANDBOX_URLS = {"runway": runway.url}
        ProviderModel.objects.filter(slug="local-animatic").update(enabled=False)
        yield runway


def test_a_remote_take_is_cancelled_at_the_vendor(slow_runway, creator, shot):
    runway = slow_runway
    take = shot_take_request(user=creator, shot=shot)
    take_advance(take_id=take.pk)
    take = take_cancel(take_id=take.pk)
    assert take.state == "cancelled"
    assert "Gen-4.5 Turbo stopped the job" in take.events.latest("id").detail
    assert [r.method for r in runway.requests_seen if r.path.startswith("/v1/tasks/")] == ["DELETE"]
    assert take.attempts.get().state == "cancelled"
    assert CreditAccount.objects.get(user=creator).available == 500


def test_a_poll_that_finds_the_job_done_after_a_cancel_changes_nothing(slow_runway, creator, shot):
    """The creator cancels between a poll reading 'generating' and that poll applying 'succeeded'."""
    runway = slow_runway
    take = shot_take_request(user=creator, shot=shot)
    take_advance(take_id=take.pk)
    polled = Generation.objects.select_related("provider_model").get(pk=take.pk)
    attempt = polled.attempts.get()
    take_cancel(take_id=take.pk)
    done = JobStatus(job_id=attempt.provider_job_id, state=JobState.SUCCEEDED, raw_status="SUCCEEDED",
                     output_url=f"{runway.url}/never-fetched.mp4")
    assert take_apply_status(take=polled, attempt=attempt, status=done) is None
    take = Generation.objects.get(pk=take.pk)
    assert take.state == "cancelled" and not take.video
    assert not [r for r in runway.requests_seen if r.path == "/never-fetched.mp4"]
    assert CreditAccount.objects.get(user=creator).available == 500


def test_files_finished_after_a_cancel_are_not_kept(catalog, creator, shot, tmp_path):
    take = shot_take_request(user=creator, shot=shot)
    rendered = render_animatic(RenderRequest(prompt="a lighthouse", negative_prompt="", duration_seconds=1,
                                             aspect_ratio="16:9", camera="static", seed=1), output_dir=tmp_path, fps=4)
    take_cancel(take_id=take.pk)
    assert not take_files_store(take=take, video=rendered.video_path, poster=rendered.poster_path,
                                thumbnail=rendered.thumbnail_path)
    take.refresh_from_db()
    assert not take.video and not take.poster
    for path in (rendered.video_path, rendered.poster_path, rendered.thumbnail_path):
        assert not default_storage.exists(take_output_path(take, path.name))
