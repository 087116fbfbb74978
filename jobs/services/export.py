"""Exporting an approved final with its provenance record.

Approving a final queues its export: a C2PA-signed MP4 where signing is configured (see
jobs.provenance), and always the record as a sidecar JSON, both stored beside the take for the
creator to download. The record states the review decision, so it is written after approval.
"""

from functools import partial

from django.db import transaction
from django.utils import timezone

from jobs.events import take_changed_publish_on_commit
from jobs.models import Generation, GenerationEvent
from jobs.provenance import take_export_store
from jobs.states import TakeState


def take_exportable(take: Generation) -> bool:
    return (take.tier == Generation.Tier.FINAL and take.state == TakeState.READY
            and take.review == Generation.Review.APPROVED and bool(take.video))


def take_export_queue_on_commit(take: Generation) -> None:
    if take.tier == Generation.Tier.FINAL:
        transaction.on_commit(partial(_enqueue_take_export, take.pk))


def take_export(*, take_id: int) -> Generation | None:
    """Export an approved final once; None when it is not (or no longer) an approved final."""
    take = Generation.objects.select_related("provider_model", "provider_price", "shot").get(pk=take_id)
    if take.exported_at or not take_exportable(take):
        return None
    names = take_export_store(take)
    return _take_export_record(take, video=names["video"], record=names["sidecar"])


@transaction.atomic
def _take_export_record(take: Generation, *, video: str, record: str) -> Generation:
    Generation.objects.filter(pk=take.pk).update(export_video=video, export_record=record, exported_at=timezone.now())
    how = "a C2PA-signed video" if video != take.video.name else "the video"
    GenerationEvent.objects.create(generation=take, from_state=take.state, to_state=take.state,
                                   detail=f"exported as {how} with its provenance record")
    take_changed_publish_on_commit(group=take.notify_group, take_id=take.pk)
    return Generation.objects.get(pk=take.pk)


def _enqueue_take_export(take_id: int) -> None:
    from jobs.tasks import take_export_task

    take_export_task.delay(take_id)
