"""Who hears about a cut's render. The cut page: state and progress as an htmx out-of-band swap,
sent to the project's group (studio.consumers forwards "live.html" messages) after commit. The
creator's webhook endpoints: `cut.ready` and `cut.failed`, recorded in the transaction that
finishes the render (jobs/outbound)."""

import logging
from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse

from jobs.outbound.kinds import CUT_RENDER_KINDS
from jobs.outbound.record import outbound_event_record

logger = logging.getLogger(__name__)


def render_changed_publish_on_commit(*, render_id: int) -> None:
    transaction.on_commit(partial(render_changed_publish, render_id))


def render_changed_publish(render_id: int) -> None:
    from studio.cuts.models import CutRender

    render = CutRender.objects.select_related("cut").filter(pk=render_id).first()
    if render is None:
        return
    html = render_to_string("cuts/live/render_changed.html", {"render": render, "cut": render.cut})
    try:
        async_to_sync(get_channel_layer().group_send)(
            f"project-{render.cut.project_id}", {"type": "live.html", "html": html})
    except Exception as error:  # noqa: BLE001 - the page polls what it missed; a render must not fail for a page
        logger.warning("live update for cut render %s not sent: %s", render_id, error)


def render_event_record(*, render, owner_id: int) -> None:
    """A render finished (ready or failed): ids, figures and the API path of its MP4, never a signed URL."""
    kind = CUT_RENDER_KINDS.get(render.state)
    if kind is None:
        return
    project_id = render.cut.project_id
    outbound_event_record(owner_id=owner_id, kind=kind, data=lambda: {
        "project_id": project_id, "render_id": render.pk, "inputs_hash": render.inputs_hash, "state": render.state,
        "frames": render.frames, "fps": render.inputs["format"]["fps"],
        "takes": [clip["take"] for clip in render.inputs["clips"]],
        "credits_charged": render.price_credits if render.state == "ready" else 0,
        "failure_reason": render.failure_reason,
        "video_path": reverse("api:cut_render_video", args=[project_id, render.pk]) if render.downloadable else None,
    })
