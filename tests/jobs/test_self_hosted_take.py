"""A take on a self-hosted open model: routed to its own queue, rendered by the real diffusers runner."""

import pytest

from jobs.models import Take
from jobs.pipeline.submit import take_submit
from providers.local.tiny_pipelines import tiny_pipeline_save
from providers.models import ProviderModel
from providers.registry import local_render_queue
from studio.config.celery import app
from studio.services.takes import shot_take_request
from tests.factories import shot_for
from tests.jobs.test_pipeline import take_run_and_evaluate
from tests.pipeline import take_render

pytestmark = pytest.mark.django_db


@pytest.fixture
def self_hosted(settings, tmp_path, catalog):
    tiny_pipeline_save("cogvideox", tmp_path / "cogvideox")
    settings.SELF_HOSTED_MODEL_DIR = str(tmp_path)
    settings.SELF_HOSTED_STEPS = 2
    settings.SELF_HOSTED_FRAME_OVERRIDES = {"width": 32, "height": 32, "num_frames": 9}
    ProviderModel.objects.exclude(slug="cogvideox-selfhosted").update(enabled=False)


def test_self_hosted_renders_go_to_their_own_queue(settings):
    assert local_render_queue("self_hosted") == settings.SELF_HOSTED_QUEUE != local_render_queue("local_animatic")
    assert local_render_queue("local_animatic") == settings.LOCAL_RENDER_QUEUE


def queued_messages(queue: str) -> int:
    with app.connection_for_read() as connection:
        return connection.default_channel.client.llen(queue)


def test_a_self_hosted_model_renders_a_real_take_that_evaluation_judges(self_hosted, creator, project, settings):
    shot = shot_for(project, duration_seconds=1, aspect_ratio="1:1")
    take = shot_take_request(user=creator, shot=shot)
    assert take.provider_model.slug == "cogvideox-selfhosted"
    waiting = queued_messages(settings.SELF_HOSTED_QUEUE)
    take_submit(take_id=take.pk)
    assert queued_messages(settings.SELF_HOSTED_QUEUE) == waiting + 1  # the render waits for the model worker
    take = take_run_and_evaluate(take.pk)
    moves = [event.to_state for event in take.events.all() if event.from_state != event.to_state]
    assert moves[-3:] == ["downloading", "evaluating", take.state]
    assert take.video and take.evaluation["technical"]["size"]["passed"]
    # A randomly initialised model paints noise: the evaluation, run on its real frames, says so.
    assert take.state == "failed" and "flickers" in take.failure_reason
    assert take.evaluation["metrics"]["flicker"]["available"]


def test_a_missing_model_folder_fails_the_take_clearly(self_hosted, settings, creator, project, tmp_path):
    settings.SELF_HOSTED_MODEL_DIR = str(tmp_path / "nowhere")
    take = shot_take_request(user=creator, shot=shot_for(project, duration_seconds=1, aspect_ratio="1:1"))
    take_render(take.pk)
    take = Take.objects.get(pk=take.pk)
    assert take.state == "failed" and "No model found" in take.failure_reason
