"""What open studio pages receive when a take changes: its card, rendered once for everyone watching.

jobs.events publishes a take change after commit and calls `take_changed_messages` (named in
settings.LIVE_TAKE_RENDERER) on a background thread; each message goes to a Channels group whose
members the consumer already authorised when they joined (studio.consumers). The consumer only
forwards the HTML, so a change costs one render however many pages are open.
"""

import logging

from django.template.loader import render_to_string

from studio.selectors import storyboard_shot, take_for_card

LIVE_HTML = "live.html"
logger = logging.getLogger(__name__)


def take_changed_messages(take_id: int) -> list[tuple[str, dict]]:
    """The owner's pages of the take's project get its card and its storyboard card, as out-of-band swaps."""
    take = take_for_card(take_id=take_id)
    if take is None:
        return []
    shot = storyboard_shot(shot_id=take.shot_id)  # with its take counts: "Rendering · 40%" on the storyboard
    html = render_to_string("studio/live/take_changed.html", {"take": take, "shot": shot})
    messages = [(take.shot.project.notify_group, {"type": LIVE_HTML, "html": html})]
    return messages + _run_panel_if_running(take.shot.project_id)


def _run_panel_if_running(project_id: int) -> list[tuple[str, dict]]:
    """A take of a project with a run under way moves the run's per-shot progress ("drafting 2/3")."""
    from studio.models import ProductionRun

    run_id = ProductionRun.objects.filter(project_id=project_id, state="running").values_list("pk", flat=True).first()
    return run_changed_messages(run_id) if run_id else []


def run_changed_messages(run_id: int) -> list[tuple[str, dict]]:
    """The run panel, rendered for the owner's pages of its project, swapped in out of band."""
    from studio.models import ProductionRun
    from studio.views.runs import run_panel_context

    run = ProductionRun.objects.select_related("project").filter(pk=run_id).first()
    if run is None:
        return []
    html = render_to_string("studio/partials/production_run.html", {**run_panel_context(run.project), "oob": True})
    return [(run.notify_group, {"type": LIVE_HTML, "html": html})]


def run_changed_publish(*, run_id: int, group: str) -> None:
    """After commit: render and send the run panel. A page that misses it reloads the panel itself."""
    from asgiref.sync import async_to_sync
    from channels.layers import get_channel_layer

    try:
        layer = get_channel_layer()
        for audience_group, message in run_changed_messages(run_id):
            async_to_sync(layer.group_send)(audience_group, message)
    except Exception as error:  # noqa: BLE001 (live updates must never break the run)
        logger.warning("live update for run %s not sent: %s", run_id, error)
