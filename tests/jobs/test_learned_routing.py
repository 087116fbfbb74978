"""Routing that learns: ranked by expected credits per accepted take, exploring by Thompson sampling."""

import random
from dataclasses import replace

import pytest

from jobs.models import Take
from jobs.outcomes import (
    ModelOutcome,
    ShotFeatures,
    candidates_rank_learned,
    model_outcomes,
)

DOLLY = ShotFeatures(camera="dolly_in", characters=False)


def test_a_seeded_simulation_converges_to_the_model_that_is_cheaper_per_accepted_take():
    # The catalog flatters "cheap" (quality 80) but it passes 30 % of the time; "steady" passes 90 %.
    # Per accepted take: cheap 10 / 0.3 ≈ 33 credits, steady 14 / 0.9 ≈ 16 credits.
    truth = {"cheap": 0.3, "steady": 0.9}
    candidates = [("cheap", 10, 80), ("steady", 14, 70)]
    rng, world = random.Random(7), random.Random(11)
    outcomes = {slug: ModelOutcome() for slug in truth}
    picks = []
    for _ in range(300):
        chosen = candidates_rank_learned(candidates, outcomes, features=DOLLY, rng=rng)[0].slug
        passed = world.random() < truth[chosen]
        seen = outcomes[chosen]
        outcomes[chosen] = replace(seen, takes=seen.takes + 1, passed=seen.passed + int(passed))
        picks.append(chosen)
    assert picks[:10].count("cheap") >= 5  # at first the catalog's word wins: cheap looks cheaper
    assert picks[-100:].count("steady") >= 90  # then our own results do
    assert outcomes["cheap"].takes >= 3  # bounded exploration: it was tried before being set aside
    ranked = candidates_rank_learned(candidates, outcomes, features=DOLLY, rng=rng)
    steady = next(choice for choice in ranked if choice.slug == "steady")
    assert steady.reason.startswith("passes 8") and "of dolly shots without characters here" in steady.reason
    assert steady.reason.endswith("credits per accepted take")
    cheap = next(choice for choice in ranked if choice.slug == "cheap")
    assert cheap.reason.startswith("passes 2") or cheap.reason.startswith("passes 3")


def test_without_history_the_reason_says_the_catalog_decided():
    [choice] = candidates_rank_learned([("new", 10, 72)], {}, features=DOLLY, rng=random.Random(1))
    assert choice.reason == ("catalog quality 72, no history of dolly shots without characters yet (72% expected to pass),"
                             " 13.9 credits per accepted take")


def test_without_history_the_prior_comes_from_the_catalog_quality():
    assert ModelOutcome().pass_probability(quality_score=90) == pytest.approx(0.9)
    assert ModelOutcome(takes=20, passed=2).pass_probability(quality_score=90) < 0.3


def test_the_catalog_prior_knows_the_bar_a_take_must_clear():
    at_review_bar = ModelOutcome().pass_probability(quality_score=88, threshold=60)
    at_final_bar = ModelOutcome().pass_probability(quality_score=88, threshold=90)
    premium_at_final_bar = ModelOutcome().pass_probability(quality_score=96, threshold=90)
    assert at_review_bar == pytest.approx(0.88, abs=0.01)
    assert at_final_bar < 0.4 < premium_at_final_bar


@pytest.mark.django_db
def test_outcomes_are_aggregated_from_our_takes_per_model_and_shot_features(catalog, creator, shot):
    from studio.services.takes import shot_take_request
    from tests.pipeline import take_made_ready

    take_made_ready(shot_take_request(user=creator, shot=shot).pk)  # the animatic: tests/settings.py's floor is 0
    dolly = model_outcomes(features=ShotFeatures(camera="dolly_in", aspect_ratio="16:9"), threshold=0)
    assert dolly["local-animatic"].takes == 1 and dolly["local-animatic"].passed == 1
    assert dolly["local-animatic"].mean_score is not None
    assert model_outcomes(features=ShotFeatures(camera="orbit")) == {}
    assert model_outcomes(features=DOLLY, threshold=101)["local-animatic"].passed == 0


# Two sandbox draft models; the catalog prefers the cheaper one, which in this world passes far less often.
CHEAPER, STEADIER = "runway-gen45-turbo", "kling-2-5-turbo-fal"  # $0.05/s quality 75, $0.07/s quality 72
TRUE_PASS_RATE = {CHEAPER: 0.3, STEADIER: 0.9}
SANDBOX_EVERYWHERE = {family: "http://127.0.0.1:9" for family in ("runway", "fal")}


@pytest.fixture
def two_draft_models(catalog, settings):
    from providers.models import ProviderModel

    settings.DRAFT_QUALITY_FLOOR, settings.PROVIDER_SANDBOX_URLS = 60, SANDBOX_EVERYWHERE
    ProviderModel.objects.exclude(slug__in=TRUE_PASS_RATE).update(enabled=False)


def _outcome_record(*, shot, quote, spec, passed: bool):
    """What the pipeline leaves behind for the aggregation: a finished take on the model it was routed to."""
    from django.utils import timezone

    from jobs.states import TakeState

    return Take(owner_id=shot.project.owner_id, shot=shot, notify_group="sim", tier=Take.Tier.DRAFT,
                state=TakeState.READY if passed else TakeState.FAILED, provider_model=quote.provider_model,
                route_plan=quote.plan.as_dict(), request=spec.as_request(), compiled_prompt=quote.compiled.text,
                compiler_version=quote.compiled.version, seed=quote.seed, duration_seconds=spec.duration_seconds,
                aspect_ratio=spec.aspect_ratio, price_credits=quote.credits, finished_at=timezone.now(),
                evaluation={"passed": passed, "aggregate": 80 if passed else 15})


@pytest.mark.django_db
def test_the_router_learns_from_our_takes_to_send_drafts_to_the_model_that_passes(two_draft_models, creator, project,
                                                                                   settings):
    from jobs.pipeline.quote import take_quote
    from studio.services.takes import shot_spec
    from tests.factories import shot_for

    settings.LEARNED_ROUTING = True
    spec = shot_spec(shot=(shot := shot_for(project, duration_seconds=5)))
    world, picks = random.Random(3), []
    for seed in range(50):  # fresh takes: every seed is a new Thompson draw
        quote = take_quote(spec=spec, tier=Take.Tier.DRAFT, owner_id=creator.pk, seed=seed, fresh=True)
        slug = quote.provider_model.slug
        _outcome_record(shot=shot, quote=quote, spec=spec, passed=world.random() < TRUE_PASS_RATE[slug]).save()
        picks.append(slug)
    assert picks[-25:].count(STEADIER) >= 21  # > 80 % once our results speak
    assert picks.count(CHEAPER) >= 5  # the other was tried, not set aside on the catalog's word
    reason = quote.plan.first.reason
    assert reason.startswith("passes ") and "of dolly shots without characters here (" in reason, reason
    assert "credits per accepted take: $0.070/s, ~0 s measured" in reason, reason
    forecast = take_quote(spec=spec, tier=Take.Tier.DRAFT, owner_id=creator.pk, fresh=True, explore=False)
    assert forecast.provider_model.slug == STEADIER  # a forecast takes the best guess, never a draw


@pytest.mark.django_db
def test_switched_off_routing_follows_the_catalog_whatever_our_takes_say(two_draft_models, creator, project, settings):
    from studio.services.takes import shot_spec, shot_take_quote, shot_take_request
    from tests.factories import shot_for

    shot = shot_for(project, duration_seconds=5)
    spec = shot_spec(shot=shot)
    settings.LEARNED_ROUTING = True
    learned = shot_take_quote(shot=shot)
    assert learned.plan.first.reason.startswith("catalog quality"), learned.plan.first.reason
    Take.objects.bulk_create(_outcome_record(shot=shot, quote=learned, spec=spec, passed=False) for _ in range(20))
    settings.LEARNED_ROUTING = False
    take = shot_take_request(user=creator, shot=shot)
    assert take.provider_model.slug == CHEAPER
    assert take.route_plan["chosen"][0]["reason"].startswith("cheapest match at or above the draft quality floor")


@pytest.mark.django_db
def test_the_take_keeps_the_figures_that_routed_it(two_draft_models, creator, project, settings):
    from studio.services.takes import shot_take_request
    from tests.factories import shot_for

    settings.LEARNED_ROUTING = True
    take = shot_take_request(user=creator, shot=shot_for(project, duration_seconds=5))
    reason = take.route_plan["chosen"][0]["reason"]
    assert reason.startswith("catalog quality ") and "no history of dolly shots without characters yet" in reason
    assert " credits per accepted take: $0.0" in reason and "s typical" in reason
