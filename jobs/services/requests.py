"""Asking for a take: quote it, reserve its credits and queue it, all or nothing."""

import hashlib
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.plans import plan_markup
from billing.pricing import provider_cost_usd_micros, take_price_credits
from billing.services import credits_reserve
from jobs.compiler import CompiledPrompt, ShotSpec, prompt_compile
from jobs.events import take_changed_publish_on_commit
from jobs.exceptions import IdempotencyKeyInProgress, IdempotencyKeyReused, NoProviderAvailable
from jobs.models import Generation, GenerationEvent
from providers.health import provider_health
from providers.models import ProviderModel, ProviderPrice
from providers.registry import api_family_configured
from providers.router import ProviderHealth, RouteCandidate, RouteNeeds, RoutePlan, route_plan
from providers.selectors import provider_price_current

# What each take tier asks of the catalog: drafts go cheap and fast, finals go for quality.
TIER_ROUTING = {
    Generation.Tier.DRAFT: {"tiers": (ProviderModel.Tier.DRAFT,), "prefer": "cost"},
    Generation.Tier.FINAL: {"tiers": (ProviderModel.Tier.PREMIUM, ProviderModel.Tier.STANDARD), "prefer": "quality"},
}


@dataclass(frozen=True)
class TakeQuote:
    plan: RoutePlan
    provider_model: ProviderModel
    price: ProviderPrice
    credits: int  # the price on the first choice: what the creator is charged if it succeeds there
    hold_credits: int  # held while the take runs: enough for the dearest of the first fallbacks
    provider_cost_usd_micros: int
    compiled: CompiledPrompt


FALLBACKS_COVERED = 3


def take_credits_for_cost(
    *, usd_micros_per_second: int, duration_seconds: int, owner_id: int | None = None, tier: str = Generation.Tier.DRAFT,
) -> int:
    """The creator's price: their plan's markup for this tier (Free when no owner is given)."""
    return take_price_credits(
        usd_micros_per_second=usd_micros_per_second, duration_seconds=duration_seconds,
        markup=plan_markup(user_id=owner_id, tier=tier), credit_value_usd=settings.CREDIT_VALUE_USD_DECIMAL,
        minimum_credits=settings.MINIMUM_CHARGE_CREDITS,
    )


def _route_candidate(model: ProviderModel, price: ProviderPrice | None, configured: bool) -> RouteCandidate:
    usable = configured and model.enabled
    return RouteCandidate(
        slug=model.slug, name=model.name, tier=model.tier, enabled=model.enabled, configured=configured,
        max_duration_seconds=model.max_duration_seconds, allowed_durations=tuple(model.allowed_durations),
        aspect_ratios=tuple(model.aspect_ratios), image_to_video=model.image_to_video,
        text_to_video=model.text_to_video, resolutions=tuple(model.resolutions), native_audio=model.native_audio,
        reference_images=model.reference_images, quality_score=model.quality_score, region=model.region,
        usd_micros_per_second=price.usd_micros_per_second if price else None,
        p50_latency_seconds=model.p50_latency_seconds, p90_latency_seconds=model.p90_latency_seconds,
        health=provider_health(model.slug, per_minute=model.rate_limit_per_minute) if usable else ProviderHealth(),
    )


def _route_candidates(*, today, with_audio: bool) -> tuple[list[RouteCandidate], dict[str, tuple[ProviderModel, ProviderPrice | None]]]:
    candidates, rows = [], {}
    for model in ProviderModel.objects.prefetch_related("prices"):
        price = provider_price_current(provider_model=model, on=today, with_audio=with_audio)
        rows[model.slug] = (model, price)
        candidates.append(_route_candidate(model, price, api_family_configured(model.api_family)))
    return candidates, rows


def route_needs_for(*, spec: ShotSpec, tier: str) -> RouteNeeds:
    return RouteNeeds(
        **TIER_ROUTING[tier], duration_seconds=spec.duration_seconds, aspect_ratio=spec.aspect_ratio,
        has_start_image=bool(spec.reference_image_names),
    )


def take_quote(*, spec: ShotSpec, tier: str, owner_id: int | None = None) -> TakeQuote:
    """Which provider would render this spec, and what it costs the creator, without side effects."""
    needs = route_needs_for(spec=spec, tier=tier)
    candidates, rows = _route_candidates(today=timezone.localdate(), with_audio=needs.needs_audio)
    plan = route_plan(needs, candidates)
    if plan.first is None:
        raise NoProviderAvailable([(step.slug, step.reason) for step in plan.excluded])
    provider_model, price = rows[plan.first.slug]
    per_second = price.usd_micros_per_second
    price_for = partial(take_credits_for_cost, duration_seconds=spec.duration_seconds, owner_id=owner_id, tier=tier)
    credits = price_for(usd_micros_per_second=per_second)
    covered = [rows[step.slug][1].usd_micros_per_second for step in plan.chosen[:FALLBACKS_COVERED]]
    hold = price_for(usd_micros_per_second=max(covered))  # the price only grows with the provider's cost
    return TakeQuote(
        plan=plan, provider_model=provider_model, price=price, credits=credits, hold_credits=hold,
        provider_cost_usd_micros=provider_cost_usd_micros(usd_micros_per_second=per_second, duration_seconds=spec.duration_seconds),
        compiled=prompt_compile(spec),
    )


def request_fingerprint(*, shot_id: int, spec: ShotSpec, tier: str) -> str:
    payload = json.dumps({"shot": shot_id, "tier": tier, "spec": spec.as_request()}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def _existing_for_key(*, owner_id: int, idempotency_key: str, fingerprint: str) -> Generation | None:
    existing = Generation.objects.filter(owner_id=owner_id, idempotency_key=idempotency_key).first()
    if existing is not None and existing.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    return existing


def take_request(
    *, owner_id: int, shot_id: int, notify_group: str, spec: ShotSpec,
    tier: str = Generation.Tier.DRAFT, idempotency_key: str | None = None, budget_key: str = "",
) -> Generation:
    """Create a take with its credits reserved; the same key and request return the same take.

    A key whose first request is still being carried out raises IdempotencyKeyInProgress rather
    than waiting on it, as Stripe's API answers 409 to a concurrent retry.
    """
    fingerprint = request_fingerprint(shot_id=shot_id, spec=spec, tier=tier)
    create = partial(_take_create, owner_id=owner_id, shot_id=shot_id, notify_group=notify_group, spec=spec, tier=tier,
                     idempotency_key=idempotency_key or None, fingerprint=fingerprint, budget_key=budget_key)
    if not idempotency_key:
        return create(quote=take_quote(spec=spec, tier=tier, owner_id=owner_id))
    find_existing = partial(_existing_for_key, owner_id=owner_id, idempotency_key=idempotency_key, fingerprint=fingerprint)
    if existing := find_existing():
        return existing
    with _idempotency_key_claimed(owner_id=owner_id, idempotency_key=idempotency_key):
        if existing := find_existing():  # the first request finished between our look and our claim
            return existing
        try:
            return create(quote=take_quote(spec=spec, tier=tier, owner_id=owner_id))
        except IntegrityError:
            # Only reachable when a claim outlived its expiry: the other request's take is the answer.
            if existing := find_existing():
                return existing
            raise


IDEMPOTENCY_CLAIM_SECONDS = 60  # longer than any take request takes; frees the key if a process dies holding it


@contextmanager
def _idempotency_key_claimed(*, owner_id: int, idempotency_key: str) -> Iterator[None]:
    claim = "take-request:" + hashlib.sha256(f"{owner_id}:{idempotency_key}".encode()).hexdigest()
    if not cache.add(claim, "in progress", timeout=IDEMPOTENCY_CLAIM_SECONDS):
        raise IdempotencyKeyInProgress()
    try:
        yield
    finally:
        cache.delete(claim)


@transaction.atomic
def _take_create(*, owner_id, shot_id, notify_group, spec, tier, quote: TakeQuote, idempotency_key, fingerprint,
                 budget_key: str = "") -> Generation:
    take = Generation.objects.create(
        owner_id=owner_id, shot_id=shot_id, notify_group=notify_group, tier=tier,
        provider_model=quote.provider_model, provider_price=quote.price, route_plan=quote.plan.as_dict(),
        request=spec.as_request(), compiled_prompt=quote.compiled.text, compiler_version=quote.compiled.version,
        seed=secrets.randbelow(2**31), duration_seconds=spec.duration_seconds, aspect_ratio=spec.aspect_ratio,
        price_credits=quote.credits, provider_cost_usd_micros=quote.provider_cost_usd_micros,
        idempotency_key=idempotency_key, request_fingerprint=fingerprint, heartbeat_at=timezone.now(),
    )
    take.reservation = credits_reserve(user_id=owner_id, amount=quote.hold_credits, reference=f"take:{take.public_id}",
                                       budget_key=budget_key)
    take.save(update_fields=["reservation"])
    GenerationEvent.objects.create(generation=take, to_state=take.state, detail=f"{quote.hold_credits} credits held")
    take_changed_publish_on_commit(group=notify_group, take_id=take.pk)
    transaction.on_commit(partial(_enqueue_take_run, take.pk, take_queue_for(quote.provider_model.api_family)))
    return take


def take_queue_for(api_family: str) -> str:
    """Self-hosted models render on their own worker, so a long render never blocks submissions."""
    return settings.SELF_HOSTED_QUEUE if api_family == "self_hosted" else settings.CELERY_TASK_DEFAULT_QUEUE


def _enqueue_take_run(take_id: int, queue: str) -> None:
    from jobs.tasks import take_run_task

    take_run_task.apply_async((take_id,), queue=queue)
