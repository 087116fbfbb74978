"""The cut through the JSON API, rendered by a real Celery worker."""

import time

import opentimelineio as otio
import pytest

from studio.services.tokens import api_token_create
from tests.api.conftest import ApiClient
from tests.factories import creator_create, shot_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def api(client, creator) -> ApiClient:
    _, key = api_token_create(user=creator, name="cut tests")
    return ApiClient(client, key)


def wait_for_render(api, project_id: int, render_id: int, timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = api.get(f"/projects/{project_id}/cut/renders/{render_id}").json()
        if body["state"] in ("ready", "failed"):
            return body
        time.sleep(0.5)
    raise AssertionError(f"render {render_id} still {body['state']} after {timeout} s")


@pytest.mark.stack
def test_cut_trim_render_status_and_download(api, three_shot_cut, worker):
    project_id = three_shot_cut.project_id
    cut = api.get(f"/projects/{project_id}/cut").json()
    assert [e["shot_title"] for e in cut["entries"]] == ["Arrival", "Market", "Lantern"]
    assert cut["entries"][0]["take_tier"] == "draft" and cut["latest_render"] is None

    trimmed = api.patch(f"/cut-entries/{cut['entries'][0]['id']}", {"in_ms": 500, "out_ms": 1500, "transition": "crossfade",
                                                                   "transition_ms": 250})
    assert trimmed.status_code == 200 and trimmed.json()["in_ms"] == 500

    queued = api.post(f"/projects/{project_id}/cut/renders")
    assert queued.status_code == 202
    render = wait_for_render(api, project_id, queued.json()["id"])
    assert render["state"] == "ready", render["failure_reason"]
    assert render["frames"] == 24 + 48 + 48 - 6

    video = api.client.get(render["video_url"], headers=api._headers(None))
    assert video.status_code == 200 and video["Content-Type"] == "video/mp4"
    assert b"ftyp" in b"".join(video.streaming_content)[:16]

    again = api.post(f"/projects/{project_id}/cut/renders")
    assert again.status_code == 200 and again.json()["id"] == render["id"]

    edl = api.get(f"/projects/{project_id}/cut/timeline/edl")
    assert edl.status_code == 200 and len(otio.adapters.read_from_string(edl.content.decode(), "cmx_3600", rate=24).find_clips()) == 3


def test_render_refusals_say_what_to_fix(api, three_shot_cut):
    shot_for(three_shot_cut.project, title="Unfinished")
    refused = api.post(f"/projects/{three_shot_cut.project_id}/cut/renders")
    assert refused.status_code == 409
    assert refused.json()["code"] == "cut_error" and "Unfinished" in refused.json()["detail"]

    entry_id = api.get(f"/projects/{three_shot_cut.project_id}/cut").json()["entries"][0]["id"]
    too_long = api.patch(f"/cut-entries/{entry_id}", {"in_ms": 0, "out_ms": 9000})
    assert too_long.status_code == 409 and "past the take's end" in too_long.json()["detail"]


def test_an_edited_otio_comes_back_through_the_api(api, three_shot_cut):
    project_id = three_shot_cut.project_id
    text = api.get(f"/projects/{project_id}/cut/timeline/otio").content.decode()
    timeline = otio.adapters.read_from_string(text, "otio_json")
    track = timeline.video_tracks()[0]
    clips = list(track)
    track[:] = []
    for clip in reversed(clips):
        track.append(clip)
    upload = otio.adapters.write_to_string(timeline, "otio_json").encode()
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = api.client.post(f"/api/projects/{project_id}/cut/timeline", {
        "timeline_file": SimpleUploadedFile("edit.otio", upload, content_type="application/json")},
        headers=api._headers(None))
    assert response.status_code == 200, response.content
    assert [e["shot_title"] for e in response.json()["entries"]] == ["Lantern", "Market", "Arrival"]

    corrupt = api.client.post(f"/api/projects/{project_id}/cut/timeline", {
        "timeline_file": SimpleUploadedFile("edit.otio", b"{not json", content_type="application/json")},
        headers=api._headers(None))
    assert corrupt.status_code == 409 and "not a readable OpenTimelineIO" in corrupt.json()["detail"]


def test_another_creators_cut_is_not_found(client, three_shot_cut):
    _, key = api_token_create(user=creator_create(username="mallory"), name="x")
    stranger = ApiClient(client, key)
    assert stranger.get(f"/projects/{three_shot_cut.project_id}/cut").status_code == 404
    assert stranger.post(f"/projects/{three_shot_cut.project_id}/cut/renders").status_code == 404
