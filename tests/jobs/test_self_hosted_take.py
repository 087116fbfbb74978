"""A take on a self-hosted open model: routed to its own queue, rendered by the real diffusers runner."""

import pytest

from jobs.models import Generation
from jobs.services.pipeline import take_run
from jobs.services.requests import take_queue_for
from providers.local.tiny_pipelines import tiny_pipeline_save
from providers.models import ProviderModel
from studio.services.takes import shot_take_request
from tests.factories import shot_for
from tests.jobs.test_pipeline import take_run_and_evaluate

pytestmark = pytest.mark.django_db


@pytest.fixture
def self_hosted(settings, tmp_path, catalog):
    tiny_pipeline_save("cogvideox", tmp_path / "cogvideox")
    settings.SELF_HOSTED_MODEL_DIR = str(tmp_path)
    settings.SELF_HOSTED_STEPS = 2
    settings.SELF_HOSTED_FRAME_OVERRIDES = {"width": 32, "height": 32, "num_frames": 9}
    ProviderModel.objects.exclude(slug="cogvideox-selfhosted").update(enabled=False)


def test_self_hosted_takes_go_to_their_own_queue(settings):
    assert take_queue_for("self_hosted") == settings.SELF_HOSTED_QUEUE != take_queue_for("runway")
    assert take_queue_for("local_animatic") == settings.CELERY_TASK_DEFAULT_QUEUE


def test_a_self_hosted_model_renders_a_real_take_that_evaluation_judges(self_hosted, creator, project, django_capture_on_commit_callbacks):
    shot = shot_for(project, duration_seconds=1, aspect_ratio="1:1")
    with django_capture_on_commit_callbacks() as callbacks:
        take = shot_take_request(user=creator, shot=shot)
    enqueue = next(cb for cb in callbacks if cb.func.__name__ == "_enqueue_take_run")
    assert enqueue.args[1].endswith("selfhosted")
    assert take.provider_model.slug == "cogvideox-selfhosted"
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
    take_run(take_id=take.pk)
    take = Generation.objects.get(pk=take.pk)
    assert take.state == "failed" and "No model found" in take.failure_reason
