"""Upscaling an approved final (issue #16, item 3): an upscaler from the catalog, quoted, held and
charged like a take, checked by the same gate, recorded as an upscale of its final.

Drafts render on the local animatic, finals at the Runway emulator, upscales at the fal and Runway
emulators, whose upscalers really enlarge the video they are sent; the stages run as the workers
would run them (tests/pipeline.py).
"""

import base64

import pytest
from django.urls import reverse
from django.utils import timezone

from billing.models import CreditAccount, Reservation
from billing.selectors import credit_accounts_out_of_balance
from jobs.media import video_size
from jobs.models import Take
from jobs.pipeline.quote import take_quote
from jobs.selectors import take_upscale_ready
from providers.emulators.sandbox import emulator_create
from providers.models import ProviderModel
from providers.router import RouteCandidate, RouteNeeds, route_plan
from studio.exceptions import StudioError
from studio.models import Shot
from studio.services.approvals import StaleApproval
from studio.services.projects import shot_update
from studio.services.takes import shot_spec, shot_take_request, take_approve, take_render_final, take_upscale, take_upscale_quote
from tests.jobs.test_remote_pipeline import drive
from tests.pipeline import take_made_ready

pytestmark = pytest.mark.django_db


@pytest.fixture
def vendors(settings, catalog):
    with emulator_create("runway", latency_seconds=0.6) as runway, emulator_create("fal", latency_seconds=0.6) as fal:
        settings.PROVIDER_SANDBOX_URLS = {"runway": runway.url, "fal": fal.url}
        ProviderModel.objects.exclude(api_family__in=["runway", "fal", "local_animatic"]).update(enabled=False)
        yield runway, fal


@pytest.fixture
def approved_final(vendors, creator, shot):
    draft = take_approve(take=take_made_ready(shot_take_request(user=creator, shot=shot).pk))
    final = drive(take_render_final(user=creator, draft=draft).pk)
    assert final.state == "ready" and final.provider_model.api_family == "runway", final.failure_reason
    return take_approve(take=final)


def _sent(emulator, path: str) -> list[dict]:
    return [request.json() for request in emulator.requests_seen if request.path == path]


def test_an_approved_final_is_upscaled_at_fal_quoted_held_checked_and_charged(vendors, approved_final, creator):
    runway, fal = vendors
    ProviderModel.objects.filter(slug="runway-upscale-v1").update(enabled=False)
    quote = take_upscale_quote(final=approved_final)
    assert quote.provider_model.slug == "fal-video-upscaler" and quote.credits > 0
    balance_before = CreditAccount.objects.get(user=creator).balance

    upscale = take_upscale(user=creator, final=approved_final, idempotency_key="upscale-1")
    assert (upscale.tier, upscale.origin, upscale.source_take_id) == ("final", "upscale", approved_final.pk)
    assert upscale.price_credits == quote.credits and upscale.reservation.state == Reservation.State.OPEN
    upscale = drive(upscale.pk, timeout=90)

    assert upscale.state == "ready", upscale.failure_reason
    [sent] = _sent(fal, "/fal-ai/video-upscaler")
    assert set(sent) == {"video_url", "scale"} and sent["scale"] == 2
    with approved_final.video.open("rb") as handle:  # the final's own bytes went to the upscaler
        assert base64.b64decode(sent["video_url"].split(",", 1)[1]) == handle.read()
    width, height = video_size_of(approved_final)
    assert video_size_of(upscale) == (width * 2, height * 2)
    assert upscale.evaluation["passed"] is True  # the same gate as every take: size, length, frames, safety
    assert upscale.evaluation["technical"]["duration"]["passed"] is True
    reservation = Reservation.objects.get(pk=upscale.reservation_id)
    assert (reservation.captured_amount, reservation.provider, reservation.tier) == (
        upscale.price_credits, "Video Upscaler (RealESRGAN, 2\u00d7)", "final")
    assert reservation.provider_cost_usd_micros == 70800 * upscale.duration_seconds
    assert CreditAccount.objects.get(user=creator).balance == balance_before - upscale.price_credits
    assert take_upscale_ready(take_id=approved_final.pk) == upscale  # what a cut uses for this shot
    assert take_upscale(user=creator, final=approved_final, idempotency_key="upscale-1").pk == upscale.pk
    assert credit_accounts_out_of_balance() == []


def test_runway_upscales_four_times_up_to_4k_and_a_refusal_moves_to_the_next_upscaler(vendors, approved_final, creator):
    runway, fal = vendors
    upscale = take_upscale(user=creator, final=approved_final)
    assert [step["slug"] for step in upscale.route_plan["chosen"]] == ["runway-upscale-v1", "fal-video-upscaler"]
    upscale = drive(upscale.pk, timeout=120)
    assert upscale.state == "ready", upscale.failure_reason
    [sent] = _sent(runway, "/v1/video_upscale")
    assert sent["model"] == "upscale_v1" and sent["videoUri"].startswith("data:video/mp4;base64,")
    width, height = video_size_of(approved_final)
    assert video_size_of(upscale) == (width * 4, height * 4) and max(width, height) * 4 <= 4096

    repeat = take_upscale(user=creator, final=approved_final)  # the same upscale again: the stored one, free
    assert (repeat.state, repeat.cached_from_id, repeat.price_credits) == ("ready", upscale.pk, 0)
    assert len(_sent(runway, "/v1/video_upscale")) == 1

    Take.objects.filter(origin="upscale").update(files_expired_at=timezone.now())  # as retention would
    runway.inject("submit", "bad_request")  # e.g. Runway no longer knows upscale_v1
    again = drive(take_upscale(user=creator, final=approved_final).pk, timeout=90)
    assert again.state == "ready" and again.provider_model.slug == "fal-video-upscaler", again.failure_reason
    assert list(again.attempts.values_list("provider_model__slug", "state")) == [
        ("runway-upscale-v1", "failed"), ("fal-video-upscaler", "succeeded")]


def test_only_an_approved_final_of_the_shot_as_it_is_can_be_upscaled(vendors, approved_final, creator, shot):
    draft = Take.objects.get(pk=approved_final.source_take_id)
    with pytest.raises(StudioError, match="Only a ready final"):
        take_upscale_quote(final=draft)
    approved_final.review = Take.Review.PENDING
    with pytest.raises(StudioError, match="Approve this final first"):
        take_upscale(user=creator, final=approved_final)
    approved_final.review = Take.Review.APPROVED
    shot_update(shot=Shot.objects.get(pk=shot.pk), subject="A fishmonger under neon signs")
    with pytest.raises(StaleApproval, match="approval is stale"):
        take_upscale_quote(final=approved_final)
    with pytest.raises(StaleApproval, match="approval is stale"):
        take_upscale(user=creator, final=approved_final)
    assert not Take.objects.filter(origin="upscale").exists()


def test_upscalers_never_generate_and_generators_never_upscale(vendors, shot):
    spec = shot_spec(shot=shot)
    draft_plan = take_quote(spec=spec, tier="draft").plan.as_dict()
    final_plan = take_quote(spec=spec, tier="final").plan.as_dict()
    for plan in (draft_plan, final_plan):
        assert not {"fal-video-upscaler", "runway-upscale-v1"} & {step["slug"] for step in plan["chosen"]}
        assert {"slug": "fal-video-upscaler", "reason": "an upscaler: it only upscales finished videos"} in plan["excluded"]

    def candidate(slug: str, upscaler: bool) -> RouteCandidate:
        return RouteCandidate(slug=slug, name=slug, tier="premium", enabled=True, configured=True, max_duration_seconds=60,
                              allowed_durations=(), aspect_ratios=("16:9",), image_to_video=False, text_to_video=not upscaler,
                              usd_micros_per_second=20000, p50_latency_seconds=60, video_upscale=upscaler)

    needs = RouteNeeds(tiers=("premium",), prefer="quality", duration_seconds=5, aspect_ratio="16:9", upscale=True)
    plan = route_plan(needs, [candidate("upscaler", True), candidate("generator", False)])
    assert [step.slug for step in plan.chosen] == ["upscaler"]
    assert plan.excluded[0].reason == "does not upscale videos"


def test_the_upscale_button_quotes_and_requests_from_the_take_card(vendors, approved_final, creator_client):
    ProviderModel.objects.filter(slug="runway-upscale-v1").update(enabled=False)
    card = creator_client.get(reverse("shot-detail", args=[approved_final.shot_id]))
    assert reverse("take-upscale", args=[approved_final.pk]) in card.content.decode()
    url = reverse("take-upscale", args=[approved_final.pk])
    confirm = creator_client.get(url, HTTP_HX_REQUEST="true")
    assert confirm.status_code == 200 and "Upscale on" in confirm.content.decode()
    done = creator_client.post(url, {"idempotency_key": "button-1"}, HTTP_HX_REQUEST="true")
    assert done.status_code == 200 and "Upscale take #" in done.content.decode()
    upscale = Take.objects.get(origin="upscale")
    assert upscale.source_take_id == approved_final.pk and upscale.provider_model.slug == "fal-video-upscaler"


def test_the_api_quotes_and_requests_an_upscale(vendors, approved_final, creator, client):
    from studio.services.tokens import api_token_create

    ProviderModel.objects.filter(slug="runway-upscale-v1").update(enabled=False)
    _, key = api_token_create(user=creator, name="upscale")
    auth = {"Authorization": f"Bearer {key}"}
    quote = client.get(f"/api/takes/{approved_final.pk}/upscale/quote", headers=auth)
    assert quote.status_code == 200, quote.content
    created = client.post(f"/api/takes/{approved_final.pk}/upscale", content_type="application/json",
                          headers={**auth, "Idempotency-Key": "api-1"})
    assert created.status_code == 201, created.content
    assert Take.objects.get(origin="upscale").price_credits == quote.json()["credits"]


def video_size_of(take: Take) -> tuple[int, int]:
    return video_size(take.video.path)
