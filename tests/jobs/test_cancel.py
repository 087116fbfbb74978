import pytest
from django.core.files.storage import default_storage

from billing.models import CreditAccount, Reservation
from jobs.media import video_preview
from jobs.models import Take, take_output_path
from jobs.pipeline.download import take_files_store
from jobs.pipeline.leases import lease_acquire
from jobs.pipeline.poll import take_status_apply
from jobs.pipeline.settle import TakeNotCancellable, take_cancel, take_stage_settled
from jobs.pipeline.submit import take_submit
from providers.base import JobState, JobStatus, RenderRequest
from providers.emulators.sandbox import emulator_create
from providers.local import renders
from providers.local.animatic import render_animatic
from providers.models import ProviderModel
from studio.services.takes import shot_take_request
from tests.pipeline import local_render_run, take_render

pytestmark = pytest.mark.django_db


def test_a_queued_take_is_cancelled_and_its_credits_released(catalog, creator, shot):
    take = shot_take_request(user=creator, shot=shot)
    take = take_cancel(take_id=take.pk)
    assert take.state == "cancelled"
    assert Reservation.objects.get(pk=take.reservation_id).state == Reservation.State.RELEASED
    assert CreditAccount.objects.get(user=creator).available == 500
    assert take_cancel(take_id=take.pk).state == "cancelled"  # a repeat changes nothing
    take_render(take.pk)  # a task that still arrives does nothing
    assert Take.objects.get(pk=take.pk).state == "cancelled"


def test_a_local_render_stops_when_its_take_is_cancelled(catalog, creator, shot, monkeypatch):
    take = shot_take_request(user=creator, shot=shot)
    take_submit(take_id=take.pk)
    real_reporter = renders._progress_reporter

    def cancel_midway(job_id):
        report = real_reporter(job_id)

        def on_progress(percent):
            if percent >= 30 and Take.objects.get(pk=take.pk).state == "generating":
                take_cancel(take_id=take.pk)  # the creator clicks Cancel while it renders
            report(percent)

        return on_progress

    monkeypatch.setattr(renders, "_progress_reporter", cancel_midway)
    take = Take.objects.get(pk=take.pk)
    local_render_run(take)
    job_id = take.attempts.get().provider_job_id
    assert renders.render_status(job_id).state == JobState.CANCELLED
    assert not default_storage.exists(f"local-renders/{job_id}/video.mp4")  # it stopped before the end
    take = Take.objects.get(pk=take.pk)
    assert take.state == "cancelled" and not take.video
    assert "stopped the job" in take.events.latest("id").detail
    assert CreditAccount.objects.get(user=creator).balance == 500


def test_finished_takes_cannot_be_cancelled(catalog, creator, shot):
    take = shot_take_request(user=creator, shot=shot)
    take_render(take.pk)
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
    take_submit(take_id=take.pk)
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
    take_submit(take_id=take.pk)
    lease = lease_acquire(take.pk, states=["generating"])  # the poll's worker holds the take…
    polled = Take.objects.select_related("provider_model").get(pk=take.pk)
    attempt = polled.attempts.get()
    take_cancel(take_id=take.pk)  # …when the creator cancels
    done = JobStatus(job_id=attempt.provider_job_id, state=JobState.SUCCEEDED, raw_status="SUCCEEDED",
                     output_url=f"{runway.url}/never-fetched.mp4")
    with take_stage_settled(take_id=take.pk, lease=lease, doing="polling"):
        take_status_apply(take=polled, attempt=attempt, status=done, lease=lease)
    take = Take.objects.get(pk=take.pk)
    assert take.state == "cancelled" and not take.video
    assert not [r for r in runway.requests_seen if r.path == "/never-fetched.mp4"]
    assert CreditAccount.objects.get(user=creator).available == 500


def test_files_finished_after_a_cancel_are_not_kept(catalog, creator, shot, tmp_path):
    take = shot_take_request(user=creator, shot=shot)
    rendered = render_animatic(RenderRequest(prompt="a lighthouse", negative_prompt="", duration_seconds=1,
                                             aspect_ratio="16:9", camera="static", seed=1), output_dir=tmp_path, fps=4)
    preview = video_preview(rendered.video_path, tmp_path / "preview")
    take_cancel(take_id=take.pk)
    assert not take_files_store(take=take, files=(rendered.video_path, rendered.poster_path, rendered.thumbnail_path, preview))
    take.refresh_from_db()
    assert not take.video and not take.poster
    for path in (rendered.video_path, rendered.poster_path, rendered.thumbnail_path):
        assert not default_storage.exists(take_output_path(take, path.name))
