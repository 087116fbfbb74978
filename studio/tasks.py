"""Celery entry points for production runs: an id in, one service call, nothing else.

Advancing is idempotent (studio/services/runs/advance.py), so a duplicated or lost message costs
nothing: beat advances every running run every few seconds anyway.
"""

from celery import shared_task

from studio.services.runs.advance import production_runs_advance, run_advance


@shared_task(name="studio.production_run_advance", acks_late=True, soft_time_limit=120, time_limit=150)
def production_run_advance_task(run_id: int) -> None:
    run_advance(run_id=run_id)


@shared_task(name="studio.production_runs_advance", soft_time_limit=120, time_limit=150)
def production_runs_advance_task() -> int:
    return production_runs_advance()
