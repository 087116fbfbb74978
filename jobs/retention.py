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

from jobs.events import take_changed_publish_on_commit
from jobs.models import Generation, GenerationEvent
from jobs.states import TERMINAL_STATES

DEFAULT_DRAFT_RETENTION_DAYS = 30


def draft_retention_days() -> int:
    return int(getattr(settings, "DRAFT_RETENTION_DAYS", DEFAULT_DRAFT_RETENTION_DAYS))


def drafts_due_for_expiry(*, now=None, retention_days: int | None = None):
    """Finished drafts older than the retention that still hold files (none when retention ≤ 0)."""
    days = draft_retention_days() if retention_days is None else retention_days
    if days <= 0:
        return Generation.objects.none()
    cutoff = (now or timezone.now()) - timedelta(days=days)
    has_files = Q()
    for name in _file_fields():
        has_files |= ~Q(**{name: ""})
    return (Generation.objects.filter(tier=Generation.Tier.DRAFT, state__in=TERMINAL_STATES)
            .annotate(done_at=Coalesce("finished_at", "created_at")).filter(done_at__lt=cutoff)
            .filter(has_files).order_by("pk"))


def takes_expire_drafts(*, now=None, retention_days: int | None = None) -> int:
    """Expire every draft due; returns how many. Safe to run twice or concurrently."""
    days = draft_retention_days() if retention_days is None else retention_days
    take_ids = list(drafts_due_for_expiry(now=now, retention_days=days).values_list("pk", flat=True))
    return sum(take_files_expire(take_id=take_id, retention_days=days) for take_id in take_ids)


def take_files_expire(*, take_id: int, retention_days: int) -> bool:
    take = Generation.objects.get(pk=take_id)
    if take.tier != Generation.Tier.DRAFT:
        return False  # finals are kept
    names = {getattr(take, field).name for field in _file_fields() if getattr(take, field)}
    names |= _files_under(f"takes/{take.tier}/{take.public_id}")
    for name in names:
        default_storage.delete(name)
    return _record_expiry(take_id=take_id, retention_days=retention_days, deleted=len(names))


@transaction.atomic
def _record_expiry(*, take_id: int, retention_days: int, deleted: int) -> bool:
    take = Generation.objects.select_for_update().get(pk=take_id)
    fields = {field: "" for field in _file_fields()}
    if "files_expired_at" in _concrete_fields():  # once the model has it (see the integration notes)
        fields["files_expired_at"] = timezone.now()
    Generation.objects.filter(pk=take_id).update(**fields)
    detail = f"files expired: drafts are kept {retention_days} days ({deleted} files deleted)"
    GenerationEvent.objects.create(generation=take, from_state=take.state, to_state=take.state, detail=detail)
    take_changed_publish_on_commit(group=take.notify_group, take_id=take.pk)
    return True


def take_files_expired(take: Generation) -> bool:
    """Whether this take's files were removed by retention (its history says so)."""
    return take.events.filter(detail__startswith="files expired:").exists()


def _files_under(folder: str) -> set[str]:
    try:
        directories, files = default_storage.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return set()
    found = {f"{folder}/{name}" for name in files}
    for directory in directories:
        found |= _files_under(f"{folder}/{directory}")
    return found


def _concrete_fields() -> set[str]:
    return {field.name for field in Generation._meta.concrete_fields}


def _file_fields() -> tuple[str, ...]:
    present = _concrete_fields()
    return tuple(name for name in Generation.OUTPUT_FILE_FIELDS if name in present)
