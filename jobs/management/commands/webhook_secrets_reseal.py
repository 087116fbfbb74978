"""Seal every webhook endpoint secret under the current SECRET_KEY: run after rotating SECRET_KEY
(old key kept in SECRET_KEY_FALLBACKS), then the old key may leave the fallbacks."""

from django.core.management.base import BaseCommand

from jobs.outbound.endpoints import webhook_secrets_reseal


class Command(BaseCommand):
    help = "Seal every webhook endpoint secret under the current SECRET_KEY (after a key rotation)."

    def handle(self, *args, **options):
        self.stdout.write(f"Resealed the secrets of {webhook_secrets_reseal()} webhook endpoint(s).")
