"""Production runs: a persisted state machine that spends only through take requests.

Takes are driven through the real pipeline stages in the test process against Runway's emulator
(drafts on Gen-4.5 Turbo above the draft quality floor, finals on Gen-4.5 Aleph); the run is
advanced as beat would, step by step.
"""

import pytest

from billing.selectors import (
    credit_accounts_out_of_balance,
    reservations_open_for_user,
    spend_budget_usage,
)
from jobs.models import Take
from jobs.states import TakeState
from providers.emulators.sandbox import emulator_create
from studio.exceptions import StudioError
from studio.models import ProductionRun, RunEvent, Shot
from studio.run_states import RUN_TRANSITIONS, SHOT_TRANSITIONS, RunShotState, RunState
from studio.services.projects import project_budget_set, shot_update
from studio.services.runs.advance import run_advance
from studio.services.runs.lifecycle import (
    run_cancel,
    run_pause,
    run_resume,
    run_shot_approve,
    run_start,
    run_takes,
)
from studio.services.runs.progress import run_progress
from studio.services.runs.transitions import (
    IllegalRunTransition,
    run_shot_transition,
    run_transition,
)
from studio.services.takes import take_approve
from tests.factories import shot_for
from tests.jobs.test_remote_pipeline import drive

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def storyboard(catalog, project, settings):
    with emulator_create("runway", latency_seconds=0.3) as emulator:
        settings.PROVIDER_SANDBOX_URLS = {"runway": emulator.url}
        settings.DRAFT_QUALITY_FLOOR = 60
        project.score_threshold = 30  # the emulator's clips score about 40: little motion, no prompt model
        project.save(update_fields=["score_threshold"])
        yield [shot_for(project, title=f"Shot {n}", duration_seconds=2) for n in range(1, 3)]


def run_takes_drive(run: ProductionRun) -> None:
    for take in run_takes(run):
        if not take.is_terminal:
            drive(take.pk)


def run_until_settled(run: ProductionRun, *, steps: int = 12) -> ProductionRun:
    """Advance and drive the run's takes, as beat and the workers would, until it ends or waits on the creator."""
    for _ in range(steps):
        run = run_advance(run_id=run.pk)
        run_takes_drive(run)
        if run.state != RunState.RUNNING or not run.shots.exclude(
                state__in=[RunShotState.FINAL_READY, RunShotState.NEEDS_YOU, RunShotState.AWAITING_APPROVAL]).exists():
            return run_advance(run_id=run.pk)
    return run


def assert_ledger_balanced(user) -> None:
    assert credit_accounts_out_of_balance() == []
    assert not reservations_open_for_user(user_id=user.pk).exists()


# -- the state machine ---------------------------------------------------------------------------

def test_every_run_transition_in_the_table_is_allowed_and_every_other_refused(storyboard, creator, project):
    run = run_start(user=creator, project=project, drafts_per_shot=1)
    for from_state, allowed in RUN_TRANSITIONS.items():
        for to_state in RunState.values:
            if to_state == from_state:
                continue
            ProductionRun.objects.filter(pk=run.pk).update(state=from_state)
            if to_state in allowed:
                assert run_transition(run_id=run.pk, to_state=to_state).state == to_state
            else:
                with pytest.raises(IllegalRunTransition):
                    run_transition(run_id=run.pk, to_state=to_state)
                assert ProductionRun.objects.get(pk=run.pk).state == from_state


def test_every_shot_transition_in_the_table_is_allowed_and_every_other_refused(storyboard, creator, project):
    run_shot = run_start(user=creator, project=project, drafts_per_shot=1).shots.first()
    for from_state, allowed in SHOT_TRANSITIONS.items():
        for to_state in RunShotState.values:
            if to_state == from_state:
                continue
            type(run_shot).objects.filter(pk=run_shot.pk).update(state=from_state)
            if to_state in allowed:
                assert run_shot_transition(run_shot_id=run_shot.pk, to_state=to_state).state == to_state
            else:
                with pytest.raises(IllegalRunTransition):
                    run_shot_transition(run_shot_id=run_shot.pk, to_state=to_state)


def test_a_repeated_transition_is_a_no_op_with_no_history_row(storyboard, creator, project):
    run = run_start(user=creator, project=project, drafts_per_shot=1)
    run_pause(run=run)
    events = RunEvent.objects.filter(run=run).count()
    assert run_transition(run_id=run.pk, to_state=RunState.PAUSED).state == RunState.PAUSED
    assert RunEvent.objects.filter(run=run).count() == events


# -- autopilot -----------------------------------------------------------------------------------

def test_autopilot_drafts_picks_the_best_escalates_and_scores_a_final_for_every_shot(storyboard, creator, project):
    run = run_start(user=creator, project=project, drafts_per_shot=2, idempotency_key="run-1")
    assert run.forecast["expected"] > 0 and run.forecast["all_premium"] >= run.forecast["expected"]
    run = run_until_settled(run)
    assert run.state == RunState.COMPLETED
    for run_shot in run.shots.select_related("final_take", "picked_take"):
        assert run_shot.state == RunShotState.FINAL_READY
        drafts = Take.objects.filter(shot=run_shot.shot, tier=Take.Tier.DRAFT)
        assert drafts.count() == 2 and run_shot.picked_take in drafts
        best = run_shot.picked_take
        assert best.evaluation["aggregate"] == max(take.evaluation["aggregate"] for take in drafts)
        final = run_shot.final_take
        assert (final.tier, final.state, final.source_take_id, final.seed) == ("final", TakeState.READY, best.pk, best.seed)
        assert final.compiled_prompt == best.compiled_prompt and final.evaluation["aggregate"] is not None
    progress = run_progress(run=run)
    assert progress.spent == sum(take.price_credits for take in run_takes(run))
    assert {line.label.split(" · ")[0] for line in progress.shots} == {"final ready"}
    assert_ledger_balanced(creator)


def test_starting_twice_with_one_key_is_one_run_and_advancing_twice_requests_nothing_more(storyboard, creator, project):
    first = run_start(user=creator, project=project, drafts_per_shot=2, idempotency_key="same")
    assert run_start(user=creator, project=project, drafts_per_shot=2, idempotency_key="same").pk == first.pk
    run_advance(run_id=first.pk)
    run_advance(run_id=first.pk)  # a duplicated delivery, or beat and the start's own task at once
    assert Take.objects.filter(shot__project=project).count() == 4
    # A worker that died after committing the drafts but before moving the shot on is impossible
    # (one transaction); one that died before committing left nothing: put a shot back as if so.
    run_shot = first.shots.first()
    type(run_shot).objects.filter(pk=run_shot.pk).update(state=RunShotState.PENDING, round=0)
    run_advance(run_id=first.pk)
    assert Take.objects.filter(shot__project=project).count() == 4  # the same idempotency keys find the same takes


# -- review drafts ---------------------------------------------------------------------------------

def test_review_drafts_spends_nothing_on_finals_before_the_creator_approves(storyboard, creator, project):
    run = run_start(user=creator, project=project, mode=ProductionRun.Mode.REVIEW_DRAFTS, drafts_per_shot=2)
    run = run_until_settled(run)
    assert run.state == RunState.RUNNING
    assert set(run.shots.values_list("state", flat=True)) == {RunShotState.AWAITING_APPROVAL}
    assert not Take.objects.filter(shot__project=project, tier=Take.Tier.FINAL).exists()
    assert not reservations_open_for_user(user_id=creator.pk).exists()
    run_advance(run_id=run.pk)
    assert not Take.objects.filter(shot__project=project, tier=Take.Tier.FINAL).exists()

    first = run.shots.order_by("position").first()
    run_shot_approve(run_shot=first)
    first.refresh_from_db()
    assert first.state == RunShotState.FINALIZING and first.picked_take.review == Take.Review.APPROVED
    assert Take.objects.filter(shot__project=project, tier=Take.Tier.FINAL).count() == 1
    run = run_until_settled(run)
    first.refresh_from_db()
    assert first.state == RunShotState.FINAL_READY
    assert run.shots.filter(state=RunShotState.AWAITING_APPROVAL).count() == 1
    with pytest.raises(StudioError):
        run_shot_approve(run_shot=first)


def test_review_drafts_never_escalates_on_an_approval_the_shot_outgrew(storyboard, creator, project):
    first = storyboard[0]
    run = run_start(user=creator, project=project, mode=ProductionRun.Mode.REVIEW_DRAFTS, shots=[first],
                    drafts_per_shot=1)
    run = run_until_settled(run)
    run_shot = run.shots.get()
    assert run_shot.state == RunShotState.AWAITING_APPROVAL
    take_approve(take=run_shot.picked_take)  # approved on its take card, then the shot is edited
    shot_update(shot=Shot.objects.get(pk=first.pk), subject="A fishmonger under neon signs")

    run_advance(run_id=run.pk)
    run_shot.refresh_from_db()
    assert run_shot.state == RunShotState.AWAITING_APPROVAL and "approval is stale" in run_shot.reason
    assert not Take.objects.filter(shot__project=project, tier=Take.Tier.FINAL).exists()
    assert not reservations_open_for_user(user_id=creator.pk).exists()

    run_shot_approve(run_shot=run_shot)  # approved again, for the shot as it is now: the final goes ahead
    run_shot.refresh_from_db()
    assert run_shot.state == RunShotState.FINALIZING and run_shot.reason == ""
    assert Take.objects.filter(shot__project=project, tier=Take.Tier.FINAL).count() == 1


# -- threshold and retries -----------------------------------------------------------------------

def test_a_round_below_the_threshold_is_retried_then_handed_to_the_creator_with_the_reason(storyboard, creator, project):
    project.score_threshold = 100  # no animatic scores a perfect 100
    project.save()
    run = run_start(user=creator, project=project, drafts_per_shot=1, retry_rounds=1)
    run = run_until_settled(run)
    assert run.state == RunState.COMPLETED
    for run_shot in run.shots.all():
        assert (run_shot.state, run_shot.round) == (RunShotState.NEEDS_YOU, 2)
        assert run_shot.reason.startswith("After 2 rounds of drafts the best draft scored")
        assert "below the project's 100" in run_shot.reason
    assert Take.objects.filter(shot__project=project, tier=Take.Tier.DRAFT).count() == 4
    assert not Take.objects.filter(shot__project=project, tier=Take.Tier.FINAL).exists()
    history = list(RunEvent.objects.filter(run=run, run_shot=run.shots.first()).values_list("to_state", flat=True))
    assert history == ["drafting", "pending", "drafting", "needs_you"]
    assert_ledger_balanced(creator)


# -- money -------------------------------------------------------------------------------------

def test_budget_exhaustion_mid_run_stops_cleanly_and_never_spends_past_the_budget(storyboard, creator, project):
    run = run_start(user=creator, project=project, drafts_per_shot=2)
    per_shot = run.forecast["shots"][0]["draft_credits"] * 2
    project_budget_set(user=creator, project=project, cap_credits=per_shot)  # the first shot's drafts, no more
    run = run_until_settled(run)
    assert run.state == RunState.STOPPED
    assert "budget" in run.stop_reason.lower()
    assert set(run.shots.values_list("state", flat=True)) == {RunShotState.NEEDS_YOU}
    usage = spend_budget_usage(user_id=creator.pk, key=project.budget_key)
    assert usage.spent <= per_shot
    run_takes_drive(run)  # the drafts already held finish and settle as usual
    assert all(take.is_terminal for take in run_takes(run))
    assert_ledger_balanced(creator)


def test_cancel_stops_the_takes_under_way_and_releases_what_they_hold(storyboard, creator, project):
    run = run_start(user=creator, project=project, drafts_per_shot=2)
    run_advance(run_id=run.pk)
    assert reservations_open_for_user(user_id=creator.pk).count() == 4
    run = run_cancel(run=run)
    assert run.state == RunState.CANCELLED
    assert set(run.shots.values_list("state", flat=True)) == {RunShotState.CANCELLED}
    assert {take.state for take in run_takes(run)} == {TakeState.CANCELLED}
    assert_ledger_balanced(creator)
    with pytest.raises(IllegalRunTransition):
        run_resume(run=run)


def test_a_paused_run_asks_for_nothing_until_it_is_resumed(storyboard, creator, project):
    run = run_start(user=creator, project=project, drafts_per_shot=1)
    run_pause(run=run)
    run_advance(run_id=run.pk)
    assert not Take.objects.filter(shot__project=project).exists()
    run_resume(run=run)
    assert Take.objects.filter(shot__project=project).count() == 2


def test_only_one_run_at_a_time_per_storyboard(storyboard, creator, project):
    run_start(user=creator, project=project, drafts_per_shot=1)
    with pytest.raises(StudioError, match="already has a run"):
        run_start(user=creator, project=project, drafts_per_shot=1)
