"""Stage 1, request: hold a quoted take's credits and queue it, all or nothing, once per idempotency key."""

import hashlib
import json
import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from functools import partial
from pathlib import Path

from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.claims import work_claimed
from jobs.compiler import ShotSpec
from jobs.events import take_changed_publish_on_commit
from jobs.exceptions import IdempotencyKeyInProgress, IdempotencyKeyReused, TakeError
from jobs.models import Take, TakeEvent
from jobs.outbound.record import take_event_record
from jobs.pipeline.enqueue import take_stage_enqueue_on_commit
from jobs.pipeline.leases import handover_seconds
from jobs.pipeline.quote import SEED_RANGE, TakeQuote, fresh_seed, spec_seed, take_quote
from jobs.pipeline.settle import take_credits_hold
from jobs.pipeline.transitions import take_transition
from jobs.states import Stage, TakeState

logger = logging.getLogger(__name__)

def request_fingerprint(*, shot_id: int, spec: ShotSpec, tier: str, **options) -> str:
    """What an idempotency key stands for: the shot, the tier, the spec and any non-default options."""
    asked = {name: value for name, value in options.items() if value}
    payload = json.dumps({"shot": shot_id, "tier": tier, "spec": spec.as_request(), **asked}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


def _existing_for_key(*, owner_id: int, idempotency_key: str, fingerprint: str) -> Take | None:
    existing = Take.objects.filter(owner_id=owner_id, idempotency_key=idempotency_key).first()
    if existing is not None and existing.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused()
    return existing


def take_request(
    *, owner_id: int, shot_id: int, notify_group: str, spec: ShotSpec,
    tier: str = Take.Tier.DRAFT, idempotency_key: str | None = None, budget_key: str = "",
    fresh: bool = False, seed: int | None = None, origin: str = Take.Origin.REQUEST,
    source_take_id: int | None = None, batch: uuid.UUID | None = None, avoided_slugs: tuple[str, ...] = (),
    quote: TakeQuote | None = None,
) -> Take:
    """Create a take with its credits held; the same key and request return the same take.

    A key whose first request is still being carried out raises IdempotencyKeyInProgress rather
    than waiting on it, as Stripe's API answers 409 to a concurrent retry. An unchanged request
    reuses the creator's stored output of it for free, unless `fresh` asks for a new render.
    Callers creating several takes in one transaction pass each `quote`, made before it began,
    so no storage is read while the account's row is locked.
    """
    fingerprint = request_fingerprint(shot_id=shot_id, spec=spec, tier=tier, fresh=fresh, seed=seed, origin=origin,
                                      source=source_take_id, avoided=avoided_slugs)
    create = partial(_take_create, owner_id=owner_id, shot_id=shot_id, notify_group=notify_group, spec=spec, tier=tier,
                     idempotency_key=idempotency_key or None, fingerprint=fingerprint, budget_key=budget_key,
                     origin=origin, source_take_id=source_take_id, batch=batch)

    def quote_now() -> TakeQuote:
        return quote or take_quote(spec=spec, tier=tier, owner_id=owner_id, seed=seed, fresh=fresh,
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


def take_request_best_of(*, count: int, idempotency_key: str | None = None, fresh: bool = False, seed: int | None = None,
                         spec: ShotSpec, **request) -> list[Take]:
    """`count` takes of one request with different seeds, ranked by score once ready; all or none are held."""
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
    seeds = [(base + number) % SEED_RANGE for number in range(count)]
    quote_for = partial(take_quote, spec=spec, tier=request.get("tier", Take.Tier.DRAFT), owner_id=request["owner_id"],
                        fresh=fresh, avoided_slugs=request.get("avoided_slugs", ()))
    quotes = [quote_for(seed=take_seed) for take_seed in seeds]  # before the transaction: they read storage
    with transaction.atomic():
        return [
            take_request(**request, spec=spec, seed=take_seed, fresh=fresh, origin=Take.Origin.BEST_OF, batch=batch,
                         quote=quote, idempotency_key=f"{idempotency_key}#{number + 1}" if idempotency_key else None)
            for number, (take_seed, quote) in enumerate(zip(seeds, quotes))
        ]


IDEMPOTENCY_CLAIM_SECONDS = 60  # longer than any take request takes; frees the key if a process dies holding it


@contextmanager
def _idempotency_key_claimed(*, owner_id: int, idempotency_key: str) -> Iterator[None]:
    claim = "take-request:" + hashlib.sha256(f"{owner_id}:{idempotency_key}".encode()).hexdigest()
    with work_claimed(claim, seconds=IDEMPOTENCY_CLAIM_SECONDS) as claimed:
        if not claimed:
            raise IdempotencyKeyInProgress()
        yield


def _take_create(*, quote: TakeQuote, tier: str, **fields) -> Take:
    """The take's row, with its credits held, or ready at once with a copy of the cached take's files.

    Files are copied before the transaction, never inside it, and removed again if it fails.
    """
    public_id = uuid.uuid4()
    copied = _cached_files_copy(quote.cached, tier=tier, public_id=public_id) if quote.cached else {}
    try:
        return _take_row_create(quote=quote, tier=tier, public_id=public_id, files=copied, **fields)
    except Exception:
        for name in copied.values():
            default_storage.delete(name)
        raise


@transaction.atomic
def _take_row_create(*, owner_id, shot_id, notify_group, spec, tier, quote: TakeQuote, idempotency_key, fingerprint,
                     public_id: uuid.UUID, files: dict[str, str], budget_key: str = "", origin: str = Take.Origin.REQUEST,
                     source_take_id: int | None = None, batch: uuid.UUID | None = None) -> Take:
    take = Take.objects.create(
        public_id=public_id, owner_id=owner_id, shot_id=shot_id, notify_group=notify_group, tier=tier, origin=origin,
        source_take_id=source_take_id, batch=batch, cache_key=quote.cache_key, cached_from=quote.cached,
        provider_model=quote.provider_model, provider_price=quote.price, route_plan=quote.plan.as_dict(),
        request=spec.as_request(), compiled_prompt=quote.compiled.text, compiler_version=quote.compiled.version,
        seed=quote.seed, duration_seconds=spec.duration_seconds, aspect_ratio=spec.aspect_ratio,
        price_credits=quote.charge_credits, provider_cost_usd_micros=0 if quote.cached else quote.provider_cost_usd_micros,
        idempotency_key=idempotency_key, request_fingerprint=fingerprint, heartbeat_at=timezone.now(),
        wake_at=timezone.now() + timedelta(seconds=handover_seconds()), **files,
    )
    take_changed_publish_on_commit(group=notify_group, take_id=take.pk)
    take_event_record(take=take, from_state="")
    if quote.cached:
        TakeEvent.objects.create(take=take, to_state=take.state, detail="identical to an earlier take")
        source = quote.cached
        return take_transition(
            take_id=take.pk, to_state=TakeState.READY, progress=100, evaluation=source.evaluation,
            provider_job_id=source.provider_job_id, sandbox=source.sandbox, compiled_prompt=source.compiled_prompt,
            detail=f"reused take #{source.pk}'s video: the same model, prompt, seed and inputs (no charge)",
        )
    take_stage_enqueue_on_commit(take.pk, Stage.SUBMIT)  # first of the after-commit work: the take starts moving
    take.reservation = take_credits_hold(take=take, amount=quote.hold_credits, budget_key=budget_key)
    take.save(update_fields=["reservation"])
    TakeEvent.objects.create(take=take, to_state=take.state, detail=f"{quote.hold_credits} credits held")
    return take


def _cached_files_copy(source: Take, *, tier: str, public_id: uuid.UUID) -> dict[str, str]:
    """Copies of an identical earlier take's files for a new take: copied, not shared, so either
    take's retention can delete its own."""
    target = Take(tier=tier, public_id=public_id)
    names = {}
    for field_name in Take.OUTPUT_FILE_FIELDS:
        stored = getattr(source, field_name)
        if stored:
            with stored.open("rb") as handle:
                getattr(target, field_name).save(Path(stored.name).name, File(handle), save=False)
            names[field_name] = getattr(target, field_name).name
    return names
