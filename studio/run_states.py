"""The production run's lifecycles as data: the run's and each of its shots'.

`studio.services.runs.transitions` is their only writer. A shot's draft round that found nothing
good enough goes back to pending for another round, within the run's retry budget.
"""

from django.db import models


class RunState(models.TextChoices):
    RUNNING = "running", "Running"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"
    STOPPED = "stopped", "Stopped"  # could not go on: the budget or the credits ran out
    CANCELLED = "cancelled", "Cancelled"


RUN_TERMINAL = frozenset({RunState.COMPLETED, RunState.STOPPED, RunState.CANCELLED})

RUN_TRANSITIONS: dict[str, frozenset[str]] = {
    RunState.RUNNING: frozenset({RunState.PAUSED, RunState.COMPLETED, RunState.STOPPED, RunState.CANCELLED}),
    RunState.PAUSED: frozenset({RunState.RUNNING, RunState.CANCELLED}),
    RunState.COMPLETED: frozenset(),
    RunState.STOPPED: frozenset(),
    RunState.CANCELLED: frozenset(),
}


class RunShotState(models.TextChoices):
    PENDING = "pending", "Waiting"
    DRAFTING = "drafting", "Drafting"
    AWAITING_APPROVAL = "awaiting_approval", "Pick awaits you"
    FINALIZING = "finalizing", "Escalated to a final"
    FINAL_READY = "final_ready", "Final ready"
    NEEDS_YOU = "needs_you", "Needs you"
    CANCELLED = "cancelled", "Cancelled"


SHOT_TERMINAL = frozenset({RunShotState.FINAL_READY, RunShotState.NEEDS_YOU, RunShotState.CANCELLED})
_HANDED_BACK = {RunShotState.NEEDS_YOU, RunShotState.CANCELLED}

SHOT_TRANSITIONS: dict[str, frozenset[str]] = {
    RunShotState.PENDING: frozenset({RunShotState.DRAFTING} | _HANDED_BACK),
    # A round with no draft good enough goes back to pending for the next round.
    RunShotState.DRAFTING: frozenset({RunShotState.PENDING, RunShotState.AWAITING_APPROVAL, RunShotState.FINALIZING}
                                     | _HANDED_BACK),
    RunShotState.AWAITING_APPROVAL: frozenset({RunShotState.FINALIZING} | _HANDED_BACK),
    RunShotState.FINALIZING: frozenset({RunShotState.FINAL_READY} | _HANDED_BACK),
    RunShotState.FINAL_READY: frozenset(),
    RunShotState.NEEDS_YOU: frozenset(),
    RunShotState.CANCELLED: frozenset(),
}


def run_move_allowed(from_state: str, to_state: str) -> bool:
    return to_state in RUN_TRANSITIONS[from_state]


def shot_move_allowed(from_state: str, to_state: str) -> bool:
    return to_state in SHOT_TRANSITIONS[from_state]
