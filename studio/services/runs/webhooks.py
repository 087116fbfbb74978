"""What a production run tells its creator's webhook endpoints (jobs/outbound), recorded by the
run's transition functions under their lock, so the event commits with the change or not at all.

Payloads carry ids, states and counts, and a version (added by jobs.outbound.record): never
secrets or signed URLs.
"""

from django.db.models import Count, Q

from jobs.models import Take
from jobs.outbound.kinds import RUN_KINDS, RUN_SHOT_KINDS
from jobs.outbound.record import outbound_event_record
from studio.models import ProductionRun, RunShot
from studio.run_states import RunShotState, RunState


def run_started_record(*, run: ProductionRun) -> None:
    outbound_event_record(owner_id=run.owner_id, kind="run.started", data=lambda: _run_data(run, from_state=""))


def run_event_record(*, run: ProductionRun, from_state: str) -> None:
    """The run entered a state creators hear about (every state but the first)."""
    kind = RUN_KINDS.get(run.state)
    if kind is not None:
        outbound_event_record(owner_id=run.owner_id, kind=kind, data=lambda: _run_data(run, from_state=from_state))


def run_shot_event_record(*, run_shot: RunShot, from_state: str) -> None:
    """One of the run's shots moved on: awaiting approval, escalated to a final, final ready, or handed back."""
    kind = RUN_SHOT_KINDS.get(run_shot.state)
    if kind is None:
        return
    run = run_shot.run
    outbound_event_record(owner_id=run.owner_id, kind=kind, data=lambda: {
        "run_id": str(run.public_id), "project_id": run.project_id, "shot_id": run_shot.shot_id,
        "state": run_shot.state, "previous_state": from_state, "round": run_shot.round,
        "picked_take_id": _public_id(run_shot.picked_take_id), "final_take_id": _public_id(run_shot.final_take_id),
        "reason": run_shot.reason,
    })


def _run_data(run: ProductionRun, *, from_state: str) -> dict:
    shots = run.shots.aggregate(total=Count("id"), final_ready=Count("id", filter=Q(state=RunShotState.FINAL_READY)),
                                needs_you=Count("id", filter=Q(state=RunShotState.NEEDS_YOU)))
    return {"run_id": str(run.public_id), "project_id": run.project_id, "state": run.state, "previous_state": from_state,
            "mode": run.mode, "shots": shots, "forecast_credits": run.forecast.get("expected"),
            "stop_reason": run.stop_reason if run.state == RunState.STOPPED else ""}


def _public_id(take_id: int | None) -> str | None:
    if take_id is None:
        return None
    return str(Take.objects.values_list("public_id", flat=True).get(pk=take_id))
