"""How a take ends, and every ledger call a take makes: hold, capture, release, refund.

* ready: the held credits are captured at the price of the provider that made the take;
* failed before a video existed (provider errors, stalls, our own crash): the hold is released;
* failed a check on its rendered video: captured (the provider was paid), then refunded when
  the check was safety, and when broken if BILLING_REFUND_BROKEN_OUTPUTS is on;
* cancelled by the creator: the vendor is told where it can be, and the hold is released.

Every function is safe to run twice: a settled reservation ignores a second capture or release.
"""

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone
from redis.exceptions import RedisError

from billing.models import Reservation
from billing.services import (
    credits_capture,
    credits_refund_broken_output,
    credits_refund_safety_blocked,
    credits_release,
    credits_reserve,
)
from jobs.decisions import take_rank_score_set
from jobs.evaluation.take import evaluation_failed_check
from jobs.events import take_changed_publish_on_commit
from jobs.exceptions import IllegalTransition, LeaseLost, TakeError
from jobs.models import Attempt, Take
from jobs.pipeline.leases import Lease
from jobs.pipeline.transitions import take_transition
from jobs.states import TakeState, is_allowed
from providers import health
from providers.base import ProviderError
from providers.registry import adapter_for

logger = logging.getLogger(__name__)


# Trouble with our own database or Redis: the stage is retried (its lease runs out and recovery
# starts it again), rather than failing a take that nothing is wrong with.
INFRASTRUCTURE_ERRORS = (OperationalError, InterfaceError, RedisError)


@contextmanager
def take_stage_settled(*, take_id: int, lease: Lease, doing: str) -> Iterator[None]:
    """Run a stage's work; a bug or a bad input it meets fails the take with a readable reason.

    A lost race (the take moved on, or another worker took over) ends the stage quietly.
    """
    try:
        yield
    except (LeaseLost, IllegalTransition):
        logger.info("take %s moved on while %s; this worker stops", take_id, doing)
    except INFRASTRUCTURE_ERRORS:
        raise
    except Exception:
        logger.exception("take %s: crashed while %s", take_id, doing)
        take_fail(take_id=take_id, lease=lease,
                  reason=f"Something went wrong on our side while {doing}. Your credits were released.")


def take_credits_hold(*, take: Take, amount: int, budget_key: str = "") -> Reservation:
    """Hold the credits a take may cost (inside the take's creating transaction)."""
    return credits_reserve(user_id=take.owner_id, amount=amount, reference=f"take:{take.public_id}", budget_key=budget_key)


def take_credits_capture(take: Take) -> None:
    """Charge the take's price, recording who rendered it and what they cost us (billing's reports read these)."""
    model = take.provider_model
    credits_capture(reservation_id=take.reservation_id, amount=take.price_credits,
                    provider=model.name if model else "", tier=take.tier,
                    provider_cost_usd_micros=take.provider_cost_usd_micros)


@transaction.atomic
def take_succeed(*, take_id: int, evaluation: dict, lease: Lease | None = None) -> None:
    detail = ("needs the creator's review: " + evaluation.get("failure_reason", "")
              if evaluation.get("outcome") == "needs_review" else "passed every check")  # fmt: skip
    take = take_transition(take_id=take_id, to_state=TakeState.READY, detail=detail[:500],
                           evaluation=evaluation, progress=100, lease=lease)
    take_credits_capture(take)
    take_rank_score_set(take=take)
    if take.batch:  # a new score may change which take of a best-of-N batch is best
        for sibling_id in Take.objects.filter(batch=take.batch).exclude(pk=take.pk).values_list("pk", flat=True):
            take_changed_publish_on_commit(group=take.notify_group, take_id=sibling_id)


@transaction.atomic
def take_fail(*, take_id: int, reason: str, evaluation: dict | None = None, lease: Lease | None = None) -> None:
    """Fail a take that has no video to charge for, and release its credits."""
    take = Take.objects.select_for_update().get(pk=take_id)
    if take.is_terminal:
        return
    fields = {"failure_reason": reason}
    if evaluation is not None:
        fields["evaluation"] = evaluation
    take = take_transition(take_id=take_id, to_state=TakeState.FAILED, detail=reason, lease=lease, **fields)
    _open_attempts_end(take, reason=reason)
    credits_release(reservation_id=take.reservation_id, reason=f"take:{take.public_id} failed")


def _open_attempts_end(take: Take, *, reason: str) -> None:
    """A take failed from outside its attempt (reaped, timed out) gives back what the attempt held:
    the attempt is closed and the provider's concurrency slot freed after commit."""
    open_attempts = take.attempts.filter(state__in=[Attempt.State.SUBMITTING, Attempt.State.RUNNING])
    if not open_attempts.update(state=Attempt.State.FAILED, finished_at=timezone.now(),
                                error_kind="TakeFailed", error_message=reason[:1000]):
        return
    transaction.on_commit(partial(_slot_release, take.provider_model.slug, str(take.public_id)))


def _slot_release(slug: str, holder: str) -> None:
    try:
        health.concurrency_slot_release(slug, holder=holder)
    except Exception as error:  # the slot's own lease frees it later
        logger.warning("could not free %s's slot for %s: %s", slug, holder, error)


@transaction.atomic
def take_fail_check(*, take_id: int, evaluation: dict, lease: Lease | None = None) -> None:
    """Fail a take whose output failed a hard check. It was rendered, so its price is captured
    (the provider was paid); then refunded at once when blocked by safety, and when broken if
    BILLING_REFUND_BROKEN_OUTPUTS is on. The refund names the failed check."""
    take = Take.objects.select_for_update().get(pk=take_id)
    if take.is_terminal:
        return
    check, reason = evaluation_failed_check(evaluation)
    detail = f"failed check {check}: {reason}"
    take_credits_capture(take)
    refund_for = credits_refund_safety_blocked if check == "safety" else credits_refund_broken_output
    refund = refund_for(reservation_id=take.reservation_id, detail=detail[:255])
    take_transition(take_id=take_id, to_state=TakeState.FAILED, detail=detail, evaluation=evaluation, lease=lease,
                    failure_reason=f"{reason} {_charge_note(refund, take.price_credits)}".strip())


def _charge_note(refund, price_credits: int) -> str:
    if refund:
        return f"Your {refund.amount} credits were refunded."
    return f"The {price_credits} credits were charged: the video was rendered." if price_credits else ""


class TakeNotCancellable(TakeError):
    pass


def take_cancel(*, take_id: int) -> Take:
    """The creator stops a take: the vendor is told where it can be, and the credits come back."""
    take = Take.objects.select_related("provider_model").get(pk=take_id)
    if take.state == TakeState.CANCELLED:
        return take
    if not is_allowed(take.state, TakeState.CANCELLED):
        raise TakeNotCancellable(f"A take that is {take.get_state_display().lower()} can no longer be cancelled.")
    vendor_note = _vendor_cancel(take)  # network: before, never inside, the transaction
    return _take_cancel_settle(take_id=take.pk, detail=f"cancelled by the creator{vendor_note}")


def _vendor_cancel(take: Take) -> str:
    attempt = take.attempts.filter(state__in=[Attempt.State.SUBMITTING, Attempt.State.RUNNING]).order_by("-number").first()
    if attempt is None or not attempt.provider_job_id:
        return ""
    name = take.provider_model.name
    try:
        adapter = adapter_for(take.provider_model.api_family)
    except LookupError:
        return f"; {name} is no longer configured, its job is left to finish unbilled"
    if not adapter.supports_cancel:
        return f"; {name} has no cancel, its job is left to finish unbilled"
    try:
        return f"; {name} stopped the job" if adapter.cancel(attempt.provider_job_id) else ""
    except ProviderError as error:
        logger.warning("vendor cancel failed for take %s: %s", take.pk, error)
        return f"; {name} could not be told ({error.reason})"


@transaction.atomic
def _take_cancel_settle(*, take_id: int, detail: str) -> Take:
    take = Take.objects.select_for_update(of=("self",)).select_related("provider_model").get(pk=take_id)
    if take.is_terminal:
        return take  # finished while we were asking the vendor
    take = take_transition(take_id=take.pk, to_state=TakeState.CANCELLED, detail=detail)
    take.attempts.filter(state__in=[Attempt.State.SUBMITTING, Attempt.State.RUNNING]).update(
        state=Attempt.State.CANCELLED, finished_at=timezone.now()
    )
    transaction.on_commit(partial(_slot_release, take.provider_model.slug, str(take.public_id)))
    credits_release(reservation_id=take.reservation_id, reason=f"take:{take.public_id} cancelled")
    return take
