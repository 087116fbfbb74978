"""Starting a production run, and the creator's controls over it: pause, resume, cancel, approve a pick."""

import logging

from django.db import IntegrityError, transaction

from jobs.models import Take
from jobs.pipeline.settle import TakeNotCancellable, take_cancel
from studio.exceptions import StudioError
from studio.models import ProductionRun, Project, RunShot, Shot
from studio.run_states import SHOT_TERMINAL, RunShotState, RunState
from studio.selectors import storyboard_shots
from studio.services.runs.advance import final_current, round_batch, run_advance
from studio.services.runs.enqueue import production_run_advance_enqueue_on_commit
from studio.services.runs.forecast import run_forecast
from studio.services.runs.transitions import (
    run_changed_publish_on_commit,
    run_shot_transition,
    run_transition,
)
from studio.services.runs.webhooks import run_started_record
from studio.services.takes import take_approve

logger = logging.getLogger(__name__)

DRAFTS_PER_SHOT_MAX = 4


def run_start(
    *, user, project: Project, mode: str = ProductionRun.Mode.AUTOPILOT, shots: list[Shot] | None = None,
    drafts_per_shot: int = 3, retry_rounds: int = 1, idempotency_key: str | None = None,
) -> ProductionRun:
    """Forecast, then start a run over the storyboard (or the chosen shots). The same key returns the same run.

    Nothing is spent here: the first advance (right after commit, and every beat) asks for drafts.
    """
    if idempotency_key and (existing := ProductionRun.objects.filter(owner=user, idempotency_key=idempotency_key).first()):
        return existing
    if mode not in ProductionRun.Mode.values:
        raise StudioError(f"Unknown mode “{mode}”: choose review_drafts or autopilot.")
    if not 1 <= drafts_per_shot <= DRAFTS_PER_SHOT_MAX:
        raise StudioError(f"A run makes 1 to {DRAFTS_PER_SHOT_MAX} drafts per shot.")
    shots = list(shots if shots is not None else storyboard_shots(project=project))
    if not shots:
        raise StudioError("Add shots to the storyboard before starting a run.")
    if project.runs.filter(state__in=[RunState.RUNNING, RunState.PAUSED]).exists():
        raise StudioError("This storyboard already has a run under way: pause or cancel it first.")
    forecast = run_forecast(shots=shots, drafts=drafts_per_shot, retry_rounds=retry_rounds,
                            threshold=project.score_threshold)
    try:
        run = _run_create(user=user, project=project, mode=mode, shots=shots, drafts_per_shot=drafts_per_shot,
                          retry_rounds=retry_rounds, idempotency_key=idempotency_key, forecast=forecast.as_dict())
    except IntegrityError:  # the same key, sent twice at once: the first one's run is the answer
        return ProductionRun.objects.get(owner=user, idempotency_key=idempotency_key)
    return run


@transaction.atomic
def _run_create(*, user, project, mode, shots, drafts_per_shot, retry_rounds, idempotency_key, forecast) -> ProductionRun:
    run = ProductionRun.objects.create(
        project=project, owner=user, mode=mode, drafts_per_shot=drafts_per_shot, retry_rounds=retry_rounds,
        score_threshold=project.score_threshold, forecast=forecast, idempotency_key=idempotency_key or None,
    )
    RunShot.objects.bulk_create([RunShot(run=run, shot=shot, position=index) for index, shot in enumerate(shots)])
    run.events.create(to_state=run.state, detail=f"started: {len(shots)} shots, forecast {forecast['expected']} credits")
    run_started_record(run=run)
    run_changed_publish_on_commit(run)
    production_run_advance_enqueue_on_commit(run.pk)
    return run


def run_pause(*, run: ProductionRun) -> ProductionRun:
    """Nothing new is asked for while paused; takes already under way finish."""
    return run_transition(run_id=run.pk, to_state=RunState.PAUSED, detail="paused by the creator")


def run_resume(*, run: ProductionRun) -> ProductionRun:
    run = run_transition(run_id=run.pk, to_state=RunState.RUNNING, detail="resumed by the creator")
    return run_advance(run_id=run.pk)


def run_cancel(*, run: ProductionRun) -> ProductionRun:
    """Stop the run and every take it has under way; their held credits come back."""
    run = run_transition(run_id=run.pk, to_state=RunState.CANCELLED, detail="cancelled by the creator")
    for take in run_takes_working(run):
        try:
            take_cancel(take_id=take.pk)  # tells the vendor first: network, outside any transaction
        except TakeNotCancellable:
            pass  # evaluating: it settles on its own in a moment
    with transaction.atomic():
        for run_shot in run.shots.exclude(state__in=SHOT_TERMINAL):
            run_shot_transition(run_shot_id=run_shot.pk, to_state=RunShotState.CANCELLED, detail="the run was cancelled")
    return run


def run_takes(run: ProductionRun) -> list[Take]:
    """Every take the run asked for: its draft rounds (with their regenerations) and its finals."""
    batches = [round_batch(run, run_shot, number) for run_shot in run.shots.all() for number in range(1, run_shot.round + 1)]
    takes = list(Take.objects.filter(owner_id=run.owner_id, batch__in=batches).select_related("reservation"))
    finals = [run_shot.final_take for run_shot in run.shots.select_related("final_take") if run_shot.final_take]
    seen = {take.pk for take in takes}
    for final in finals:
        for take in _final_chain(final):
            if take.pk not in seen:
                seen.add(take.pk)
                takes.append(take)
    return takes


def _final_chain(final: Take) -> list[Take]:
    """A final and its regenerations, oldest first, back from the run's current final."""
    first = final
    while first.origin == Take.Origin.REGENERATION and first.source_take_id:
        first = Take.objects.get(pk=first.source_take_id)
    chain = [first]
    current = final_current(first)
    while chain[-1].pk != current.pk:
        chain.append(Take.objects.filter(source_take=chain[-1], origin=Take.Origin.REGENERATION).order_by("-pk").first())
    return chain


def run_takes_working(run: ProductionRun) -> list[Take]:
    return [take for take in run_takes(run) if not take.is_terminal]


def run_shot_approve(*, run_shot: RunShot) -> RunShot:
    """The creator approves a shot's picked draft (review-drafts mode): its final is asked for now."""
    if run_shot.state != RunShotState.AWAITING_APPROVAL or run_shot.picked_take is None:
        raise StudioError("This shot has no pick waiting for your approval.")
    take_approve(take=run_shot.picked_take)
    if run_shot.run.state == RunState.RUNNING:
        run_advance(run_id=run_shot.run_id)
    return RunShot.objects.get(pk=run_shot.pk)
