"""The router never plans a provider that breaks a hard requirement or the budget, and says why."""

from hypothesis import given, settings
from hypothesis import strategies as st

from providers.router import (
    CIRCUIT_CLOSED,
    CIRCUIT_HALF_OPEN,
    CIRCUIT_OPEN,
    LearnedRank,
    ProviderHealth,
    RouteCandidate,
    RouteNeeds,
    route_plan,
)

ASPECTS = ["16:9", "9:16", "1:1", "4:3"]
RESOLUTIONS = ["480p", "720p", "1080p"]


def candidate(slug="a", **overrides) -> RouteCandidate:
    fields = dict(
        slug=slug, name=slug.title(), tier="draft", enabled=True, configured=True, max_duration_seconds=10,
        allowed_durations=(), aspect_ratios=("16:9", "9:16"), image_to_video=True, usd_micros_per_second=50_000,
        p50_latency_seconds=30, p90_latency_seconds=60, resolutions=("720p",), quality_score=50,
    )
    return RouteCandidate(**(fields | overrides))


def needs(**overrides) -> RouteNeeds:
    return RouteNeeds(**(dict(tiers=("draft",), prefer="cost", duration_seconds=5, aspect_ratio="16:9") | overrides))


candidates_strategy = st.lists(
    st.builds(
        RouteCandidate,
        slug=st.uuids().map(str), name=st.just("model"), tier=st.sampled_from(["draft", "standard", "premium"]),
        enabled=st.booleans(), configured=st.booleans(), max_duration_seconds=st.integers(1, 20),
        allowed_durations=st.lists(st.integers(1, 20), max_size=4).map(tuple),
        aspect_ratios=st.lists(st.sampled_from(ASPECTS), min_size=1, max_size=4, unique=True).map(tuple),
        image_to_video=st.booleans(), text_to_video=st.booleans(),
        usd_micros_per_second=st.one_of(st.none(), st.integers(0, 600_000)),
        p50_latency_seconds=st.integers(1, 300), p90_latency_seconds=st.integers(1, 600),
        resolutions=st.lists(st.sampled_from(RESOLUTIONS), max_size=3, unique=True).map(tuple),
        native_audio=st.booleans(), reference_images=st.booleans(), quality_score=st.integers(0, 100),
        region=st.sampled_from(["", "us", "eu", "cn"]),
        health=st.builds(ProviderHealth, circuit=st.sampled_from([CIRCUIT_CLOSED, CIRCUIT_OPEN, CIRCUIT_HALF_OPEN]),
                         retry_in_seconds=st.floats(0, 600), rate_limited=st.booleans()),
    ),
    max_size=12, unique_by=lambda c: c.slug,
)
needs_strategy = st.builds(
    RouteNeeds, tiers=st.sampled_from([("draft",), ("premium", "standard")]), prefer=st.sampled_from(["cost", "quality"]),
    duration_seconds=st.integers(1, 20), aspect_ratio=st.sampled_from(ASPECTS),
    resolution=st.sampled_from(["", *RESOLUTIONS]), needs_audio=st.booleans(), needs_image_to_video=st.booleans(),
    has_start_image=st.booleans(), needs_reference_images=st.booleans(),
    budget_usd_micros=st.one_of(st.none(), st.integers(0, 3_000_000)),
    latency_target_seconds=st.one_of(st.none(), st.integers(10, 600)),
    allowed_regions=st.sampled_from([(), ("us",), ("us", "eu")]),
)


def violates_hard_requirement(n: RouteNeeds, c: RouteCandidate) -> bool:
    return (
        not c.enabled or not c.configured or c.usd_micros_per_second is None or c.tier not in n.tiers
        or n.duration_seconds > c.max_duration_seconds
        or bool(c.allowed_durations) and n.duration_seconds not in c.allowed_durations
        or n.aspect_ratio not in c.aspect_ratios
        or bool(n.resolution) and bool(c.resolutions) and n.resolution not in c.resolutions
        or n.needs_audio and not c.native_audio
        or n.needs_image_to_video and not c.image_to_video
        or not c.text_to_video and not (n.has_start_image or n.needs_image_to_video)
        or n.needs_reference_images and not c.reference_images
        or bool(n.allowed_regions) and c.region not in n.allowed_regions
        or n.budget_usd_micros is not None and c.usd_micros_per_second * n.duration_seconds > n.budget_usd_micros
        or n.latency_target_seconds is not None and c.p90_latency_seconds > n.latency_target_seconds
    )


@settings(max_examples=400, deadline=None)
@given(n=needs_strategy, candidates=candidates_strategy)
def test_plans_never_break_hard_requirements_and_explain_every_exclusion(n, candidates):
    plan = route_plan(n, candidates)
    by_slug = {c.slug: c for c in candidates}
    for step in plan.chosen:
        assert not violates_hard_requirement(n, by_slug[step.slug])
        assert step.reason
    for step in plan.excluded:
        assert step.reason
    assert sorted(s.slug for s in plan.chosen + plan.excluded) == sorted(by_slug)


@settings(max_examples=200, deadline=None)
@given(n=needs_strategy, candidates=candidates_strategy)
def test_unhealthy_providers_are_only_chosen_as_the_single_last_resort(n, candidates):
    plan = route_plan(n, candidates)
    by_slug = {c.slug: c for c in candidates}
    unhealthy = [s for s in plan.chosen if by_slug[s.slug].health.circuit == CIRCUIT_OPEN or by_slug[s.slug].health.rate_limited]
    if unhealthy:
        assert len(plan.chosen) == 1 and plan.chosen[0].reason.startswith("last resort")


def test_drafts_go_to_the_cheapest_and_ties_to_the_faster():
    plan = route_plan(needs(), [candidate("dear", usd_micros_per_second=90_000), candidate("cheap", usd_micros_per_second=10_000),
                                candidate("cheap-slow", usd_micros_per_second=10_000, p50_latency_seconds=90)])
    assert [s.slug for s in plan.chosen] == ["cheap", "cheap-slow", "dear"]
    assert plan.chosen[0].reason.startswith("cheapest match")
    assert plan.chosen[1].reason.startswith("fallback #1")


def test_finals_go_to_quality_and_ties_to_the_cheaper():
    plan = route_plan(
        needs(tiers=("premium", "standard"), prefer="quality"),
        [candidate("good", tier="standard", quality_score=80), candidate("best-dear", tier="premium", quality_score=95, usd_micros_per_second=400_000),
         candidate("best-cheap", tier="premium", quality_score=95, usd_micros_per_second=150_000)],
    )
    assert [s.slug for s in plan.chosen] == ["best-cheap", "best-dear", "good"]


def test_every_exclusion_reason_is_readable():
    n = needs(duration_seconds=8, resolution="720p", needs_audio=True, budget_usd_micros=1_000_000, latency_target_seconds=100,
              allowed_regions=("us",))
    plan = route_plan(n, [
        candidate("off", enabled=False), candidate("nokey", configured=False), candidate("short", max_duration_seconds=5),
        candidate("steps", allowed_durations=(5, 10)), candidate("square", aspect_ratios=("1:1",)),
        candidate("silent", native_audio=False), candidate("pricey", native_audio=True, usd_micros_per_second=400_000, region="us"),
        candidate("slow", native_audio=True, p90_latency_seconds=300, region="us"),
        candidate("broken", native_audio=True, region="us", health=ProviderHealth(CIRCUIT_OPEN, 20)),
        candidate("busy", native_audio=True, region="us", health=ProviderHealth(rate_limited=True)),
        candidate("abroad", native_audio=True, region="cn"), candidate("hd", native_audio=True, region="us", resolutions=("1080p",)),
        candidate("ok", native_audio=True, region="us"),
    ])
    reasons = {s.slug: s.reason for s in plan.excluded}
    assert [s.slug for s in plan.chosen] == ["ok"]
    assert reasons == {
        "off": "disabled by ops", "nokey": "not configured",
        "short": "duration: 8 s is longer than its 5 s maximum", "steps": "duration: 8 s is not one of 5, 10 s",
        "square": "aspect: no 16:9", "silent": "audio: no native audio", "pricey": "over budget: $3.20 > $1.00",
        "slow": "too slow for the latency target: p90 300 s > 100 s", "broken": "circuit open: retry in 20 s",
        "busy": "rate-limited: no request budget left right now", "abroad": "region not allowed: cn",
        "hd": "resolution: no 720p",
    }


def test_when_every_capable_circuit_is_open_the_first_to_half_open_is_the_last_resort():
    plan = route_plan(needs(), [candidate("a", health=ProviderHealth(CIRCUIT_OPEN, 25)),
                                candidate("b", health=ProviderHealth(CIRCUIT_OPEN, 5)), candidate("c", enabled=False)])
    assert [s.slug for s in plan.chosen] == ["b"]
    assert "last resort" in plan.chosen[0].reason
    assert {s.slug for s in plan.excluded} == {"a", "c"}


def test_image_to_video_only_models_need_a_reference_image():
    only_i2v = candidate("i2v", text_to_video=False)
    assert route_plan(needs(), [only_i2v]).first is None
    assert route_plan(needs(has_start_image=True), [only_i2v]).first.slug == "i2v"


def test_given_our_figures_the_router_ranks_by_credits_per_accepted_take_and_says_which_figures_decided():
    cheap, steady, unknown = candidate("cheap"), candidate("steady", usd_micros_per_second=70_000), candidate("new")
    gone = candidate("gone", aspect_ratios=("1:1",))
    learned = {"cheap": LearnedRank(credits_per_accepted=30.0, reason="passes 30% of dolly shots here (9 takes), 33.3 "
                                                                      "credits per accepted take"),
               "steady": LearnedRank(credits_per_accepted=15.0, reason="passes 90% of dolly shots here (9 takes), 15.6 "
                                                                       "credits per accepted take", measured_seconds=42),
               "gone": LearnedRank(credits_per_accepted=1.0, reason="cheapest of all, but cannot do 16:9")}
    plan = route_plan(needs(), [cheap, steady, unknown, gone], learned)
    assert [step.slug for step in plan.chosen] == ["steady", "cheap", "new"]  # no figures: after, in catalog order
    assert plan.first.reason == ("passes 90% of dolly shots here (9 takes), 15.6 credits per accepted take: "
                                 "$0.070/s, ~42 s measured")
    assert plan.chosen[1].reason == "fallback #1: $0.050/s, ~30 s typical"
    assert [step.slug for step in plan.excluded] == ["gone"]
    assert [step.slug for step in route_plan(needs(), [cheap, steady, unknown]).chosen] == ["cheap", "new", "steady"]
