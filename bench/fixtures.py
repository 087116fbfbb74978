"""Benchmark data, made through the real services like the tests' factories."""

from django.conf import settings
from django.test import Client
from django.test.utils import override_settings

from billing.models import Plan
from billing.services import credit_account_plan_set
from jobs.pipeline.settle import take_fail
from jobs.pipeline.transitions import take_progress_report, take_transition
from jobs.states import TakeState
from studio.config.celery import app as celery_app
from studio.models import Project, Shot
from studio.services.projects import project_budget_set
from studio.services.takes import shot_take_request, take_approve
from tests.factories import creator_create, project_for, shot_for

# A take as cheap to store and evaluate as a take gets: 1 s, 1:1 (480×480 on the animatic), 24 frames.
TINY_CLIP = {"duration_seconds": 1, "aspect_ratio": "1:1", "camera": "static"}
BUSIEST_PLAN = "studio"  # the plan that lets a creator run the most takes at once

# Creators are made by the dozen: a fast hash keeps setup out of the figures (no one logs in with them).
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def creators_with_shots(count: int, *, prefix: str, shots_each: int = 1, plan_slug: str = "", credits: int = 0,
                        **shot_fields) -> list[list[Shot]]:
    """`count` creators, each with one project of `shots_each` shots (on `plan_slug` when given).

    Each shot asks for its own video (its title differs), so no take reuses another's stored output.
    """
    plan = Plan.objects.get(slug=plan_slug) if plan_slug else None
    creators = []
    with override_settings(PASSWORD_HASHERS=FAST_HASHERS):
        for index in range(count):
            user = creator_create(username=f"{prefix}-{index}", credits=credits)
            if plan is not None:
                credit_account_plan_set(user=user, plan=plan)
            project = project_for(user)
            creators.append([shot_for(project, title=f"Shot {number + 1}", **shot_fields) for number in range(shots_each)])
    return creators


def storyboard_in_use(*, prefix: str, shots: int = 20) -> Project:
    """A storyboard as a creator sees it mid-project: a budget, and per shot an approved take, a
    draft awaiting review, a take rendering (at some progress), a failed take, or no take yet."""
    shot_list = creators_with_shots(1, prefix=prefix, shots_each=shots, plan_slug=BUSIEST_PLAN, credits=100_000)[0]
    owner = shot_list[0].project.owner
    project_budget_set(user=owner, project=shot_list[0].project, cap_credits=50_000)
    for index, shot in enumerate(shot_list):
        kind = ("approved", "review", "rendering", "failed", "none")[index % 5]
        if kind == "none":
            continue
        take = shot_take_request(user=owner, shot=shot, idempotency_key=f"{prefix}-{index}")
        if kind in ("approved", "review"):  # the prompt cache's move: queued straight to ready
            take = take_transition(take_id=take.pk, to_state=TakeState.READY, progress=100, evaluation={"aggregate": 70.0})
            if kind == "approved":
                take_approve(take=take)
        elif kind == "rendering":
            for state in (TakeState.ROUTING, TakeState.SUBMITTING, TakeState.GENERATING):
                take_transition(take_id=take.pk, to_state=state)
            take_progress_report(take_id=take.pk, percent=10 * index % 100)
        else:
            take_fail(take_id=take.pk, reason="The provider failed.")
    tasks_purge()  # no worker is meant to render them
    return shot_list[0].project


def session_cookie(user) -> str:
    """A Cookie header value logging `user` in, as a browser holds it after the login form."""
    client = Client()
    client.force_login(user)
    return f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"


ABANDONED = "benchmark over"


def takes_abandon(take_ids: list[int]) -> None:
    """Fail the takes a benchmark leaves unfinished (their credits released) and drop their queued tasks."""
    for take_id in take_ids:
        take_fail(take_id=take_id, reason=ABANDONED)
    tasks_purge()


def tasks_purge() -> None:
    """Drop the tasks the benchmark's takes sent, which no worker is meant to run."""
    celery_app.control.purge()  # the bench's own queue (CELERY_QUEUE_PREFIX)
    with celery_app.connection_for_write() as connection:
        connection.default_channel.queue_purge(settings.EVALUATION_QUEUE)  # routed, so purge() skips it
