import pytest

from billing.models import CreditAccount, Reservation
from jobs.models import Generation
from jobs.services.cancel import TakeNotCancellable, take_cancel
from jobs.services.dispatch import take_advance
from jobs.services.pipeline import take_run
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


def test_a_remote_take_is_cancelled_at_the_vendor(settings, catalog, creator, shot):
    with emulator_create("runway", latency_seconds=30) as runway:
        settings.PROVIDER_SANDBOX_URLS = {"runway": runway.url}
        ProviderModel.objects.filter(slug="local-animatic").update(enabled=False)
        take = shot_take_request(user=creator, shot=shot)
        take_advance(take_id=take.pk)
        take = take_cancel(take_id=take.pk)
    assert take.state == "cancelled"
    assert "Gen-4.5 Turbo stopped the job" in take.events.latest("id").detail
    assert [r.method for r in runway.requests_seen if r.path.startswith("/v1/tasks/")] == ["DELETE"]
    assert take.attempts.get().state == "cancelled"
    assert CreditAccount.objects.get(user=creator).available == 500
