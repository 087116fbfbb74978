"""One try of a take at one provider: how long to wait between looks, and what a failure means.

A failure that may pass (429, 5xx, a timeout) is retried at the same provider with backoff, a
few times; one that will not (or keeps happening) moves the take to its plan's next provider;
a content-policy refusal stops the take with the vendor's reason.
"""

import logging
import random

from django.db import transaction
from django.utils import timezone

from jobs.models import Attempt, Take
from jobs.pipeline.leases import Lease
from jobs.pipeline.routing import take_reroute
from jobs.pipeline.settle import take_fail
from jobs.pipeline.transitions import take_transition
from jobs.states import Stage, TakeState
from providers import health
from providers.base import ContentPolicyRejected, InsufficientVendorCredit, ProviderError, RateLimited
from providers.models import ProviderModel

logger = logging.getLogger(__name__)

SAME_PROVIDER_TRIES = 3
MAX_POLL_DELAY_SECONDS = 30.0


def poll_delay(model: ProviderModel, *, polls: int, hint: float | None = None) -> float:
    """Poll often at first and less over time, scaled to how long this model usually takes."""
    if hint:
        return hint
    base = min(max(model.p50_latency_seconds / 10, 1.0), 10.0)
    return min(base * (1.5 ** polls), MAX_POLL_DELAY_SECONDS)


def retry_delay(error: ProviderError, *, tries: int) -> float:
    """Exponential backoff with full jitter, never sooner than the vendor's Retry-After."""
    backoff = random.uniform(0, min(2.0 * 2**tries, MAX_POLL_DELAY_SECONDS))
    retry_after = error.retry_after_seconds if isinstance(error, RateLimited) else None
    return max(backoff, retry_after or 0.0)


def attempt_finished(take: Take, attempt: Attempt, *, success: bool, error: ProviderError | None = None) -> None:
    Attempt.objects.filter(pk=attempt.pk).update(
        state=Attempt.State.SUCCEEDED if success else Attempt.State.FAILED, finished_at=timezone.now(),
        error_kind=type(error).__name__ if error else "", error_message=error.reason if error else "",
    )
    provider_outcome_record(take, success=success, credit_exhausted=isinstance(error, InsufficientVendorCredit))


def provider_outcome_record(take: Take, *, success: bool, credit_exhausted: bool = False) -> None:
    """Count the outcome for the provider's circuit and free its slot; health is advice, never a reason to fail."""
    slug = take.provider_model.slug
    try:
        health.circuit_record(slug, success=success, credit_exhausted=credit_exhausted)
        health.concurrency_slot_release(slug, holder=str(take.public_id))
    except Exception as error:
        logger.warning("could not record %s's outcome for take %s: %s", slug, take.pk, error)


def attempt_failed(take: Take, attempt: Attempt, error: ProviderError, *, lease: Lease) -> None:
    """Decide what a provider failure means for the take: retry here, move on, or stop."""
    attempt_finished(take, attempt, success=False, error=error)
    name = take.provider_model.name
    if isinstance(error, ContentPolicyRejected):
        take_fail(take_id=take.pk, reason=f"{name} refused this shot under its content policy: {error.reason}", lease=lease)
        return
    tries_here = take.attempts.filter(provider_model=take.provider_model).count()
    if error.retryable and tries_here < SAME_PROVIDER_TRIES:
        _retry_here(take, lease, reason=f"retrying {name}: {error.reason}", delay=retry_delay(error, tries=tries_here))
        return
    take_reroute(take, reason=f"{name}: {error.reason}", lease=lease)


@transaction.atomic
def _retry_here(take: Take, lease: Lease, *, reason: str, delay: float) -> None:
    take_transition(take_id=take.pk, to_state=TakeState.ROUTING, detail=reason, lease=lease)
    lease.hand_to(Stage.SUBMIT, after=delay)
