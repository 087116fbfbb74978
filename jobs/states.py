"""The take lifecycle as data. `jobs.pipeline.transitions.take_transition` is the only writer."""

from django.db import models


class TakeState(models.TextChoices):
    QUEUED = "queued", "Queued"
    ROUTING = "routing", "Routing"
    SUBMITTING = "submitting", "Submitting"
    GENERATING = "generating", "Generating"
    DOWNLOADING = "downloading", "Downloading"
    EVALUATING = "evaluating", "Evaluating"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


TERMINAL_STATES = frozenset({TakeState.READY, TakeState.FAILED, TakeState.CANCELLED})

_STOPPABLE = {TakeState.FAILED, TakeState.CANCELLED}

ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    # An identical earlier request's stored output is reused (the prompt cache): straight to ready.
    TakeState.QUEUED: frozenset({TakeState.ROUTING, TakeState.READY} | _STOPPABLE),
    TakeState.ROUTING: frozenset({TakeState.SUBMITTING} | _STOPPABLE),
    # A failed provider sends the take back to routing, to its plan's next provider.
    TakeState.SUBMITTING: frozenset({TakeState.GENERATING, TakeState.ROUTING} | _STOPPABLE),
    TakeState.GENERATING: frozenset({TakeState.DOWNLOADING, TakeState.ROUTING} | _STOPPABLE),
    TakeState.DOWNLOADING: frozenset({TakeState.EVALUATING} | _STOPPABLE),
    # Evaluation is our own work on a stored file: there is nothing at a vendor left to cancel.
    TakeState.EVALUATING: frozenset({TakeState.READY, TakeState.FAILED}),
    TakeState.READY: frozenset(),
    TakeState.FAILED: frozenset(),
    TakeState.CANCELLED: frozenset(),
}

# States in which a take is doing work and so must show signs of life (see takes_reap_stalled).
ACTIVE_STATES = frozenset(set(TakeState) - TERMINAL_STATES)


def is_allowed(from_state: str, to_state: str) -> bool:
    return to_state in ALLOWED_TRANSITIONS[from_state]


class Stage:
    """The pipeline's stages, in the order a take passes them; each is a task of its own."""

    SUBMIT = "submit"
    POLL = "poll"
    DOWNLOAD = "download"
    EVALUATE = "evaluate"


# Which stage moves a take on from each working state (what recovery runs when a take goes quiet).
STAGE_FOR_STATE: dict[str, str] = {
    TakeState.QUEUED: Stage.SUBMIT,
    TakeState.ROUTING: Stage.SUBMIT,
    TakeState.SUBMITTING: Stage.SUBMIT,
    TakeState.GENERATING: Stage.POLL,
    TakeState.DOWNLOADING: Stage.DOWNLOAD,
    TakeState.EVALUATING: Stage.EVALUATE,
}
