"""Where a run stands: each shot's progress in words, and spent vs forecast vs all-premium."""

from dataclasses import dataclass

from jobs.models import take_score
from jobs.states import TakeState
from studio.models import ProductionRun, RunShot
from studio.run_states import RunShotState
from studio.services.runs.advance import round_takes
from studio.services.runs.lifecycle import run_takes


@dataclass(frozen=True)
class ShotProgress:
    run_shot: RunShot
    label: str  # "drafting 2/3", "scoring", "escalated", "final ready · 84", "needs you"
    tone: str  # for the badge: working, waiting, done, attention, off
    score: float | None = None


@dataclass(frozen=True)
class RunProgress:
    run: ProductionRun
    shots: tuple[ShotProgress, ...]
    spent: int  # credits charged for the run's takes
    held: int  # credits held by the run's takes under way
    finals_ready: int

    @property
    def forecast(self) -> int:
        return self.run.forecast.get("expected", 0)

    @property
    def all_premium(self) -> int:
        return self.run.forecast.get("all_premium", 0)

    @property
    def saving_percent(self) -> int:
        """What the run saved against all-premium: from the spend so far once it ends, from the forecast before."""
        basis = self.spent if self.run.state == "completed" else max(self.spent, self.forecast)
        return round(100 * (1 - basis / self.all_premium)) if self.all_premium else 0

    def as_dict(self) -> dict:
        return {"spent": self.spent, "held": self.held, "forecast": self.forecast, "all_premium": self.all_premium,
                "saving_percent": self.saving_percent, "finals_ready": self.finals_ready}


def run_progress(*, run: ProductionRun) -> RunProgress:
    takes = run_takes(run)
    spent = sum(take.reservation.captured_amount or 0 for take in takes if take.reservation_id)
    held = sum(take.reservation.amount for take in takes if not take.is_terminal and take.reservation_id)
    shots = tuple(_shot_progress(run, run_shot) for run_shot in run.shots.select_related("shot", "final_take", "picked_take"))
    return RunProgress(run=run, shots=shots, spent=spent, held=held,
                       finals_ready=sum(1 for shot in shots if shot.run_shot.state == RunShotState.FINAL_READY))


def _shot_progress(run: ProductionRun, run_shot: RunShot) -> ShotProgress:
    state = run_shot.state
    if state == RunShotState.DRAFTING:
        takes = round_takes(run, run_shot)
        if any(take.state == TakeState.EVALUATING for take in takes):
            return ShotProgress(run_shot, "scoring", "working")
        done = sum(1 for take in takes if take.is_terminal)
        prefix = f"round {run_shot.round} · " if run_shot.round > 1 else ""
        return ShotProgress(run_shot, f"{prefix}drafting {done}/{len(takes)}", "working")
    if state == RunShotState.FINALIZING:
        return ShotProgress(run_shot, "escalated", "working")
    if state == RunShotState.FINAL_READY:
        score = take_score(run_shot.final_take) if run_shot.final_take else None
        return ShotProgress(run_shot, f"final ready · {score:.0f}" if score is not None else "final ready", "done", score)
    if state == RunShotState.AWAITING_APPROVAL:
        score = take_score(run_shot.picked_take) if run_shot.picked_take else None
        return ShotProgress(run_shot, "pick awaits you", "attention", score)
    if state == RunShotState.NEEDS_YOU:
        return ShotProgress(run_shot, "needs you", "attention")
    if state == RunShotState.CANCELLED:
        return ShotProgress(run_shot, "cancelled", "off")
    return ShotProgress(run_shot, "waiting" if run_shot.round == 0 else "drafting again", "waiting")
