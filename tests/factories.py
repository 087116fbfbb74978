"""Build test data through the real services, so tests start from states the product can reach."""

from django.contrib.auth import get_user_model

from billing.services import credits_grant
from studio.models import Project, Shot
from studio.services.projects import project_create, shot_create


def creator_create(*, username: str = "ada", password: str = "a-long-test-password", credits: int = 500):
    user = get_user_model().objects.create_user(username=username, password=password, email=f"{username}@example.com")
    if credits:
        credits_grant(user=user, amount=credits, reason="test credits")
    return user


def project_for(user, *, name: str = "Night market") -> Project:
    return project_create(owner=user, name=name, description="A short film")


def shot_for(project: Project, **overrides) -> Shot:
    fields = {
        "title": "Opening", "subject": "A lantern seller under neon signs", "scene": "Rainy night market",
        "camera": "dolly_in", "motion": "Steam rises from a food stall", "duration_seconds": 2,
        "style": "cinematic, 35mm", "negative": "text, watermark", "aspect_ratio": "16:9",
    }
    fields.update(overrides)
    return shot_create(project=project, **fields)
