"""Create the demo creator and a small project to try Shotcraft with. Safe to run again.

Everything goes through the same services the product uses; what already exists is kept.
"""

import os

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from billing.services import credit_account_ensure, credits_grant, credits_starter_grant
from studio.services.sample_project import CHARACTER_NAME, sample_project_ensure

DEMO_USERNAME = "demo"
DEMO_PASSWORD_DEFAULT = "shotcraft-demo"  # development only; set DEMO_PASSWORD to choose another
DEMO_MIN_CREDITS = 500


class Command(BaseCommand):
    help = "Create (or top up) the demo creator, project, shots and character. Safe to run again."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Run even when DJANGO_ENV=production.")

    def handle(self, *args, force: bool = False, **options):
        if settings.PRODUCTION and not force:
            raise CommandError("Refusing to create a demo account with a known password in production "
                               "(--force overrides).")
        password = os.environ.get("DEMO_PASSWORD") or DEMO_PASSWORD_DEFAULT
        with transaction.atomic():
            user = demo_creator_ensure(password=password)
            available = demo_credits_ensure(user=user)
            project = sample_project_ensure(owner=user)
        shown = "(the value of DEMO_PASSWORD)" if os.environ.get("DEMO_PASSWORD") else password
        self.stdout.write(self.style.SUCCESS(f"Demo login: username {DEMO_USERNAME!r}, password {shown}"))
        self.stdout.write(f"Demo project {project.name!r}: {project.shots.count()} shots, "
                          f"character {CHARACTER_NAME}; {available} credits available.")


def demo_creator_ensure(*, password: str):
    user, created = get_user_model().objects.get_or_create(
        username=DEMO_USERNAME, defaults={"email": "demo@example.com", "first_name": "Demo"}
    )
    if created or not user.check_password(password):
        user.set_password(password)
        user.save(update_fields=["password"])
    return user


def demo_credits_ensure(*, user) -> int:
    """Starter credits once, then a top-up whenever fewer than DEMO_MIN_CREDITS are available."""
    credits_starter_grant(user=user)
    available = credit_account_ensure(user=user).available
    if available < DEMO_MIN_CREDITS:
        credits_grant(user=user, amount=DEMO_MIN_CREDITS - available, reason="Demo top-up")
    return credit_account_ensure(user=user).available


