"""Run and cut progress reach a creator's endpoint: recorded by the run's and the render's transition
functions with the change, delivered to a loopback receiver and verified with the standardwebhooks
library. Deliveries are sent here by the service the webhooks worker calls, one by one."""

import pytest
from standardwebhooks import Webhook

from jobs.outbound.delivery import webhook_delivery_attempt
from jobs.outbound.endpoints import webhook_endpoint_create
from jobs.outbound.kinds import EVENT_KINDS
from jobs.outbound.models import WebhookDelivery
from studio.cuts.assembly import cut_assemble
from studio.cuts.rendering import cut_render_request, cut_render_run
from studio.run_states import RunShotState, RunState
from studio.services.runs.lifecycle import run_cancel, run_pause, run_start
from studio.services.runs.transitions import run_shot_transition, run_transition
from tests.cuts.conftest import approved_take
from tests.cuts.media import clip_write
from tests.factories import shot_for
from tests.outbound.receiver import LoopbackReceiver

pytestmark = pytest.mark.django_db


def delivered(receiver: LoopbackReceiver, secret: str) -> list[dict]:
    """Send every recorded delivery to the receiver; the events it got, each verified."""
    for delivery_id in WebhookDelivery.objects.order_by("id").values_list("id", flat=True):
        assert webhook_delivery_attempt(delivery_id=delivery_id) == WebhookDelivery.State.SUCCEEDED
    return [Webhook(secret).verify(request.body, request.headers) for request in receiver.received]


def test_a_run_tells_the_endpoint_it_started_paused_escalated_finished_a_shot_and_completed(catalog, creator, project):
    for title in ("Arrival", "Market"):
        shot_for(project, title=title, duration_seconds=2)
    with LoopbackReceiver() as receiver:
        registered = webhook_endpoint_create(owner=creator, url=receiver.url,
                                             event_kinds=[kind for kind in EVENT_KINDS if kind.startswith("run.")])
        run = run_start(user=creator, project=project, drafts_per_shot=1)
        run_pause(run=run)
        run_transition(run_id=run.pk, to_state=RunState.RUNNING)
        arrival, market = run.shots.order_by("position")
        for state in (RunShotState.DRAFTING, RunShotState.FINALIZING, RunShotState.FINAL_READY):
            run_shot_transition(run_shot_id=arrival.pk, to_state=state)
        run_shot_transition(run_shot_id=market.pk, to_state=RunShotState.NEEDS_YOU, reason="no draft passed")
        run_transition(run_id=run.pk, to_state=RunState.COMPLETED)
        again = run_cancel(run=run_start(user=creator, project=project, drafts_per_shot=1))
        events = delivered(receiver, registered.secret)

    assert [event["type"] for event in events] == [
        "run.started", "run.paused", "run.resumed", "run.shot_escalated", "run.shot_final_ready", "run.shot_needs_you",
        "run.completed", "run.started", "run.cancelled"]
    started, completed, cancelled = events[0], events[6], events[-1]
    assert started["version"] == 1 and started["data"]["run_id"] == str(run.public_id)
    assert started["data"]["shots"] == {"total": 2, "final_ready": 0, "needs_you": 0}
    assert completed["data"] == {**completed["data"], "state": "completed", "previous_state": "running",
                                 "shots": {"total": 2, "final_ready": 1, "needs_you": 1}}
    assert events[5]["data"]["shot_id"] == market.shot_id and events[5]["data"]["reason"] == "no draft passed"
    assert cancelled["data"]["run_id"] == str(again.public_id)
    assert len({event["id"] for event in events}) == len(events)
    assert registered.secret not in b"".join(request.body for request in receiver.received).decode()


def test_a_cut_render_tells_the_endpoint_when_it_is_ready_and_when_it_failed(creator, project, tmp_path):
    shot = shot_for(project, title="Arrival")
    take = approved_take(shot, clip_write(tmp_path / "arrival.mp4", seconds=1))
    cut = cut_assemble(project=project)
    cut.resolution, cut.music = "480p", "none"
    cut.save()
    with LoopbackReceiver() as receiver:
        registered = webhook_endpoint_create(owner=creator, url=receiver.url, event_kinds=["cut.ready", "cut.failed"])
        ready = cut_render_run(render_id=cut_render_request(cut=cut).pk)
        cut.fps = 25  # new inputs, a new render; its take file broken before the worker reads it
        cut.save()
        failing = cut_render_request(cut=cut)
        with open(take.video.path, "r+b") as handle:
            handle.truncate(300)
        failed = cut_render_run(render_id=failing.pk)
        events = delivered(receiver, registered.secret)

    assert (ready.state, failed.state) == ("ready", "failed")
    assert [event["type"] for event in events] == ["cut.ready", "cut.failed"]
    on_ready, on_failure = events[0]["data"], events[1]["data"]
    assert on_ready["render_id"] == ready.pk and on_ready["project_id"] == project.pk and on_ready["frames"] == 24
    assert on_ready["takes"] == [str(take.public_id)] and on_ready["video_path"].endswith(f"/renders/{ready.pk}/video")
    assert on_failure["render_id"] == failed.pk and on_failure["failure_reason"] and on_failure["video_path"] is None
