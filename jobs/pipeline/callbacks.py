"""Vendor callbacks: where they go, how we know they are about our take, and what they change.

A callback is a hint, the vendor's status endpoint is the truth: a verified callback records
progress and brings the take's next poll forward, which applies the result. Duplicates, late
and out-of-order callbacks therefore cannot move a take backwards or apply a result twice.

The news is stored before we answer (the delivery row and the take's `wake_at = now`, in one
transaction), so a broker that is down when the callback arrives delays the poll to recovery's
next pass but loses nothing, and the vendor is told it was heard.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from jobs.models import Attempt, Take, WebhookDelivery
from jobs.pipeline.enqueue import take_stage_enqueue_on_commit
from jobs.pipeline.orphans import orphan_confirmed_record
from jobs.pipeline.transitions import take_progress_report
from jobs.states import Stage, TakeState
from providers.base import JobState, WebhookEvent, WebhookRejected

logger = logging.getLogger(__name__)

# Vendors whose callbacks carry their own signature, so one address per family is safe
# (OpenAI's webhooks are configured once in its dashboard, not per request).
SIGNED_CALLBACK_FAMILIES = frozenset({"openai_videos", "replicate", "fal"})
_SIGNER_SALT = "shotcraft.take-callback"


def _signer() -> signing.Signer:
    # Django's signer also accepts SECRET_KEY_FALLBACKS, so rotating the key keeps callbacks in flight valid.
    return signing.Signer(salt=_SIGNER_SALT)


def callback_token(*, family: str, public_id, attempt: int) -> str:
    """`<attempt>.<signature>`: which attempt of which take, signed with our secret key."""
    signature = _signer().sign(f"{family}:{public_id}:{attempt}").rsplit(":", 1)[1]
    return f"{attempt}.{signature}"


def callback_url_for(*, family: str, take: Take, attempt: int) -> str:
    token = callback_token(family=family, public_id=take.public_id, attempt=attempt)
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("provider-callback", args=[family, take.public_id, token])


def callback_token_check(*, family: str, public_id, token: str) -> int:
    """The attempt number a callback token names; WebhookRejected when it is not ours."""
    attempt, _, signature = token.partition(".")
    if not attempt.isdigit() or not signature:
        raise WebhookRejected("bad callback token")
    try:
        _signer().unsign(f"{family}:{public_id}:{attempt}:{signature}")
    except signing.BadSignature:
        raise WebhookRejected("bad callback token") from None
    return int(attempt)


def callback_apply(*, family: str, public_id, event: WebhookEvent, attempt_number: int | None = None) -> str:
    """Record a verified callback about the take in its URL once; returns what happened."""
    take = Take.objects.filter(public_id=public_id).first()
    if take is None:
        raise WebhookRejected("no such take")
    return _callback_apply_to(take, family=family, event=event, attempt_number=attempt_number)


def callback_apply_by_job(*, family: str, event: WebhookEvent) -> str:
    """A signed callback to the family's address: the vendor's job id tells which take it is about."""
    if family not in SIGNED_CALLBACK_FAMILIES:
        raise WebhookRejected(f"{family} callbacks are unsigned: they must use the per-take address")
    attempt = Attempt.objects.filter(
        Q(provider_job_id=event.job_id) | Q(provider_job_id__endswith=f"/{event.job_id}"), provider_model__api_family=family
    ).select_related("take").first() if event.job_id else None
    if attempt is None:
        return "unknown job"
    return _callback_apply_to(attempt.take, family=family, event=event)


@transaction.atomic
def _callback_apply_to(take: Take, *, family: str, event: WebhookEvent, attempt_number: int | None = None) -> str:
    try:
        with transaction.atomic():
            WebhookDelivery.objects.create(api_family=family, event_id=event.event_id, take=take)
    except IntegrityError:
        return "duplicate"
    attempt = _attempt_for(take, event.job_id, attempt_number)
    if attempt is not None and not _is_job_of(attempt, event.job_id):
        orphan_confirmed_record(take, attempt, event.job_id)  # a second job from a resend: we pay, nobody asked
        return "orphan"
    if attempt is None or attempt.state not in (Attempt.State.SUBMITTING, Attempt.State.RUNNING):
        return "stale"  # about an earlier attempt, or one already settled
    status = event.status
    if status and status.progress is not None and status.state == JobState.RUNNING:
        take_progress_report(take_id=take.pk, percent=min(status.progress, 99))
    if Take.objects.filter(pk=take.pk, state=TakeState.GENERATING).update(wake_at=timezone.now() - timedelta(seconds=1)):
        take_stage_enqueue_on_commit(take.pk, Stage.POLL, urgent=True)
    return "applied"


def _attempt_for(take: Take, job_id: str, attempt_number: int | None) -> Attempt | None:
    """The attempt a callback is about: by the vendor's job id (ours may be a longer path ending in
    it: fal), or, for a job whose id we have not saved yet, by the attempt number in its URL."""
    if not job_id:
        return None
    known = take.attempts.filter(Q(provider_job_id=job_id) | Q(provider_job_id__endswith=f"/{job_id}")).first()
    if known or attempt_number is None:
        return known
    named = take.attempts.filter(number=attempt_number).first()
    if named is not None and not named.provider_job_id:
        # The vendor answered before our submit saved its id (or the worker saving it died): adopt the job.
        Attempt.objects.filter(pk=named.pk, provider_job_id="").update(provider_job_id=job_id, state=Attempt.State.RUNNING)
        named.refresh_from_db()
    return named


def _is_job_of(attempt: Attempt, job_id: str) -> bool:
    return attempt.provider_job_id == job_id or attempt.provider_job_id.endswith(f"/{job_id}")
