"""Every event kind a creator's endpoint may subscribe to, in one place.

Add a kind here (and record it from the service that makes the change) and it appears in the
endpoint form, the API's schema and the admin. Take events come from the take's transition
function, run events from the run's (studio/services/runs/transitions.py), cut events from the
cut render's (studio/cuts/rendering.py).
"""

from jobs.states import TakeState

PAYLOAD_VERSION = 1  # bumped when a payload's shape changes incompatibly

TAKE_STATES_PUBLISHED = (
    TakeState.QUEUED, TakeState.GENERATING, TakeState.EVALUATING, TakeState.READY, TakeState.FAILED, TakeState.CANCELLED,
)

EVENT_KINDS: dict[str, str] = {
    **{f"take.{state}": f"A take became {TakeState(state).label.lower()}" for state in TAKE_STATES_PUBLISHED},
    "run.started": "A production run started",
    "run.paused": "A production run was paused",
    "run.resumed": "A paused production run was resumed",
    "run.shot_awaiting_approval": "A run's shot has a picked draft that awaits your approval",
    "run.shot_escalated": "A run escalated a shot's picked draft to a final",
    "run.shot_final_ready": "A run's shot has its final ready",
    "run.shot_needs_you": "A run handed a shot back to you",
    "run.completed": "A production run completed",
    "run.stopped": "A production run stopped (its budget or the credits ran out)",
    "run.cancelled": "A production run was cancelled",
    "cut.ready": "A cut render is ready to download",
    "cut.failed": "A cut render failed",
    "credits.low": "Available credits fell below the low-balance line",
    "purchase.completed": "A credit purchase was paid and its credits added",
}


RUN_KINDS = {"paused": "run.paused", "running": "run.resumed", "completed": "run.completed", "stopped": "run.stopped",
             "cancelled": "run.cancelled"}
RUN_SHOT_KINDS = {"awaiting_approval": "run.shot_awaiting_approval", "finalizing": "run.shot_escalated",
                  "final_ready": "run.shot_final_ready", "needs_you": "run.shot_needs_you"}
CUT_RENDER_KINDS = {"ready": "cut.ready", "failed": "cut.failed"}


def take_kind(state: str) -> str | None:
    """The event kind for a take entering `state`, or None for the pipeline's inner states."""
    kind = f"take.{state}"
    return kind if kind in EVENT_KINDS else None
