"""Every event kind a creator's endpoint may subscribe to, in one place.

Add a kind here (and record it from the service that makes the change) and it appears in the
endpoint form, the API's schema and the admin. Production runs and cuts add `run.*` and
`cut.ready` the same way when they exist.
"""

from jobs.states import TakeState

PAYLOAD_VERSION = 1  # bumped when a payload's shape changes incompatibly

TAKE_STATES_PUBLISHED = (
    TakeState.QUEUED, TakeState.GENERATING, TakeState.EVALUATING, TakeState.READY, TakeState.FAILED, TakeState.CANCELLED,
)

EVENT_KINDS: dict[str, str] = {
    **{f"take.{state}": f"A take became {TakeState(state).label.lower()}" for state in TAKE_STATES_PUBLISHED},
    "credits.low": "Available credits fell below the low-balance line",
    "purchase.completed": "A credit purchase was paid and its credits added",
}


def take_kind(state: str) -> str | None:
    """The event kind for a take entering `state`, or None for the pipeline's inner states."""
    kind = f"take.{state}"
    return kind if kind in EVENT_KINDS else None
