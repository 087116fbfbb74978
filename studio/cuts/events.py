"""The cut page hears about its render: state and progress as an htmx out-of-band swap, sent to
the project's group (studio.consumers forwards "live.html" messages) after commit."""

import logging
from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.template.loader import render_to_string

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
