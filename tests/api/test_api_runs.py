"""Production runs through the JSON API: idempotent start with the forecast, inspect, pause, cancel."""

import pytest

from studio.models import ProductionRun
from tests.factories import creator_create, project_for, shot_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def storyboard(catalog, project, settings):
    settings.PROVIDER_SANDBOX_URLS = {"runway": "http://127.0.0.1:9"}  # quoted, never called: nothing commits here
    settings.DRAFT_QUALITY_FLOOR = 60
    return [shot_for(project, title=f"Shot {n}") for n in range(1, 3)]


def test_starting_a_run_answers_the_forecast_and_a_replay_the_same_run(api, project, storyboard):
    headers = {"Idempotency-Key": "run-key-1"}
    first = api.post(f"/projects/{project.pk}/runs", {"mode": "review_drafts", "drafts_per_shot": 2}, headers=headers)
    assert first.status_code == 201, first.content
    body = first.json()
    assert (body["mode"], body["state"], body["drafts_per_shot"]) == ("review_drafts", "running", 2)
    assert body["forecast"]["expected"] > 0 and len(body["forecast"]["shots"]) == 2
    assert {"low", "high", "all_premium", "saving_percent"} <= set(body["forecast"])
    assert [shot["shot_id"] for shot in body["shots"]] == [shot.pk for shot in storyboard]
    replay = api.post(f"/projects/{project.pk}/runs", {"mode": "review_drafts", "drafts_per_shot": 2}, headers=headers)
    assert (replay.status_code, replay.json()["id"]) == (200, body["id"])
    assert ProductionRun.objects.count() == 1
    assert api.post(f"/projects/{project.pk}/runs", {}).status_code == 400  # no key, no run


def test_inspect_pause_resume_and_cancel(api, project, storyboard):
    run_id = api.post(f"/projects/{project.pk}/runs", {"drafts_per_shot": 1}, headers={"Idempotency-Key": "k"}).json()["id"]
    assert api.get(f"/runs/{run_id}").json()["state"] == "running"
    assert api.post(f"/runs/{run_id}/pause").json()["state"] == "paused"
    assert api.post(f"/runs/{run_id}/pause").json()["state"] == "paused"  # a repeat is a no-op
    assert api.post(f"/runs/{run_id}/cancel").json()["state"] == "cancelled"
    refused = api.post(f"/runs/{run_id}/resume")
    assert refused.status_code == 409 and refused.json()["code"] == "not_allowed_now"


def test_another_creators_run_is_not_found(api, storyboard):
    stranger = creator_create(username="eve")
    project = project_for(stranger)
    shot_for(project)
    from studio.services.runs.lifecycle import run_start

    run = run_start(user=stranger, project=project, drafts_per_shot=1)
    assert api.get(f"/runs/{run.pk}").status_code == 404
    assert api.post(f"/runs/{run.pk}/cancel").status_code == 404
    assert api.post(f"/projects/{project.pk}/runs", {}, headers={"Idempotency-Key": "x"}).status_code == 404
