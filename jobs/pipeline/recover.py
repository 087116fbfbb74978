"""Recovery: drive every take whose stage went quiet, and stop the ones that never will move.

Beat runs takes_recover every TAKE_RECOVERY_INTERVAL_SECONDS. A working take is due when its
`wake_at` has passed (see jobs/pipeline/__init__.py):

* its lease is still set: the worker running its stage died (or hung) and stopped renewing it.
  The stage is started again, at most TAKE_RECOVERIES_MAX times per state; past that the stage
  keeps dying on this take, which is failed and its credits released.
* no lease: the stage's task never started (a lost message, a broker that was down, a worker
  killed with it prefetched, or a busy queue). It is sent again, later each time, so a long queue
  gains a few duplicates (which do nothing) rather than one per pass.

Each pass claims a take by compare-and-set on the values it read, so two beats never double a step.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from jobs.models import Take
from jobs.pipeline.enqueue import take_export_enqueue_on_commit, take_stage_enqueue_on_commit
from jobs.pipeline.leases import handover_seconds
from jobs.pipeline.regenerate import take_regenerate
from jobs.pipeline.settle import take_fail
from jobs.pipeline.transitions import take_note
from jobs.states import ACTIVE_STATES, STAGE_FOR_STATE, TakeState

logger = logging.getLogger(__name__)

BATCH = 500
DUE_SLACK_SECONDS = 2  # a poll sent with a countdown arrives a moment after its time: not lost
DELIVERY_BACKOFF_MAX = 5  # resends space out up to 2**5 handover periods

STAGE_WORDS = {"submit": "sending to the provider", "poll": "asking the provider", "download": "download",
               "evaluate": "evaluation"}


def takes_recover(*, now=None) -> dict[str, int]:
    now = now or timezone.now()
    due = (Take.objects.filter(state__in=ACTIVE_STATES, wake_at__lt=now - timedelta(seconds=DUE_SLACK_SECONDS))
           .select_related("provider_model").order_by("wake_at")[:BATCH])
    counts = {"restarted": 0, "resent": 0, "failed": 0}
    for take in due:
        counts[_take_recover(take, now=now)] += 1
    counts["reaped"] = takes_reap_stalled(now=now)
    counts["regenerated"] = _regenerations_finish(now=now)
    counts["exports"] = _exports_resend(now=now)
    return counts


def _take_recover(take: Take, *, now) -> str:
    if take.lease_token:
        if take.recoveries >= settings.TAKE_RECOVERIES_MAX:
            _take_fail_repeatedly(take)
            return "failed"
        return "restarted" if _stage_restart(take, now=now) else "resent"
    return "resent" if _stage_resend(take, now=now) else "restarted"


@transaction.atomic
def _stage_restart(take: Take, *, now) -> bool:
    """The stage's worker died holding the take: start the stage again, and say so on the card."""
    claimed = Take.objects.filter(pk=take.pk, state=take.state, lease_token=take.lease_token, wake_at=take.wake_at).update(
        lease_token="", recoveries=take.recoveries + 1, wake_at=now + timedelta(seconds=handover_seconds()),
    )
    if claimed:
        stage = STAGE_FOR_STATE[take.state]
        take_note(take, f"{STAGE_WORDS[stage]} started again ({take.recoveries + 1} of {settings.TAKE_RECOVERIES_MAX})")
        take_stage_enqueue_on_commit(take.pk, stage)
    return bool(claimed)


@transaction.atomic
def _stage_resend(take: Take, *, now) -> bool:
    """The stage's task never started: send it again, waiting longer each time before the next."""
    later = handover_seconds() * 2 ** min(take.deliveries, DELIVERY_BACKOFF_MAX)
    claimed = Take.objects.filter(pk=take.pk, state=take.state, lease_token="", wake_at=take.wake_at).update(
        deliveries=take.deliveries + 1, wake_at=now + timedelta(seconds=later),
    )
    if claimed:
        take_stage_enqueue_on_commit(take.pk, STAGE_FOR_STATE[take.state])
    return bool(claimed)


def _take_fail_repeatedly(take: Take) -> None:
    stage = STAGE_WORDS[STAGE_FOR_STATE[take.state]]
    take_fail(take_id=take.pk, reason=f"The {stage} stopped {take.recoveries + 1} times on our side for this take, "
                                      "so it was given up. Your credits were released.")


def takes_reap_stalled(*, now=None) -> int:
    """Fail takes that showed no sign of life for TAKE_STALL_SECONDS, so none stays stuck holding credits."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.TAKE_STALL_SECONDS)
    stalled = list(Take.objects.filter(state__in=ACTIVE_STATES, heartbeat_at__lt=cutoff).values_list("pk", flat=True))
    minutes = settings.TAKE_STALL_SECONDS // 60
    for take_id in stalled:
        take_fail(take_id=take_id, reason=f"The take showed no progress for {minutes} minutes and was stopped. Your credits were released.")
    return len(stalled)


def _regenerations_finish(*, now) -> int:
    """Takes that failed a check in the last hour but whose worker died before asking for a replacement."""
    waiting = Take.objects.filter(state=TakeState.FAILED, regeneration="", evaluation__passed=False,
                                  finished_at__gte=now - timedelta(hours=1),
                                  finished_at__lt=now - timedelta(seconds=handover_seconds()))
    return sum(1 for take in waiting.only("pk") if take_regenerate(take_id=take.pk))


EXPORT_RESENDS_MAX = 3


def _exports_resend(*, now) -> int:
    """Approved finals whose export never ran (its task was lost): send it again, a few times."""
    waiting = list(Take.objects.filter(
        tier=Take.Tier.FINAL, state=TakeState.READY, review=Take.Review.APPROVED, exported_at__isnull=True,
        files_expired_at__isnull=True, export_resends__lt=EXPORT_RESENDS_MAX,
        updated_at__lt=now - timedelta(seconds=handover_seconds() * 3),
    ).exclude(video="").values_list("pk", "export_resends")[:BATCH])
    for take_id, resends in waiting:
        if Take.objects.filter(pk=take_id, export_resends=resends).update(export_resends=resends + 1, updated_at=now):
            take_export_enqueue_on_commit(take_id)
    return len(waiting)
