"""Asking for a take: quote it, reserve its credits and queue it, all or nothing."""

import hashlib
import json
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.plans import plan_markup
from billing.pricing import provider_cost_usd_micros, take_price_credits
from billing.services import credits_reserve
from jobs.claims import work_claimed
from jobs.compiler import CompiledPrompt, ShotSpec, prompt_compile
from jobs.events import take_changed_publish_on_commit
from jobs.exceptions import IdempotencyKeyInProgress, IdempotencyKeyReused, NoProviderAvailable, TakeError
from jobs.models import Generation, GenerationEvent
from jobs.provenance import reference_hash
from jobs.services.transitions import take_transition
from jobs.states import TakeState
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
    seed: int
    cache_key: str  # equal keys give equal videos: see take_cache_key
    cached: Generation | None  # the creator's earlier take of exactly this request, reused for free

    @property
    def charge_credits(self) -> int:
        """What the creator pays for this take: nothing when it reuses a stored output."""
        return 0 if self.cached else self.credits


FALLBACKS_COVERED = 3
SEED_RANGE = 2**31


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


def route_needs_for(*, spec: ShotSpec, tier: str, avoided_slugs: tuple[str, ...] = ()) -> RouteNeeds:
    return RouteNeeds(
        **TIER_ROUTING[tier], duration_seconds=spec.duration_seconds, aspect_ratio=spec.aspect_ratio,
        has_start_image=bool(spec.input_image_names), avoided_slugs=avoided_slugs,
    )


def spec_seed(spec: ShotSpec) -> int:
    """The seed an unchanged shot always gets, so asking again can reuse the stored output.

    Image file names are left out: the cache key holds the images' content hashes instead.
    """
    words = {key: value for key, value in spec.as_request().items() if key not in ("reference_image_names", "start_frame_name")}
    payload = json.dumps(words, sort_keys=True).encode()
    return int.from_bytes(hashlib.sha256(payload).digest()[:8], "big") % SEED_RANGE


def fresh_seed() -> int:
    return secrets.randbelow(SEED_RANGE)


def take_cache_key(*, model_slug: str, compiled: CompiledPrompt, spec: ShotSpec, seed: int) -> str:
    """Model, compiled prompt, parameters, seed and the hashes of every input image."""
    payload = {
        "model": model_slug, "prompt": compiled.text, "negative": compiled.negative, "compiler": compiled.version,
        "duration_seconds": spec.duration_seconds, "aspect_ratio": spec.aspect_ratio, "camera": spec.camera,
        "seed": seed, "inputs": [reference_hash(name)["sha256"] for name in spec.input_image_names],
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def cached_take_for(*, owner_id: int, cache_key: str) -> Generation | None:
    """The creator's newest ready take of exactly this request whose files are still kept."""
    return (Generation.objects.filter(owner_id=owner_id, cache_key=cache_key, state=TakeState.READY,
                                      files_expired_at__isnull=True)
            .exclude(video="").select_related("provider_model").order_by("-created_at").first())


def take_quote(
    *, spec: ShotSpec, tier: str, owner_id: int | None = None, seed: int | None = None, fresh: bool = False,
    avoided_slugs: tuple[str, ...] = (),
) -> TakeQuote:
    """Which provider would render this spec, and what it costs the creator, without side effects.

    Unless `fresh`, an unchanged request gets the same seed, and the creator's stored output of
    exactly that request is offered for reuse instead of paying again.
    """
    needs = route_needs_for(spec=spec, tier=tier, avoided_slugs=avoided_slugs)
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
    compiled = prompt_compile(spec)
    seed = fresh_seed() if fresh and seed is None else spec_seed(spec) if seed is None else seed
    cache_key = take_cache_key(model_slug=provider_model.slug, compiled=compiled, spec=spec, seed=seed)
    cached = cached_take_for(owner_id=owner_id, cache_key=cache_key) if owner_id and not fresh else None
    return TakeQuote(
        plan=plan, provider_model=provider_model, price=price, credits=credits, hold_credits=hold,
        provider_cost_usd_micros=provider_cost_usd_micros(usd_micros_per_second=per_second, duration_seconds=spec.duration_seconds),
        compiled=compiled, seed=seed, cache_key=cache_key, cached=cached,
    )


def request_fingerprint(*, shot_id: int, spec: ShotSpec, tier: str, **options) -> str:
    """What an idempotency key stands for: the shot, the tier, the spec and any non-default options."""
    asked = {name: value for name, value in options.items() if value}
    payload = json.dumps({"shot": shot_id, "tier": tier, "spec": spec.as_request(), **asked}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _existing_for_key(*, owner_id: int, idempotency_key: str, fingerprint: str) -> Generation | None:
    existing = Generation.objects.filter(owner_id=owner_id, idempotency_key=idempotency_key).first()
    if existing is not None and existing.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    return existing


def take_request(
    *, owner_id: int, shot_id: int, notify_group: str, spec: ShotSpec,
    tier: str = Generation.Tier.DRAFT, idempotency_key: str | None = None, budget_key: str = "",
    fresh: bool = False, seed: int | None = None, origin: str = Generation.Origin.REQUEST,
    source_take_id: int | None = None, batch: uuid.UUID | None = None, avoided_slugs: tuple[str, ...] = (),
) -> Generation:
    """Create a take with its credits reserved; the same key and request return the same take.

    A key whose first request is still being carried out raises IdempotencyKeyInProgress rather
    than waiting on it, as Stripe's API answers 409 to a concurrent retry. An unchanged request
    reuses the creator's stored output of it for free, unless `fresh` asks for a new render.
    """
    fingerprint = request_fingerprint(shot_id=shot_id, spec=spec, tier=tier, fresh=fresh, seed=seed, origin=origin,
                                      source=source_take_id, avoided=avoided_slugs)
    create = partial(_take_create, owner_id=owner_id, shot_id=shot_id, notify_group=notify_group, spec=spec, tier=tier,
                     idempotency_key=idempotency_key or None, fingerprint=fingerprint, budget_key=budget_key,
                     origin=origin, source_take_id=source_take_id, batch=batch)
    quote_now = partial(take_quote, spec=spec, tier=tier, owner_id=owner_id, seed=seed, fresh=fresh,
                        avoided_slugs=avoided_slugs)
    if not idempotency_key:
        return create(quote=quote_now())
    find_existing = partial(_existing_for_key, owner_id=owner_id, idempotency_key=idempotency_key, fingerprint=fingerprint)
    if existing := find_existing():
        return existing
    with _idempotency_key_claimed(owner_id=owner_id, idempotency_key=idempotency_key):
        if existing := find_existing():  # the first request finished between our look and our claim
            return existing
        try:
            return create(quote=quote_now())
        except IntegrityError:
            # The other request's take is the answer. Reached when a claim outlived its expiry, or
            # when both run inside outer transactions (batches): the claim ends before their commit.
            if existing := find_existing():
                return existing
            raise


BEST_OF_MAX = 4


@transaction.atomic
def take_request_best_of(*, count: int, idempotency_key: str | None = None, fresh: bool = False, seed: int | None = None,
                         spec: ShotSpec, **request) -> list[Generation]:
    """`count` takes of one request with different seeds, ranked by score once ready; all or none are reserved."""
    if not 2 <= count <= BEST_OF_MAX:
        raise TakeError(f"Best of N takes 2 to {BEST_OF_MAX} takes; {count} were asked for.")
    batch = uuid.uuid5(uuid.NAMESPACE_URL, f"best-of:{request['owner_id']}:{idempotency_key}") if idempotency_key else uuid.uuid4()
    if seed is not None:
        base = seed
    elif not fresh:
        base = spec_seed(spec)
    elif idempotency_key:
        base = batch.int % SEED_RANGE  # fresh, yet a retried request must ask for the same seeds to replay
    else:
        base = fresh_seed()
    return [
        take_request(**request, spec=spec, seed=(base + number) % SEED_RANGE, fresh=fresh, origin=Generation.Origin.BEST_OF,
                     batch=batch, idempotency_key=f"{idempotency_key}#{number + 1}" if idempotency_key else None)
        for number in range(count)
    ]


IDEMPOTENCY_CLAIM_SECONDS = 60  # longer than any take request takes; frees the key if a process dies holding it


@contextmanager
def _idempotency_key_claimed(*, owner_id: int, idempotency_key: str) -> Iterator[None]:
    claim = "take-request:" + hashlib.sha256(f"{owner_id}:{idempotency_key}".encode()).hexdigest()
    with work_claimed(claim, seconds=IDEMPOTENCY_CLAIM_SECONDS) as claimed:
        if not claimed:
            raise IdempotencyKeyInProgress()
        yield


@transaction.atomic
def _take_create(*, owner_id, shot_id, notify_group, spec, tier, quote: TakeQuote, idempotency_key, fingerprint,
                 budget_key: str = "", origin: str = Generation.Origin.REQUEST, source_take_id: int | None = None,
                 batch: uuid.UUID | None = None) -> Generation:
    take = Generation.objects.create(
        owner_id=owner_id, shot_id=shot_id, notify_group=notify_group, tier=tier, origin=origin,
        source_take_id=source_take_id, batch=batch, cache_key=quote.cache_key,
        provider_model=quote.provider_model, provider_price=quote.price, route_plan=quote.plan.as_dict(),
        request=spec.as_request(), compiled_prompt=quote.compiled.text, compiler_version=quote.compiled.version,
        seed=quote.seed, duration_seconds=spec.duration_seconds, aspect_ratio=spec.aspect_ratio,
        price_credits=quote.charge_credits, provider_cost_usd_micros=0 if quote.cached else quote.provider_cost_usd_micros,
        idempotency_key=idempotency_key, request_fingerprint=fingerprint, heartbeat_at=timezone.now(),
    )
    take_changed_publish_on_commit(group=notify_group, take_id=take.pk)
    if quote.cached:
        GenerationEvent.objects.create(generation=take, to_state=take.state, detail="identical to an earlier take")
        return take_from_cache(take=take, source=quote.cached)
    take.reservation = credits_reserve(user_id=owner_id, amount=quote.hold_credits, reference=f"take:{take.public_id}",
                                       budget_key=budget_key)
    take.save(update_fields=["reservation"])
    GenerationEvent.objects.create(generation=take, to_state=take.state, detail=f"{quote.hold_credits} credits held")
    transaction.on_commit(partial(_enqueue_take_run, take.pk, take_queue_for(quote.provider_model.api_family)))
    return take




def take_from_cache(*, take: Generation, source: Generation) -> Generation:
    """Finish a take with a copy of an identical earlier take's output: no render, no charge.

    The files are copied, not shared, so either take's retention can delete its own.
    """
    for field_name in Generation.OUTPUT_FILE_FIELDS:
        stored = getattr(source, field_name)
        if stored:
            with stored.open("rb") as handle:
                getattr(take, field_name).save(Path(stored.name).name, File(handle), save=False)
    Generation.objects.filter(pk=take.pk).update(**{name: getattr(take, name).name for name in Generation.OUTPUT_FILE_FIELDS})
    return take_transition(
        take_id=take.pk, to_state=TakeState.READY, progress=100, evaluation=source.evaluation, cached_from=source,
        provider_job_id=source.provider_job_id, sandbox=source.sandbox, compiled_prompt=source.compiled_prompt,
        detail=f"reused take #{source.pk}'s video: the same model, prompt, seed and inputs (no charge)",
    )


def take_queue_for(api_family: str) -> str:
    """Self-hosted models render on their own worker, so a long render never blocks submissions."""
    return settings.SELF_HOSTED_QUEUE if api_family == "self_hosted" else settings.CELERY_TASK_DEFAULT_QUEUE


def _enqueue_take_run(take_id: int, queue: str) -> None:
    from jobs.tasks import take_run_task

    take_run_task.apply_async((take_id,), queue=queue)
