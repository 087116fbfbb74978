"""Draft retention: a draft's files are deleted some days after it finished; finals are kept.

The take keeps its row, its history and its provenance; its file fields are emptied and a
history note says the files expired. Files are deleted through the configured storage (local or
S3), everything under the take's folder included (animated preview, exports), before the short
transaction that records it, so no row lock is held across storage calls.
"""

from datetime import timedelta

from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from jobs.models import Take
from jobs.pipeline.transitions import take_note
from jobs.states import TERMINAL_STATES

DEFAULT_DRAFT_RETENTION_DAYS = 30
EXPIRING_TIERS = (Take.Tier.ANIMATIC, Take.Tier.DRAFT)  # block-outs and drafts; finals are kept


def draft_retention_days() -> int:
    return int(getattr(settings, "DRAFT_RETENTION_DAYS", DEFAULT_DRAFT_RETENTION_DAYS))


def drafts_due_for_expiry(*, now=None, retention_days: int | None = None):
    """Finished drafts older than the retention that still hold files (none when retention ≤ 0)."""
    days = draft_retention_days() if retention_days is None else retention_days
    if days <= 0:
        return Take.objects.none()
    cutoff = (now or timezone.now()) - timedelta(days=days)
    has_files = Q()
    for name in Take.OUTPUT_FILE_FIELDS:
        has_files |= ~Q(**{name: ""})
    return (Take.objects.filter(tier__in=EXPIRING_TIERS, state__in=TERMINAL_STATES)
            .annotate(done_at=Coalesce("finished_at", "created_at")).filter(done_at__lt=cutoff)
            .filter(has_files).order_by("pk"))


def takes_expire_drafts(*, now=None, retention_days: int | None = None) -> int:
    """Expire every draft due; returns how many. Safe to run twice or concurrently."""
    days = draft_retention_days() if retention_days is None else retention_days
    take_ids = list(drafts_due_for_expiry(now=now, retention_days=days).values_list("pk", flat=True))
    return sum(take_files_expire(take_id=take_id, retention_days=days) for take_id in take_ids)


def take_files_expire(*, take_id: int, retention_days: int) -> bool:
    take = Take.objects.get(pk=take_id)
    if take.tier not in EXPIRING_TIERS:
        return False  # finals are kept
    names = {getattr(take, field).name for field in Take.OUTPUT_FILE_FIELDS if getattr(take, field)}
    names |= _files_under(f"takes/{take.tier}/{take.public_id}")
    for name in names:
        default_storage.delete(name)
    return _record_expiry(take_id=take_id, retention_days=retention_days, deleted=len(names))


@transaction.atomic
def _record_expiry(*, take_id: int, retention_days: int, deleted: int) -> bool:
    take = Take.objects.select_for_update().get(pk=take_id)
    Take.objects.filter(pk=take_id).update(**{field: "" for field in Take.OUTPUT_FILE_FIELDS}, files_expired_at=timezone.now())
    take_note(take, f"files expired: drafts are kept {retention_days} days ({deleted} files deleted)")
    return True


def _files_under(folder: str) -> set[str]:
    try:
        directories, files = default_storage.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return set()
    found = {f"{folder}/{name}" for name in files}
    for directory in directories:
        found |= _files_under(f"{folder}/{directory}")
    return found
