"""Tiers that mean what they say: an animatic is its own tier, a draft is an AI take above a quality floor."""

import pytest

from jobs.exceptions import NoProviderAvailable
from jobs.models import Take
from providers.models import ProviderModel
from providers.router import RouteCandidate, RouteNeeds, route_plan
from studio.services.storyboard import storyboard_draft_quote
from studio.services.takes import shot_take_quote, shot_take_request
from tests.factories import shot_for

pytestmark = pytest.mark.django_db

SANDBOX_EVERYWHERE = {family: "http://127.0.0.1:9" for family in
                      ("runway", "fal", "google_veo", "google_vertex", "luma", "minimax", "replicate", "kling")}


def candidate(slug, *, tier="draft", quality=50, price=50_000) -> RouteCandidate:
    return RouteCandidate(slug=slug, name=slug, tier=tier, enabled=True, configured=True, max_duration_seconds=10,
                          allowed_durations=(), aspect_ratios=("16:9",), image_to_video=False,
                          usd_micros_per_second=price, p50_latency_seconds=10, quality_score=quality)


def test_the_router_leaves_out_models_below_the_floor_and_says_so():
    needs = RouteNeeds(tiers=("draft", "animatic"), prefer="cost", duration_seconds=5, aspect_ratio="16:9",
                       quality_floor=60)
    plan = route_plan(needs, [candidate("block-out", tier="animatic", quality=10, price=1),
                              candidate("cheap-ai", quality=68, price=17_000), candidate("dear-ai", quality=75)])
    assert [step.slug for step in plan.chosen] == ["cheap-ai", "dear-ai"]
    assert {step.slug: step.reason for step in plan.excluded} == {
        "block-out": "quality 10 is below the draft quality floor of 60"}
    assert plan.first.reason.startswith("cheapest match at or above the draft quality floor of 60 (quality 68)")


def test_the_catalog_puts_the_animatic_in_a_tier_of_its_own(catalog):
    assert ProviderModel.objects.get(slug="local-animatic").tier == ProviderModel.Tier.ANIMATIC


def test_drafts_go_to_the_cheapest_sandbox_vendor_above_the_floor(catalog, project, settings):
    settings.DRAFT_QUALITY_FLOOR, settings.PROVIDER_SANDBOX_URLS = 60, SANDBOX_EVERYWHERE
    shot = shot_for(project, duration_seconds=6)
    quote = shot_take_quote(shot=shot)
    chosen = quote.provider_model
    assert (chosen.tier, chosen.api_family != "local_animatic", chosen.quality_score >= 60) == ("draft", True, True)
    assert quote.price.usd_micros_per_second == 50_000  # Runway Gen-4.5 Turbo: Hailuo ($0.017/s) needs an image
    assert "draft quality floor of 60" in quote.plan.first.reason
    excluded = {step["slug"]: step["reason"] for step in quote.plan.as_dict()["excluded"]}
    assert excluded["local-animatic"] == "quality 10 is below the draft quality floor of 60"


def test_without_an_ai_model_above_the_floor_a_draft_is_refused_with_the_reason(catalog, project, settings):
    settings.DRAFT_QUALITY_FLOOR, settings.PROVIDER_SANDBOX_URLS = 60, {}
    with pytest.raises(NoProviderAvailable) as refusal:
        shot_take_quote(shot=shot_for(project))
    assert ("local-animatic", "quality 10 is below the draft quality floor of 60") in refusal.value.exclusions


def test_an_animatic_is_its_own_action_whatever_the_floor(catalog, project, creator, settings):
    settings.DRAFT_QUALITY_FLOOR, settings.PROVIDER_SANDBOX_URLS = 60, SANDBOX_EVERYWHERE
    shot = shot_for(project)
    take = shot_take_request(user=creator, shot=shot, tier=Take.Tier.ANIMATIC)
    assert (take.tier, take.provider_model.slug) == ("animatic", "local-animatic")


def test_the_shot_page_offers_the_animatic_and_requests_one(catalog, project, creator_client, settings):
    settings.DRAFT_QUALITY_FLOOR, settings.PROVIDER_SANDBOX_URLS = 60, SANDBOX_EVERYWHERE
    shot = shot_for(project)
    page = creator_client.get(f"/shots/{shot.pk}/").content.decode()
    assert "Animatic block-out" in page
    creator_client.post(f"/shots/{shot.pk}/takes/", {"tier": "animatic", "idempotency_key": "a-1"})
    assert list(shot.takes.values_list("tier", "provider_model__slug")) == [("animatic", "local-animatic")]


def test_the_storyboard_blocks_out_every_shot_as_an_animatic(catalog, project, creator_client, settings):
    settings.DRAFT_QUALITY_FLOOR, settings.PROVIDER_SANDBOX_URLS = 60, SANDBOX_EVERYWHERE
    shots = [shot_for(project, title=f"Shot {n}") for n in range(2)]
    panel = creator_client.get(f"/projects/{project.pk}/drafts/", HTTP_HX_REQUEST="true").content.decode()
    shown = storyboard_draft_quote(project=project, scope="all", tier="animatic")
    assert f"Block out every shot as an animatic · {shown.credits} credits" in panel
    answer = creator_client.post(f"/projects/{project.pk}/drafts/request/", HTTP_HX_REQUEST="true", data={
        "batch_key": "6f1c1a4e-0000-4000-8000-000000000001", "shown_credits": shown.credits, "scope": "all", "tier": "animatic",
        "shots": [shot.pk for shot in shots]})
    assert answer.status_code == 200, answer.content.decode()
    assert sorted(Take.objects.filter(shot__project=project).values_list("tier", flat=True)) == ["animatic", "animatic"]
