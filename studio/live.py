"""What open studio pages receive when a take changes: its card, rendered once for everyone watching.

jobs.events publishes a take change after commit and calls `take_changed_messages` (named in
settings.LIVE_TAKE_RENDERER) on a background thread; each message goes to a Channels group whose
members the consumer already authorised when they joined (studio.consumers). The consumer only
forwards the HTML, so a change costs one render however many pages are open.
"""

import logging
from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.template.loader import render_to_string

from jobs.models import Take
from studio.selectors import review_thread_get, storyboard_shot, take_for_card
from studio.services.approvals import approval_is_current

LIVE_HTML = "live.html"
logger = logging.getLogger(__name__)

logger = logging.getLogger(__name__)


def take_changed_messages(take_id: int) -> list[tuple[str, dict]]:
    """The owner's pages of the take's project get its card and its storyboard card, as out-of-band swaps."""
    take = take_for_card(take_id=take_id)
    if take is None:
        return []
    shot = storyboard_shot(shot_id=take.shot_id)  # with its take counts: "Rendering · 40%" on the storyboard
    # Only an approved take's card and an approved shot's storyboard card say whether it is stale.
    current = shot.approved_take_id is not None and approval_is_current(shot=shot)
    shot.approval_stale = shot.approved_take_id is not None and not current
    stale = take.review == Take.Review.APPROVED and not current
    html = render_to_string("studio/live/take_changed.html", {"take": take, "shot": shot, "approval_stale": stale})
    messages = [(take.shot.project.notify_group, {"type": LIVE_HTML, "html": html})]
    return messages + _run_panel_if_running(take.shot.project_id)


# --- Review: comments and decisions, for the owner's open pages --------------------------------
# Rendered once when the change commits and sent to the project's group, which only the owner's
# sockets join (studio.consumers); reviewers' pages never receive these.

def review_comment_publish_on_commit(*, comment_id: int) -> None:
    transaction.on_commit(partial(_publish, _review_thread_message, comment_id))


def review_decision_publish_on_commit(*, decision_id: int) -> None:
    transaction.on_commit(partial(_publish, _review_decision_message, decision_id))


def _publish(render, object_id: int) -> None:
    try:
        message = render(object_id)
        if message is not None:
            async_to_sync(get_channel_layer().group_send)(*message)
    except Exception as error:  # noqa: BLE001 -- an open page re-reads the review when it reconnects; the write stands
        logger.warning("live review update %s(%s) not sent: %s", render.__name__, object_id, error)


def _review_thread_message(comment_id: int) -> tuple[str, dict] | None:
    thread = review_thread_get(comment_id=comment_id)
    if thread is None:
        return None
    html = render_to_string("studio/review/live/thread_changed.html", {"thread": thread})
    return f"project-{thread.project_id}", {"type": LIVE_HTML, "html": html}


def _review_decision_message(decision_id: int) -> tuple[str, dict] | None:
    from studio.models import ReviewDecision
    from studio.services.approvals import shot_spec_hash

    decision = ReviewDecision.objects.select_related("shot", "share_link").filter(pk=decision_id).first()
    if decision is None:
        return None
    decision.stale = decision.spec_hash != shot_spec_hash(shot=decision.shot)
    html = render_to_string("studio/review/live/decision_added.html", {"decision": decision})
    return f"project-{decision.project_id}", {"type": LIVE_HTML, "html": html}


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
    try:
        layer = get_channel_layer()
        for audience_group, message in run_changed_messages(run_id):
            async_to_sync(layer.group_send)(audience_group, message)
    except Exception as error:  # noqa: BLE001 (live updates must never break the run)
        logger.warning("live update for run %s not sent: %s", run_id, error)

