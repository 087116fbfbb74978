"""Exporting an approved final with its provenance record.

Approving a final queues its export: a C2PA-signed MP4 where signing is configured (see
jobs.provenance), and always the record as a sidecar JSON, both stored beside the take for the
creator to download. The record states the review decision, so it is written after approval.
"""

from django.db import transaction
from django.utils import timezone

from jobs.models import Take
from jobs.pipeline.enqueue import take_export_enqueue_on_commit
from jobs.pipeline.transitions import take_note
from jobs.provenance import take_export_store
from jobs.states import TakeState


def take_exportable(take: Take) -> bool:
    return (take.tier == Take.Tier.FINAL and take.state == TakeState.READY
            and take.review == Take.Review.APPROVED and bool(take.video))


def take_export_queue_on_commit(take: Take) -> None:
    if take.tier == Take.Tier.FINAL:
        take_export_enqueue_on_commit(take.pk)


def take_export(*, take_id: int) -> Take | None:
    """Export an approved final once; None when it is not (or no longer) an approved final."""
    take = Take.objects.select_related("provider_model", "provider_price", "shot").get(pk=take_id)
    if take.exported_at or not take_exportable(take):
        return None
    names = take_export_store(take)
    return _take_export_record(take, video=names["video"], record=names["sidecar"])


@transaction.atomic
def _take_export_record(take: Take, *, video: str, record: str) -> Take:
    Take.objects.filter(pk=take.pk).update(export_video=video, export_record=record, exported_at=timezone.now())
    how = "a C2PA-signed video" if video != take.video.name else "the video"
    take_note(take, f"exported as {how} with its provenance record")
    return Take.objects.get(pk=take.pk)
