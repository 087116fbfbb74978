"""Moving a run on: each shot one step at a time, from what its takes say now.

Every step is safe to run twice and from two workers at once: it re-reads the shot under its row
lock before acting, and every take it asks for has an idempotency key derived from the run, the
shot and the round, so a repeated step finds its own takes instead of paying twice. Beat calls
`production_runs_advance` every few seconds (reconciliation), so a worker that dies mid-step
only delays the run.
"""

import logging
import uuid
from dataclasses import replace

from django.db import transaction
from django.utils import timezone

from billing.exceptions import BillingError, ConcurrencyLimitReached
from jobs.compiler import ShotSpec
from jobs.exceptions import IdempotencyKeyInProgress, TakeError
from jobs.models import Take, take_score
from jobs.pipeline.quote import SEED_RANGE, spec_seed, take_quote
from jobs.pipeline.regenerate import take_failed_a_check
from jobs.pipeline.request import take_request
from jobs.states import TakeState
from jobs.stored_media import take_first_frame_stored
from studio.models import ProductionRun, RunShot
from studio.run_states import SHOT_TERMINAL, RunShotState, RunState
from studio.services.approvals import StaleApproval, approval_require_current
from studio.services.runs.transitions import run_shot_transition, run_transition
from studio.services.takes import shot_spec

logger = logging.getLogger(__name__)


def round_batch(run: ProductionRun, run_shot: RunShot, round_number: int) -> uuid.UUID:
    """The batch of one draft round's takes (regenerations of them join it)."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"run:{run.public_id}:shot:{run_shot.shot_id}:round:{round_number}")


def production_runs_advance() -> int:
    """Beat's reconciliation: advance every running run. Returns how many were looked at."""
    run_ids = list(ProductionRun.objects.filter(state=RunState.RUNNING).values_list("pk", flat=True))
    for run_id in run_ids:
        try:
            run_advance(run_id=run_id)
        except Exception:  # one broken run must not hold the others up; the next beat tries again
            logger.exception("production run %s could not be advanced", run_id)
    return len(run_ids)


def run_advance(*, run_id: int) -> ProductionRun:
    run = ProductionRun.objects.get(pk=run_id)
    ProductionRun.objects.filter(pk=run_id).update(heartbeat_at=timezone.now())
    for run_shot in run.shots.select_related("shot__project").order_by("position", "id"):
        run = ProductionRun.objects.get(pk=run_id)
        if run.state != RunState.RUNNING:
            return run
        _shot_step(run, run_shot)
    run = ProductionRun.objects.get(pk=run_id)
    if run.state == RunState.RUNNING and not run.shots.exclude(state__in=SHOT_TERMINAL).exists():
        run = run_transition(run_id=run.pk, to_state=RunState.COMPLETED, detail=_completion_note(run))
    return run


def _completion_note(run: ProductionRun) -> str:
    done = run.shots.filter(state=RunShotState.FINAL_READY).count()
    return f"{done} of {run.shots.count()} shots have a scored final"


def _shot_step(run: ProductionRun, run_shot: RunShot) -> None:
    step = {
        RunShotState.PENDING: _drafts_request,
        RunShotState.DRAFTING: _drafts_judge,
        RunShotState.AWAITING_APPROVAL: _approval_check,
        RunShotState.FINALIZING: _final_check,
    }.get(run_shot.state)
    if step is not None:
        step(run, run_shot)


# -- pending → drafting -------------------------------------------------------------------------

def _drafts_request(run: ProductionRun, run_shot: RunShot) -> None:
    round_number = run_shot.round + 1
    spec = shot_spec(shot=run_shot.shot)
    base = (spec_seed(spec) + round_number * 1_000) % SEED_RANGE
    seeds = [(base + n) % SEED_RANGE for n in range(run.drafts_per_shot)]
    try:  # quotes read Redis and storage: before the transaction, never under the row lock
        quotes = [take_quote(spec=spec, tier=Take.Tier.DRAFT, owner_id=run.owner_id, seed=seed, fresh=True,
                              pass_threshold=run.score_threshold)
                  for seed in seeds]
        with transaction.atomic():
            locked = RunShot.objects.select_for_update().get(pk=run_shot.pk)
            if locked.state != RunShotState.PENDING or locked.round != run_shot.round:
                return  # another worker took this step
            takes = [
                take_request(owner_id=run.owner_id, shot_id=run_shot.shot_id, notify_group=run.notify_group, spec=spec,
                             tier=Take.Tier.DRAFT, seed=seed, fresh=True, origin=Take.Origin.BEST_OF, quote=quote,
                             batch=round_batch(run, run_shot, round_number), budget_key=run.project.budget_key,
                             idempotency_key=f"run:{run.public_id}:shot:{run_shot.shot_id}:round:{round_number}:draft:{n}")
                for n, (seed, quote) in enumerate(zip(seeds, quotes), start=1)
            ]
            run_shot_transition(
                run_shot_id=run_shot.pk, to_state=RunShotState.DRAFTING, round=round_number, reason="",
                detail=f"round {round_number}: {len(takes)} drafts on {quotes[0].provider_model.name}, "
                       f"{sum(take.price_credits for take in takes)} credits",
            )
    except IdempotencyKeyInProgress:
        return  # another worker is requesting these very takes
    except ConcurrencyLimitReached as error:  # the plan's takes-at-once: a slot frees as takes finish
        _shot_waits(run_shot, f"Waiting for a free slot: {error}")
    except BillingError as error:
        _run_stop(run, run_shot, f"Stopped before shot “{run_shot.shot.title}” round {round_number}: {error}")
    except TakeError as error:
        run_shot_transition(run_shot_id=run_shot.pk, to_state=RunShotState.NEEDS_YOU, reason=str(error)[:500],
                            detail=str(error))


def _shot_waits(run_shot: RunShot, reason: str) -> None:
    """Not a state change: the same step runs again at the next advance."""
    RunShot.objects.filter(pk=run_shot.pk).update(reason=reason[:500])


def _run_stop(run: ProductionRun, run_shot: RunShot, reason: str) -> None:
    """The budget or the credits ran out: nothing more is requested. Takes already held finish and
    settle as usual; every shot not yet final is handed to the creator with the reason."""
    with transaction.atomic():
        for waiting in run.shots.exclude(state__in=SHOT_TERMINAL):
            run_shot_transition(run_shot_id=waiting.pk, to_state=RunShotState.NEEDS_YOU, reason=reason[:500],
                                detail="the run stopped")
        run_transition(run_id=run.pk, to_state=RunState.STOPPED, stop_reason=reason, detail=reason)


# -- drafting → awaiting approval | finalizing | pending (retry) | needs you ----------------------

def round_takes(run: ProductionRun, run_shot: RunShot) -> list[Take]:
    return list(Take.objects.filter(owner_id=run.owner_id, batch=round_batch(run, run_shot, run_shot.round))
                .select_related("provider_model").order_by("pk"))


def round_settled(takes: list[Take]) -> bool:
    """Every take ended, and none that failed a check still waits for its replacement to be asked for."""
    return bool(takes) and all(take.is_terminal for take in takes) and not any(
        take_failed_a_check(take) and not take.regeneration for take in takes)


def _drafts_judge(run: ProductionRun, run_shot: RunShot) -> None:
    takes = round_takes(run, run_shot)
    if not round_settled(takes):
        return
    passing = [take for take in takes if take.state == TakeState.READY and (take.evaluation or {}).get("passed")]
    best = max(passing, key=lambda take: (take_score(take), -take.pk), default=None)
    if best is not None and take_score(best) >= run.score_threshold:
        _pick(run, run_shot, best)
        return
    why = (f"the best draft scored {take_score(best):.0f}, below the project's {run.score_threshold}" if best
           else "no draft passed the checks")
    if run_shot.round < 1 + run.retry_rounds:
        run_shot_transition(run_shot_id=run_shot.pk, to_state=RunShotState.PENDING, reason=f"round {run_shot.round}: {why}",
                            detail=f"round {run_shot.round}: {why}; drafting again")
    else:
        rounds = f"{run_shot.round} round{'s' if run_shot.round > 1 else ''}"
        run_shot_transition(run_shot_id=run_shot.pk, to_state=RunShotState.NEEDS_YOU, picked_take=best,
                            reason=f"After {rounds} of drafts {why}.", detail=f"retries used up: {why}")


def _pick(run: ProductionRun, run_shot: RunShot, best: Take) -> None:
    note = f"picked take #{best.pk}, scored {take_score(best):.0f}"
    if run.mode == ProductionRun.Mode.REVIEW_DRAFTS:
        run_shot_transition(run_shot_id=run_shot.pk, to_state=RunShotState.AWAITING_APPROVAL, picked_take=best,
                            reason="Approve the picked draft to render its final.", detail=note)
        return
    RunShot.objects.filter(pk=run_shot.pk).update(picked_take=best)
    run_shot.picked_take = best
    _final_request(run, run_shot, best)


# -- awaiting approval → finalizing -------------------------------------------------------------

def _approval_check(run: ProductionRun, run_shot: RunShot) -> None:
    """The creator approved the pick (here or on its take card): escalate it, unless the shot changed
    since. A stale approval pays for nothing; the shot waits, saying why, until the pick is approved
    again for the shot as it is now."""
    picked = run_shot.picked_take
    if picked is None or picked.review != Take.Review.APPROVED:
        return
    try:
        approval_require_current(shot=run_shot.shot)
    except StaleApproval as error:
        _shot_waits(run_shot, str(error))
        return
    _final_request(run, run_shot, picked)


def _final_request(run: ProductionRun, run_shot: RunShot, draft: Take) -> None:
    """The draft's final: same prompt, seed and references, from the draft's first frame."""
    spec = ShotSpec.from_request(draft.request)
    spec = replace(spec, start_frame_name=take_first_frame_stored(take=draft) or spec.start_frame_name)
    try:
        quote = take_quote(spec=spec, tier=Take.Tier.FINAL, owner_id=run.owner_id, seed=draft.seed,
                           pass_threshold=run.score_threshold)
        with transaction.atomic():
            locked = RunShot.objects.select_for_update().get(pk=run_shot.pk)
            if locked.state not in (RunShotState.DRAFTING, RunShotState.AWAITING_APPROVAL):
                return
            final = take_request(
                owner_id=run.owner_id, shot_id=run_shot.shot_id, notify_group=run.notify_group, spec=spec,
                tier=Take.Tier.FINAL, seed=draft.seed, origin=Take.Origin.RENDER_FINAL, source_take_id=draft.pk,
                quote=quote, budget_key=run.project.budget_key,
                idempotency_key=f"run:{run.public_id}:shot:{run_shot.shot_id}:final:{draft.pk}",
            )
            run_shot_transition(run_shot_id=run_shot.pk, to_state=RunShotState.FINALIZING, final_take=final, reason="",
                                detail=f"escalated take #{draft.pk} to {quote.provider_model.name}, {final.price_credits} credits")
    except IdempotencyKeyInProgress:
        return
    except ConcurrencyLimitReached as error:
        _shot_waits(run_shot, f"Waiting for a free slot: {error}")
    except BillingError as error:
        _run_stop(run, run_shot, f"Stopped before the final of “{run_shot.shot.title}”: {error}")
    except TakeError as error:
        run_shot_transition(run_shot_id=run_shot.pk, to_state=RunShotState.NEEDS_YOU, reason=str(error)[:500],
                            detail=str(error))


# -- finalizing → final ready | needs you --------------------------------------------------------

def final_current(take: Take) -> Take:
    """The final, or the newest regeneration of it when it failed a check."""
    while take_failed_a_check(take) and take.regeneration == Take.Regeneration.REQUESTED:
        replacement = (Take.objects.filter(source_take=take, origin=Take.Origin.REGENERATION)
                       .select_related("provider_model").order_by("-pk").first())
        if replacement is None:
            break
        take = replacement
    return take


def _final_check(run: ProductionRun, run_shot: RunShot) -> None:
    final = final_current(run_shot.final_take)
    if final.pk != run_shot.final_take_id:
        RunShot.objects.filter(pk=run_shot.pk).update(final_take=final)
    if not final.is_terminal or (take_failed_a_check(final) and not final.regeneration):
        return
    if final.state == TakeState.READY:
        run_shot_transition(run_shot_id=run_shot.pk, to_state=RunShotState.FINAL_READY, final_take=final, reason="",
                            detail=f"final take #{final.pk} scored {take_score(final):.0f}")
    else:
        reason = final.failure_reason or f"the final was {final.get_state_display().lower()}"
        run_shot_transition(run_shot_id=run_shot.pk, to_state=RunShotState.NEEDS_YOU, final_take=final,
                            reason=f"The final did not come out: {reason}"[:500], detail=reason)
