"""What a take would cost and where it would render: the quote behind every request, with no side effects.

The router picks the provider plan; the creator's plan sets the markup; the hold covers the dearest
of the first fallbacks, so moving to one never needs more money. An unchanged request gets the same
seed, so the creator's stored output of exactly that request can be reused for free.
"""

import hashlib
import json
import random
import secrets
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.utils import timezone

from billing.plans import plan_markup
from billing.pricing import provider_cost_usd_micros, take_price_credits
from jobs.compiler import CompiledPrompt, ShotSpec, prompt_compile
from jobs.exceptions import NoProviderAvailable
from jobs.models import Take
from jobs.outcomes import candidates_rank_learned, model_outcomes, shot_features_of
from jobs.provenance import reference_hash
from jobs.states import TakeState
from providers.health import providers_health
from providers.models import ProviderModel, ProviderPrice
from providers.registry import api_family_configured
from providers.router import LearnedRank, ProviderHealth, RouteCandidate, RouteNeeds, RoutePlan, route_plan
from providers.selectors import provider_price_current

# Drafts may fall to the animatic only when the quality floor lets it (DRAFT_QUALITY_FLOOR=0, e.g. an
# installation with no AI model configured); otherwise a draft is an AI take that predicts its final.
TIER_ROUTING = {
    Take.Tier.ANIMATIC: {"tiers": (ProviderModel.Tier.ANIMATIC,), "prefer": "cost"},
    Take.Tier.DRAFT: {"tiers": (ProviderModel.Tier.DRAFT, ProviderModel.Tier.ANIMATIC), "prefer": "cost"},
    Take.Tier.FINAL: {"tiers": (ProviderModel.Tier.PREMIUM, ProviderModel.Tier.STANDARD), "prefer": "quality"},
}


def quality_floor_for(tier: str) -> int:
    return settings.DRAFT_QUALITY_FLOOR if tier == Take.Tier.DRAFT else 0


@dataclass(frozen=True)
class TakeQuote:
    plan: RoutePlan
    provider_model: ProviderModel
    price: ProviderPrice
    credits: int  # the price on the first choice: what the creator is charged if it succeeds there
    hold_credits: int  # held while the take runs: enough for the dearest of the first fallbacks
    provider_cost_usd_micros: int
    compiled: CompiledPrompt
    seed: int
    cache_key: str  # equal keys give equal videos: see take_cache_key
    cached: Take | None  # the creator's earlier take of exactly this request, reused for free

    @property
    def charge_credits(self) -> int:
        """What the creator pays for this take: nothing when it reuses a stored output."""
        return 0 if self.cached else self.credits


FALLBACKS_COVERED = 3
SEED_RANGE = 2**31


def take_credits_for_cost(
    *, usd_micros_per_second: int, duration_seconds: int, owner_id: int | None = None, tier: str = Take.Tier.DRAFT,
) -> int:
    """The creator's price: their plan's markup for this tier (Free when no owner is given)."""
    return _credits_at(plan_markup(user_id=owner_id, tier=tier), usd_micros_per_second=usd_micros_per_second,
                       duration_seconds=duration_seconds)


def _credits_at(markup, *, usd_micros_per_second: int, duration_seconds: int) -> int:
    return take_price_credits(
        usd_micros_per_second=usd_micros_per_second, duration_seconds=duration_seconds, markup=markup,
        credit_value_usd=settings.CREDIT_VALUE_USD_DECIMAL, minimum_credits=settings.MINIMUM_CHARGE_CREDITS,
    )


def _route_candidate(model: ProviderModel, price: ProviderPrice | None, configured: bool,
                     health: ProviderHealth | None) -> RouteCandidate:
    return RouteCandidate(
        slug=model.slug, name=model.name, tier=model.tier, enabled=model.enabled, configured=configured,
        max_duration_seconds=model.max_duration_seconds, allowed_durations=tuple(model.allowed_durations),
        aspect_ratios=tuple(model.aspect_ratios), image_to_video=model.image_to_video,
        text_to_video=model.text_to_video, resolutions=tuple(model.resolutions), native_audio=model.native_audio,
        reference_images=model.reference_images, quality_score=model.quality_score, region=model.region,
        video_upscale=model.video_upscale,
        usd_micros_per_second=price.usd_micros_per_second if price else None,
        p50_latency_seconds=model.p50_latency_seconds, p90_latency_seconds=model.p90_latency_seconds,
        health=health or ProviderHealth(),
    )


def _route_candidates(*, today, with_audio: bool) -> tuple[list[RouteCandidate], dict[str, tuple[ProviderModel, ProviderPrice | None]]]:
    """Every catalog model as the router sees it; the health of the usable ones is read in one Redis round trip."""
    models = list(ProviderModel.objects.prefetch_related("prices"))
    configured = {model.slug: api_family_configured(model.api_family) for model in models}
    usable = {model.slug: model.rate_limit_per_minute for model in models if configured[model.slug] and model.enabled}
    health = providers_health(usable)
    candidates, rows = [], {}
    for model in models:
        price = provider_price_current(provider_model=model, on=today, with_audio=with_audio)
        rows[model.slug] = (model, price)
        candidates.append(_route_candidate(model, price, configured[model.slug], health.get(model.slug)))
    return candidates, rows


def route_needs_for(*, spec: ShotSpec, tier: str, avoided_slugs: tuple[str, ...] = (), upscale: bool = False) -> RouteNeeds:
    return RouteNeeds(
        **TIER_ROUTING[tier], duration_seconds=spec.duration_seconds, aspect_ratio=spec.aspect_ratio,
        has_start_image=bool(spec.input_image_names), avoided_slugs=avoided_slugs, upscale=upscale,
        quality_floor=quality_floor_for(tier),
    )


def learned_ranks(
    *, candidates: list[RouteCandidate], needs: RouteNeeds, spec: ShotSpec, tier: str, owner_id: int | None,
    seed: int, pass_threshold: int = 0, explore: bool = True,
) -> dict[str, LearnedRank]:
    """Our own results for the candidates that could take this shot, for the router to rank by (one query).

    The Thompson draw is seeded by the take's seed: a fresh take explores, while an unchanged request
    asked again is routed as it was quoted, so its stored output can still be reused. Without
    `explore` (a forecast) the posterior means rank: the best guess, not a draw.
    Empty (the catalog's order) when LEARNED_ROUTING is off, and for animatics and upscales, which
    are not judged by passing.
    """
    if not settings.LEARNED_ROUTING or tier == Take.Tier.ANIMATIC or needs.upscale:
        return {}
    markup = plan_markup(user_id=owner_id, tier=tier)
    priced = [(c.slug, _credits_at(markup, usd_micros_per_second=c.usd_micros_per_second,
                                   duration_seconds=spec.duration_seconds), c.quality_score)
              for c in candidates if c.usd_micros_per_second is not None and c.tier in needs.tiers and not c.video_upscale]
    if not priced:
        return {}
    if tier == Take.Tier.FINAL:
        pass_threshold = max(pass_threshold, settings.FINAL_ACCEPTED_SCORE)
    features = shot_features_of(spec.as_request())
    outcomes = model_outcomes(features=features, threshold=pass_threshold)
    ranked = candidates_rank_learned(priced, outcomes, features=features, rng=random.Random(seed),
                                     threshold=pass_threshold)
    return {choice.slug: LearnedRank(credits_per_accepted=choice.sampled if explore else choice.credits_per_accepted,
                                     reason=choice.reason,
                                     measured_seconds=_rounded(outcomes.get(choice.slug)))
            for choice in ranked}


def _rounded(outcome) -> int | None:
    return round(outcome.mean_latency_seconds) if outcome and outcome.mean_latency_seconds is not None else None


def spec_seed(spec: ShotSpec) -> int:
    """The seed an unchanged shot always gets, so asking again can reuse the stored output.

    Image file names are left out: the cache key holds the images' content hashes instead.
    """
    words = {key: value for key, value in spec.as_request().items() if key not in ("reference_image_names", "start_frame_name")}
    payload = json.dumps(words, sort_keys=True).encode()
    return int.from_bytes(hashlib.sha256(payload).digest()[:8], "big") % SEED_RANGE


def fresh_seed() -> int:
    return secrets.randbelow(SEED_RANGE)


def take_cache_key(*, model_slug: str, compiled: CompiledPrompt, spec: ShotSpec, seed: int, source_video_name: str = "") -> str:
    """Model, compiled prompt, parameters, seed and the hashes of every input image (and of the
    video an upscaler is given)."""
    payload = {
        "model": model_slug, "prompt": compiled.text, "negative": compiled.negative, "compiler": compiled.version,
        "duration_seconds": spec.duration_seconds, "aspect_ratio": spec.aspect_ratio, "camera": spec.camera,
        "seed": seed, "inputs": [reference_hash(name)["sha256"] for name in spec.input_image_names],
    }
    if source_video_name:
        payload["source_video"] = reference_hash(source_video_name)["sha256"]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def cached_take_for(*, owner_id: int, cache_key: str) -> Take | None:
    """The creator's newest ready take of exactly this request whose files are still kept."""
    return (Take.objects.filter(owner_id=owner_id, cache_key=cache_key, state=TakeState.READY,
                                      files_expired_at__isnull=True)
            .exclude(video="").select_related("provider_model").order_by("-created_at").first())


def take_quote(
    *, spec: ShotSpec, tier: str, owner_id: int | None = None, seed: int | None = None, fresh: bool = False,
    avoided_slugs: tuple[str, ...] = (), upscale_of: Take | None = None, pass_threshold: int = 0, explore: bool = True,
) -> TakeQuote:
    """Which provider would render this spec, and what it costs the creator, without side effects.

    Unless `fresh`, an unchanged request gets the same seed, and the creator's stored output of
    exactly that request is offered for reuse instead of paying again. `upscale_of` quotes an
    upscaler for that take's video instead of a model that generates one. Drafts and finals are
    ranked by our own results (learned_ranks); a take passes when it scores `pass_threshold` or more.
    """
    needs = route_needs_for(spec=spec, tier=tier, avoided_slugs=avoided_slugs, upscale=upscale_of is not None)
    candidates, rows = _route_candidates(today=timezone.localdate(), with_audio=needs.needs_audio)
    seed = fresh_seed() if fresh and seed is None else spec_seed(spec) if seed is None else seed
    learned = learned_ranks(candidates=candidates, needs=needs, spec=spec, tier=tier, owner_id=owner_id, seed=seed,
                            pass_threshold=pass_threshold, explore=explore)
    plan = route_plan(needs, candidates, learned)
    if plan.first is None:
        raise NoProviderAvailable([(step.slug, step.reason) for step in plan.excluded])
    provider_model, price = rows[plan.first.slug]
    per_second = price.usd_micros_per_second
    price_for = partial(take_credits_for_cost, duration_seconds=spec.duration_seconds, owner_id=owner_id, tier=tier)
    credits = price_for(usd_micros_per_second=per_second)
    covered = [rows[step.slug][1].usd_micros_per_second for step in plan.chosen[:FALLBACKS_COVERED]]
    hold = price_for(usd_micros_per_second=max(covered))  # the price only grows with the provider's cost
    compiled = prompt_compile(spec)
    cache_key = take_cache_key(model_slug=provider_model.slug, compiled=compiled, spec=spec, seed=seed,
                               source_video_name=upscale_of.video.name if upscale_of else "")
    cached = cached_take_for(owner_id=owner_id, cache_key=cache_key) if owner_id and not fresh else None
    return TakeQuote(
        plan=plan, provider_model=provider_model, price=price, credits=credits, hold_credits=hold,
        provider_cost_usd_micros=provider_cost_usd_micros(usd_micros_per_second=per_second, duration_seconds=spec.duration_seconds),
        compiled=compiled, seed=seed, cache_key=cache_key, cached=cached,
    )
