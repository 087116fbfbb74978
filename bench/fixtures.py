"""Benchmark data, made through the real services like the tests' factories."""

from django.conf import settings
from django.test import Client
from django.test.utils import override_settings

from billing.models import Plan
from billing.services import credit_account_plan_set
from jobs.pipeline.settle import take_fail
from studio.config.celery import app as celery_app
from studio.models import Shot
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
    celery_app.control.purge()  # the bench's own queue (CELERY_QUEUE_PREFIX)
    with celery_app.connection_for_write() as connection:
        connection.default_channel.queue_purge(settings.EVALUATION_QUEUE)  # routed, so purge() skips it
