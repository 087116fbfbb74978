"""Leases: which worker runs a take's current stage right now.

A stage takes the lease before it works and holds it only while it works: a token on the take,
with `wake_at` a few seconds ahead, renewed by a background thread. A duplicate delivery of the
same task finds the lease held (or the take moved on) and leaves. A worker that dies stops
renewing, so `wake_at` passes within TAKE_LEASE_SECONDS and recovery hands the stage to another
worker. Leases live in the database, beside the state they guard, so a Redis restart loses none.

The transition that ends a stage checks the token under the take's row lock (see
transitions.take_transition): a worker whose lease was taken over cannot move the take.
"""

import logging
import secrets
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import connection
from django.db.models import Q
from django.utils import timezone

from jobs.models import Take
from jobs.pipeline.enqueue import take_stage_enqueue_on_commit
from jobs.pipeline.timing import media_work_save

logger = logging.getLogger(__name__)


def lease_seconds() -> float:
    return float(settings.TAKE_LEASE_SECONDS)


def handover_seconds() -> float:
    """How long the next stage's task may take to start before recovery sends it again."""
    return float(settings.TAKE_HANDOVER_SECONDS)


@dataclass
class Lease:
    take_id: int
    token: str
    # What runs next, sent once the lease is given back (a task sent earlier would find it held).
    next_stage: str | None = None
    next_in: float = 0.0
    lost: threading.Event = field(default_factory=threading.Event)

    def hand_to(self, stage: str, *, after: float = 0.0) -> None:
        """When this stage ends, run `stage` for the take in `after` seconds."""
        self.next_stage, self.next_in = stage, after


def lease_acquire(take_id: int, *, states: Iterable[str]) -> Lease | None:
    """The lease on a take in one of `states`, unless another live worker holds it."""
    now = timezone.now()
    token = secrets.token_hex(16)
    free = Q(lease_token="") | Q(wake_at__isnull=True) | Q(wake_at__lt=now)
    acquired = Take.objects.filter(free, pk=take_id, state__in=list(states)).update(
        lease_token=token, wake_at=now + timedelta(seconds=lease_seconds()), heartbeat_at=now,
    )
    return Lease(take_id=take_id, token=token) if acquired else None


def lease_renew(lease: Lease) -> bool:
    now = timezone.now()
    renewed = Take.objects.filter(pk=lease.take_id, lease_token=lease.token).update(
        wake_at=now + timedelta(seconds=lease_seconds()), heartbeat_at=now,
    )
    return bool(renewed)


def lease_release(lease: Lease) -> None:
    """Give the take back, and send the stage it was handed to. Recovery looks at it again if that
    stage has not started a while after it was due. A no-op once the lease is not ours."""
    due = timezone.now() + timedelta(seconds=lease.next_in + handover_seconds())
    released = Take.objects.filter(pk=lease.take_id, lease_token=lease.token).update(lease_token="", wake_at=due)
    if released and lease.next_stage:
        take_stage_enqueue_on_commit(lease.take_id, lease.next_stage, countdown=lease.next_in)


@contextmanager
def take_leased(take_id: int, *, states: Iterable[str]) -> Iterator[Lease | None]:
    """Hold the take's lease for the block (None: someone else works on it, or it moved on)."""
    lease = lease_acquire(take_id, states=states)
    if lease is None:
        yield None
        return
    renewer = _Renewer(lease) if not connection.in_atomic_block else None  # tests run stages inside one transaction
    if renewer:
        renewer.start()
    try:
        yield lease
    finally:
        if renewer:
            renewer.stop()
        media_work_save(take_id)
        lease_release(lease)


class _Renewer(threading.Thread):
    """Renews a lease a few times per lease period until stopped, on a connection of its own."""

    def __init__(self, lease: Lease):
        super().__init__(name=f"lease-take-{lease.take_id}", daemon=True)
        self.lease = lease
        self._stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self._stopped.wait(lease_seconds() / 3):
                if not lease_renew(self.lease):
                    logger.warning("lost the lease on take %s", self.lease.take_id)
                    self.lease.lost.set()
                    return
        except Exception:
            logger.exception("renewing the lease on take %s failed", self.lease.take_id)
        finally:
            connection.close()

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=lease_seconds())


def lease_check(take: Take, lease: "Lease | None") -> bool:
    """Under the take's row lock: may the holder of `lease` (None: the creator, ops) move it?"""
    return lease is None or take.lease_token == lease.token

