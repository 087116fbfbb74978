"""Takes on a remote provider, driven step by step against the Runway emulator.

The real adapter (official runwayml SDK) talks HTTP to the emulator; the pipeline's submit,
poll, retry, fallback and settle steps run as the Celery tasks would run them.
"""

import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from billing.models import CreditAccount, Reservation
from billing.selectors import credit_accounts_out_of_balance
from jobs.models import Attempt, Take
from jobs.pipeline.download import take_download
from jobs.pipeline.submit import take_submit
from jobs.pipeline.transitions import take_transition
from providers import health
from providers.emulators.sandbox import emulator_create
from providers.models import ProviderModel
from studio.services.takes import shot_take_request
from tests.pipeline import take_stage_run

pytestmark = pytest.mark.django_db


@pytest.fixture
def runway(settings, catalog):
    with emulator_create("runway", latency_seconds=0.6) as emulator:
        settings.PROVIDER_SANDBOX_URLS = {"runway": emulator.url}
        ProviderModel.objects.filter(slug="local-animatic").update(enabled=False)
        yield emulator


def drive(take_id: int, *, timeout: float = 30) -> Take:
    """Run each stage the take's state calls for, as the workers would (without waiting out
    backoffs), until the take settles."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        take = take_stage_run(take_id)
        if take.is_terminal:
            return take
        time.sleep(0.2 if take.state == "generating" else 0)
    raise AssertionError(f"take {take_id} did not settle: {Take.objects.get(pk=take_id).state}")


def test_a_remote_take_is_submitted_polled_downloaded_and_charged(runway, creator, shot):
    take = shot_take_request(user=creator, shot=shot)
    assert take.provider_model.slug == "runway-gen45-turbo"
    take = drive(take.pk)
    assert take.state == "ready", take.failure_reason
    assert take.sandbox is True
    assert take.video and take.poster and take.thumbnail
    attempt = take.attempts.get()
    assert attempt.state == "succeeded" and attempt.provider_job_id == take.provider_job_id
    sent = [r for r in runway.requests_seen if r.path == "/v1/text_to_video"]
    assert len(sent) == 1 and sent[0].json()["model"] == "gen4.5"
    # Runway takes no negative prompt: the compiler folded it in, and the take records what was sent.
    assert sent[0].json()["promptText"] == take.compiled_prompt and take.compiled_prompt.endswith("Avoid: text, watermark.")
    assert take.compiler_version == "2"
    assert Reservation.objects.get(pk=take.reservation_id).captured_amount == take.price_credits
    assert CreditAccount.objects.get(user=creator).balance == 500 - take.price_credits
    states = list(take.events.values_list("to_state", flat=True))
    assert states[:4] == ["queued", "routing", "submitting", "generating"] and states[-1] == "ready"


def test_transient_errors_are_retried_on_the_same_provider(runway, creator, shot):
    runway.inject("submit", "503", times=2)
    take = drive(shot_take_request(user=creator, shot=shot).pk)
    assert take.state == "ready", take.failure_reason
    assert list(take.attempts.values_list("state", flat=True)) == ["failed", "failed", "succeeded"]
    assert "retrying Gen-4.5 Turbo" in " ".join(take.events.values_list("detail", flat=True))


def test_exhausted_vendor_credit_opens_the_circuit_and_moves_to_the_next_provider(runway, creator, project, shot):
    from studio.services.images import character_image_add
    from studio.services.projects import character_create, shot_update
    from tests.jobs.test_pipeline import png_upload

    mei = character_create(project=project, name="Mei")
    character_image_add(character=mei, upload=png_upload((180, 90, 40)))
    shot_update(shot=shot, characters=[mei], duration_seconds=5)
    runway.inject("submit", "credit")
    take = shot_take_request(user=creator, shot=shot)
    first, second = [ProviderModel.objects.get(slug=step["slug"]) for step in take.route_plan["chosen"][:2]]
    assert {first.slug, second.slug} == {"runway-gen45-turbo", "runway-gen4-turbo"}
    take = drive(take.pk)
    assert take.state == "ready", take.failure_reason
    assert take.provider_model == second
    details = " ".join(take.events.values_list("detail", flat=True))
    assert f"re-routed from {first.name} to {second.name}" in details
    assert health.circuit_state(first.slug).state == "open"
    sent = [r.json() for r in runway.requests_seen if r.path == "/v1/image_to_video"]
    assert sent and sent[-1]["promptImage"].startswith("data:image/jpeg;base64,")
    assert credit_accounts_out_of_balance() == []


def test_a_content_policy_rejection_stops_with_the_vendors_reason_and_releases_credits(runway, creator, project):
    from tests.factories import shot_for

    shot = shot_for(project, subject="[sandbox:policy] a forbidden scene")
    take = drive(shot_take_request(user=creator, shot=shot).pk)
    assert take.state == "failed"
    assert "refused this shot under its content policy" in take.failure_reason
    assert take.attempts.count() == 1  # not retried blindly
    assert CreditAccount.objects.get(user=creator).available == 500


def test_when_every_provider_fails_the_take_fails_and_nothing_is_charged(runway, creator, shot):
    runway.inject("submit", "500", times=10)
    take = drive(shot_take_request(user=creator, shot=shot).pk)
    assert take.state == "failed"
    assert "Every provider for this shot failed" in take.failure_reason
    assert Attempt.objects.filter(take=take, state="failed").count() == 3
    assert CreditAccount.objects.get(user=creator).held == 0
    assert CreditAccount.objects.get(user=creator).balance == 500


def test_a_provider_over_its_rate_limit_makes_the_take_wait_not_fail(runway, creator, shot):
    ProviderModel.objects.filter(slug="runway-gen45-turbo").update(rate_limit_per_minute=1)
    first = shot_take_request(user=creator, shot=shot, idempotency_key=str(uuid.uuid4()))
    second = shot_take_request(user=creator, shot=shot, idempotency_key=str(uuid.uuid4()))
    take_submit(take_id=first.pk)
    take_submit(take_id=second.pk)
    second = Take.objects.get(pk=second.pk)
    assert second.state == "routing" and second.throttled_since is not None
    assert timezone.now() < second.wake_at <= timezone.now() + timedelta(seconds=60 + 20)  # the wait, then recovery's grace
    assert "throttled" in second.events.latest("id").detail
    take_submit(take_id=second.pk)  # still throttled: said once, not at every look
    assert second.events.filter(detail__contains="throttled").count() == 1


def left_downloading(take_id: int) -> Take:
    """Submit, wait for the vendor to finish, and move to downloading: where a killed worker leaves it."""
    take_submit(take_id=take_id)
    time.sleep(0.8)  # past the emulator's latency
    return take_transition(take_id=take_id, to_state="downloading", detail="the worker died here")


def test_a_take_left_downloading_fetches_the_finished_video_again(runway, creator, shot):
    take = left_downloading(shot_take_request(user=creator, shot=shot).pk)
    take_download(take_id=take.pk)
    take = drive(take.pk)
    assert take.state == "ready", take.failure_reason
    assert take.video and len(runway.jobs) == 1
    assert take.attempts.get().state == "succeeded"
    assert Reservation.objects.get(pk=take.reservation_id).captured_amount == take.price_credits


def test_a_duplicate_delivery_does_not_download_a_video_being_downloaded(runway, creator, shot):
    take = left_downloading(shot_take_request(user=creator, shot=shot).pk)
    # another worker is fetching it: it holds the take's lease, renewed a moment ago
    Take.objects.filter(pk=take.pk).update(lease_token="another-worker", wake_at=timezone.now() + timedelta(seconds=15))
    take_download(take_id=take.pk)
    take = Take.objects.get(pk=take.pk)
    assert take.state == "downloading" and not take.video
    assert not [r for r in runway.requests_seen if r.path.startswith("/_emulator/files/")]


def test_a_take_left_downloading_fails_when_the_vendor_no_longer_knows_its_job(runway, creator, shot):
    take = left_downloading(shot_take_request(user=creator, shot=shot).pk)
    runway.jobs.clear()  # the vendor forgot the job (expired)
    take_download(take_id=take.pk)
    take = Take.objects.get(pk=take.pk)
    assert take.state == "failed" and "Gen-4.5 Turbo" in take.failure_reason
    assert Reservation.objects.get(pk=take.reservation_id).state == Reservation.State.RELEASED


@pytest.fixture
def kling(settings, catalog):
    with emulator_create("kling", latency_seconds=0.6) as emulator:
        settings.PROVIDER_SANDBOX_URLS = {"kling": emulator.url}
        ProviderModel.objects.exclude(api_family="kling").update(enabled=False)
        yield emulator


def test_a_square_take_from_a_wide_start_frame_comes_back_square_from_kling(kling, creator, project):
    """Kling's image2video takes no aspect ratio (the start frame sets the framing): the start frame
    is cropped to the shot's shape before it is sent, so a 1:1 take passes the size check."""
    from studio.services.images import character_image_add
    from studio.services.projects import character_create
    from tests.factories import shot_for
    from tests.jobs.test_pipeline import png_upload

    shot = shot_for(project, aspect_ratio="1:1", duration_seconds=5)
    mei = character_create(project=project, name="Mei")
    character_image_add(character=mei, upload=png_upload((180, 90, 40), size=(640, 360)))  # a wide picture
    shot.characters.add(mei)
    take = drive(shot_take_request(user=creator, shot=shot).pk)
    assert take.provider_model.api_family == "kling"
    assert take.state == "ready", take.failure_reason
    assert take.evaluation["technical"]["size"]["passed"] is True
    sent = [r.json() for r in kling.requests_seen if r.path == "/v1/videos/image2video"]
    assert sent and "aspect_ratio" not in sent[0]  # as Kling's image2video documents: no such field
