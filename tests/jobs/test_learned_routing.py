"""Routing that learns: ranked by expected credits per accepted take, exploring by Thompson sampling."""

import random
from dataclasses import replace

import pytest

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


def test_without_history_the_prior_comes_from_the_catalog_quality():
    assert ModelOutcome().pass_probability(quality_score=90) == pytest.approx(0.9)
    assert ModelOutcome(takes=20, passed=2).pass_probability(quality_score=90) < 0.3


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
