"""Stage 3, poll: ask the provider where the take's job is, until it ends.

Polls start soon after submission and space out (attempts.poll_delay); a verified callback
brings the next one forward (callbacks.py). A finished job is downloaded in the same task, so
a vendor's inline answer (Vertex) is not fetched twice; a failed one goes to attempts.py.
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from jobs.models import Attempt, Take
from jobs.pipeline.attempts import attempt_failed, poll_delay, retry_delay
from jobs.pipeline.download import take_download_from
from jobs.pipeline.enqueue import take_stage_send
from jobs.pipeline.leases import Lease, take_leased
from jobs.pipeline.settle import take_fail, take_stage_settled
from jobs.pipeline.transitions import take_progress_report
from jobs.states import Stage, TakeState
from providers.base import JobState, JobStatus, ProviderError, TransientProviderError
from providers.registry import adapter_for

URGENT_POLL_RETRY_SECONDS = 0.25
URGENT_POLL_TRIES = 8


def take_poll(*, take_id: int, urgent: bool = False, tries: int = 0) -> None:
    """Poll the take's job. An urgent poll (the job said it ended) that finds another poll at work
    comes back in a moment, since that poll may have looked just before the end."""
    with take_leased(take_id, states=(TakeState.GENERATING,)) as lease:
        if lease is None:
            if urgent and tries < URGENT_POLL_TRIES and Take.objects.filter(pk=take_id, state=TakeState.GENERATING).exists():
                take_stage_send(take_id, Stage.POLL, countdown=URGENT_POLL_RETRY_SECONDS, urgent=True, tries=tries + 1)
            return  # another worker polls it, or it moved on
        with take_stage_settled(take_id=take_id, lease=lease, doing="asking the provider about the take"):
            _take_poll(take_id, lease)


def _take_poll(take_id: int, lease: Lease) -> None:
    take = Take.objects.select_related("provider_model").get(pk=take_id)
    attempt = take_open_attempt(take)
    if attempt is None:
        take_fail(take_id=take.pk, lease=lease,
                  reason=f"No job at {take.provider_model.name} is known for this take. Your credits were released.")
        return
    if _overdue(attempt, take):
        minutes = generating_limit_seconds(take) // 60
        attempt_failed(take, attempt, TransientProviderError(f"it did not finish within {minutes} minutes"), lease=lease)
        return
    Attempt.objects.filter(pk=attempt.pk).update(polls=F("polls") + 1)
    try:
        status = adapter_for(take.provider_model.api_family).status(attempt.provider_job_id)
    except ProviderError as error:
        if error.retryable:  # the job itself may be fine; look again later
            lease.hand_to(Stage.POLL, after=retry_delay(error, tries=attempt.polls))
            return
        attempt_failed(take, attempt, error, lease=lease)
        return
    take_status_apply(take=take, attempt=attempt, status=status, lease=lease)


def take_status_apply(*, take: Take, attempt: Attempt, status: JobStatus, lease: Lease) -> None:
    if status.state in (JobState.QUEUED, JobState.RUNNING):
        if status.progress is not None:
            take_progress_report(take_id=take.pk, percent=min(status.progress, 99))
        lease.hand_to(Stage.POLL, after=poll_delay(take.provider_model, polls=attempt.polls + 1, hint=status.poll_after_seconds))
        return
    if status.state == JobState.SUCCEEDED:
        take_download_from(take=take, attempt=attempt, status=status, lease=lease)
        return
    error = status.error or ProviderError(f"{take.provider_model.name} stopped the job ({status.raw_status}).")
    attempt_failed(take, attempt, error, lease=lease)


def take_open_attempt(take: Take) -> Attempt | None:
    """The attempt whose job the take waits for: the newest at its provider with a job id."""
    return (take.attempts.filter(provider_model=take.provider_model, state__in=[Attempt.State.SUBMITTING, Attempt.State.RUNNING])
            .exclude(provider_job_id="").order_by("-number").first())


def generating_limit_seconds(take: Take) -> int:
    """How long a job may run before we stop waiting: several times the model's slow case, at least the setting."""
    return max(settings.TAKE_GENERATING_MAX_SECONDS, 5 * take.provider_model.p90_latency_seconds)


def _overdue(attempt: Attempt, take: Take) -> bool:
    return timezone.now() - attempt.created_at > timedelta(seconds=generating_limit_seconds(take))
