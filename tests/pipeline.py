"""Drive takes through the pipeline's stages in the test process, step by step, as workers would.

The stages are the real ones (jobs.pipeline); only the scheduling is ours: instead of Celery
sending each stage's task, `take_drive` runs the stage a take's state calls for, and runs the
local render service's jobs inline, until the take ends or waits at a remote provider.
"""

from jobs.models import Take
from jobs.pipeline.download import take_download
from jobs.pipeline.evaluate import take_evaluate
from jobs.pipeline.poll import take_open_attempt, take_poll
from jobs.pipeline.submit import take_submit
from jobs.states import STAGE_FOR_STATE, Stage, TakeState
from providers.local.renders import render_run
from providers.registry import LOCAL_FAMILIES

STAGES = {Stage.SUBMIT: take_submit, Stage.POLL: take_poll, Stage.DOWNLOAD: take_download, Stage.EVALUATE: take_evaluate}


def take_stage_run(take_id: int) -> Take:
    """Run the one stage the take's state calls for (its local render first, when it waits for one)."""
    take = Take.objects.select_related("provider_model").get(pk=take_id)
    stage = STAGE_FOR_STATE[take.state]
    if stage == Stage.POLL and take.provider_model.api_family in LOCAL_FAMILIES:
        local_render_run(take)
    Take.objects.filter(pk=take_id).update(lease_token="")  # as if the last stage's worker let go
    STAGES[stage](take_id=take_id)
    return Take.objects.get(pk=take_id)


def local_render_run(take: Take) -> None:
    attempt = take_open_attempt(take)
    if attempt is not None:
        render_run(job_id=attempt.provider_job_id)


def take_drive(take_id: int, *, until: frozenset[str] | set[str] = frozenset(), max_steps: int = 40) -> Take:
    """Run stages until the take ends, reaches a state in `until`, or stops moving (a remote vendor
    still working, a provider's rate limit)."""
    take = Take.objects.get(pk=take_id)
    for _ in range(max_steps):
        if take.is_terminal or take.state in until:
            return take
        before = (take.state, take.provider_model_id, take.attempts.count())
        take = take_stage_run(take_id)
        if (take.state, take.provider_model_id, take.attempts.count()) == before:
            return take
    return take


def take_render(take_id: int) -> Take:
    """Render and store a take, stopping before its evaluation (the evaluation worker's part)."""
    return take_drive(take_id, until={TakeState.EVALUATING})


def take_made_ready(take_id: int) -> Take:
    take = take_drive(take_id)
    assert take.state == TakeState.READY, take.failure_reason
    return take
