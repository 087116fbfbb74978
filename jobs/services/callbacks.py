"""Vendor callbacks: where they go, how we know they are about our take, and what they change.

A callback is a hint, the vendor's status endpoint is the truth: a verified callback records
progress and asks for an immediate poll, which applies the result. Duplicates, late and
out-of-order callbacks therefore cannot move a take backwards or apply a result twice.
"""

import hashlib
import hmac
from functools import partial

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse

from jobs.models import Attempt, Generation, WebhookDelivery
from jobs.services.transitions import take_progress_report
from jobs.states import TakeState
from providers.base import JobState, WebhookEvent, WebhookRejected


def callback_token(*, family: str, public_id) -> str:
    message = f"take-callback:{family}:{public_id}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()[:40]


def callback_url_for(*, family: str, take: Generation) -> str:
    path = reverse("provider-callback", args=[family, take.public_id, callback_token(family=family, public_id=take.public_id)])
    return settings.PUBLIC_BASE_URL.rstrip("/") + path


def callback_token_check(*, family: str, public_id, token: str) -> None:
    if not hmac.compare_digest(callback_token(family=family, public_id=public_id), token):
        raise WebhookRejected("bad callback token")


# Vendors whose callbacks carry their own signature, so one address per family is safe
# (OpenAI's webhooks are configured once in its dashboard, not per request).
SIGNED_CALLBACK_FAMILIES = frozenset({"openai_videos", "replicate", "fal"})


def callback_apply(*, family: str, public_id, event: WebhookEvent) -> str:
    """Record a verified callback about the take in its URL once; returns what happened."""
    take = Generation.objects.filter(public_id=public_id).first()
    if take is None:
        raise WebhookRejected("no such take")
    return _callback_apply_to(take, family=family, event=event)


def callback_apply_by_job(*, family: str, event: WebhookEvent) -> str:
    """A signed callback to the family's address: the vendor's job id tells which take it is about."""
    if family not in SIGNED_CALLBACK_FAMILIES:
        raise WebhookRejected(f"{family} callbacks are unsigned: they must use the per-take address")
    attempt = Attempt.objects.filter(
        Q(provider_job_id=event.job_id) | Q(provider_job_id__endswith=f"/{event.job_id}"), provider_model__api_family=family
    ).select_related("generation").first() if event.job_id else None
    if attempt is None:
        return "unknown job"
    return _callback_apply_to(attempt.generation, family=family, event=event)


def _callback_apply_to(take: Generation, *, family: str, event: WebhookEvent) -> str:
    try:
        with transaction.atomic():
            WebhookDelivery.objects.create(api_family=family, event_id=event.event_id, generation=take)
    except IntegrityError:
        return "duplicate"
    attempt = _attempt_for_job(take, event.job_id)
    if attempt is None or attempt.state not in (Attempt.State.SUBMITTING, Attempt.State.RUNNING):
        return "stale"  # about an earlier attempt, or one already settled
    status = event.status
    if status and status.progress is not None and status.state == JobState.RUNNING:
        take_progress_report(take_id=take.pk, percent=min(status.progress, 99))
    if take.state == TakeState.GENERATING:
        transaction.on_commit(partial(_poll_now, take.pk))
    return "applied"


def _attempt_for_job(take: Generation, job_id: str) -> Attempt | None:
    """Vendors name jobs in callbacks by their own id; ours may be a longer path ending in it (fal)."""
    if not job_id:
        return None
    return take.attempts.filter(Q(provider_job_id=job_id) | Q(provider_job_id__endswith=f"/{job_id}")).first()


def _poll_now(take_id: int) -> None:
    from jobs.tasks import take_poll_task

    take_poll_task.delay(take_id)
