"""Delete the files of drafts past DRAFT_RETENTION_DAYS (finals are kept). Run daily (cron or beat)."""

from django.core.management.base import BaseCommand

from jobs.retention import draft_retention_days, drafts_due_for_expiry, takes_expire_drafts


class Command(BaseCommand):
    help = "Delete the stored files of drafts older than DRAFT_RETENTION_DAYS; the takes keep their rows."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None, help="Override DRAFT_RETENTION_DAYS for this run")
        parser.add_argument("--dry-run", action="store_true", help="Only count the drafts that would expire")

    def handle(self, *args, days=None, dry_run=False, **options):
        days = draft_retention_days() if days is None else days
        if dry_run:
            count = drafts_due_for_expiry(retention_days=days).count()
            self.stdout.write(f"{count} draft(s) older than {days} days would expire.")
            return
        count = takes_expire_drafts(retention_days=days)
        self.stdout.write(f"Expired the files of {count} draft(s) older than {days} days.")
