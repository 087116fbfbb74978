"""Contract tests: RunwayAdapter (official runwayml SDK) against the Runway emulator."""

import json
import time
from dataclasses import replace

import av
import httpx
import pytest

from providers.adapters.runway import RunwayAdapter
from providers.base import (
    BadRequest,
    ContentPolicyRejected,
    GenerationRequest,
    JobState,
    MultiShotSegment,
    ProviderError,
    TransientProviderError,
    WebhookRejected,
)
from providers.emulators.runway import RunwayEmulator
from tests.contract.conftest import FAULT_ERRORS, wait_for_state

API_KEY = "key_" + "ab" * 64
IMAGE = "https://assets.example.com/frames/start.png"
END_IMAGE = "https://assets.example.com/frames/end.png"
DATA_IMAGE = "data:image/png;base64,iVBORw0KGgo="



@pytest.fixture(scope="module")
def running_emulator():
    with RunwayEmulator(latency_seconds=1.0) as running:  # one server: each shutdown costs 0.5 s
        yield running


@pytest.fixture
def emulator(running_emulator):
    running_emulator.requests_seen.clear()
    running_emulator.faults.clear()
    return running_emulator


@pytest.fixture
def adapter(emulator):
    return RunwayAdapter(api_key=API_KEY, base_url=emulator.url, timeout=2.0)


def text_request(**changes) -> GenerationRequest:
    request = GenerationRequest(
        model_id="gen4.5", prompt="A lighthouse at dusk, waves crashing", negative_prompt="",
        duration_seconds=2, aspect_ratio="16:9", idempotency_key="take-41-attempt-1", seed=42,
    )
    return replace(request, **changes)


def create_requests(emulator) -> list:
    return [seen for seen in emulator.requests_seen if seen.method == "POST" and seen.path.startswith("/v1/")]


# -- happy path -------------------------------------------------------------------------------


def test_text_to_video_runs_pending_running_succeeded_and_downloads_a_real_video(adapter, tmp_path):
    submitted = adapter.submit(text_request())
    assert (submitted.state, submitted.raw_status, submitted.poll_after_seconds) == (JobState.QUEUED, "PENDING", 5.0)

    observed = []
    for _ in range(100):
        status = adapter.status(submitted.job_id)
        observed.append(status)
        if status.state in JobState.TERMINAL:
            break
        time.sleep(0.05)

    raw_sequence = [status.raw_status for index, status in enumerate(observed)
                    if index == 0 or status.raw_status != observed[index - 1].raw_status]
    assert raw_sequence == ["PENDING", "RUNNING", "SUCCEEDED"]
    running = [status.progress for status in observed if status.state == JobState.RUNNING]
    assert running == sorted(running) and any(0 < progress < 100 for progress in running)
    assert all(status.job_id == submitted.job_id for status in observed)
    finished = observed[-1]
    assert finished.progress == 100 and finished.output_url.endswith(f"{submitted.job_id}.mp4")

    video = adapter.fetch_output(finished, tmp_path / "take.mp4", max_bytes=20_000_000)
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        assert (stream.width, stream.height) == (854, 480)  # the sandbox renders 16:9 small
        assert frames == 2 * stream.average_rate


def test_fetch_output_refuses_a_video_over_the_size_cap(adapter, tmp_path):
    finished = wait_for_state(adapter, adapter.submit(text_request()).job_id, JobState.TERMINAL)
    with pytest.raises(BadRequest):
        adapter.fetch_output(finished, tmp_path / "take.mp4", max_bytes=1_000)
    assert not (tmp_path / "take.mp4").exists()


def test_fetch_output_refreshes_an_expired_signed_url_once(adapter, emulator, tmp_path):
    finished = wait_for_state(adapter, adapter.submit(text_request()).job_id, JobState.TERMINAL)
    emulator.inject("download", "auth")  # the signed link has expired
    emulator.requests_seen.clear()
    video = adapter.fetch_output(finished, tmp_path / "take.mp4", max_bytes=20_000_000)

    assert [seen.path for seen in emulator.requests_seen] == [
        f"/_emulator/files/{finished.job_id}.mp4", f"/v1/tasks/{finished.job_id}", f"/_emulator/files/{finished.job_id}.mp4",
    ]
    assert video.stat().st_size > 1_000
    assert "authorization" not in emulator.requests_seen[0].headers  # our API key never goes to the CDN


# -- the wire ---------------------------------------------------------------------------------


def test_text_to_video_request_has_runways_wire_shape(adapter, emulator):
    adapter.submit(text_request(duration_seconds=7, aspect_ratio="9:16"))

    [sent] = create_requests(emulator)
    assert sent.path == "/v1/text_to_video"
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.headers["x-runway-version"] == "2024-11-06"
    assert sent.headers["content-type"] == "application/json"
    assert sent.json() == {"model": "gen4.5", "promptText": "A lighthouse at dusk, waves crashing",
                           "ratio": "720:1280", "duration": 7, "seed": 42}
    # Runway has no idempotency key: nothing of ours (or the SDK's) goes on the wire.
    assert "idempotency-key" not in sent.headers and "take-41-attempt-1" not in sent.body.decode()


def test_gen4_turbo_sends_the_start_frame_to_image_to_video(adapter, emulator):
    adapter.submit(text_request(model_id="gen4_turbo", image_url=DATA_IMAGE, aspect_ratio="4:3", duration_seconds=10))

    [sent] = create_requests(emulator)
    assert sent.path == "/v1/image_to_video"
    assert sent.json() == {"model": "gen4_turbo", "promptImage": DATA_IMAGE, "promptText": text_request().prompt,
                           "ratio": "1104:832", "duration": 10, "seed": 42}


def test_veo31_sends_first_and_last_frames_audio_and_negative_prompt(adapter, emulator):
    adapter.submit(text_request(model_id="veo3.1_fast", image_url=IMAGE, end_image_url=END_IMAGE, with_audio=True,
                                negative_prompt="text overlays", duration_seconds=6, aspect_ratio="9:16",
                                resolution="1080p"))

    [sent] = create_requests(emulator)
    assert sent.path == "/v1/image_to_video"
    assert sent.json() == {
        "model": "veo3.1_fast", "ratio": "1080:1920", "duration": 6, "audio": True,
        "promptImage": [{"uri": IMAGE, "position": "first"}, {"uri": END_IMAGE, "position": "last"}],
        "promptText": text_request().prompt, "negativePrompt": "text overlays",
    }  # no seed: the contract lists none for Veo on Runway


@pytest.mark.parametrize(("model_id", "aspect_ratio", "image_url", "ratio"), [
    ("gen4_turbo", "16:9", IMAGE, "1280:720"),
    ("gen4_turbo", "9:16", IMAGE, "720:1280"),
    ("gen4_turbo", "1:1", IMAGE, "960:960"),
    ("gen4.5", "4:3", IMAGE, "1104:832"),
    ("gen4.5", "16:9", None, "1280:720"),
    ("veo3", "9:16", None, "720:1280"),
])
def test_aspect_ratios_become_runway_pixel_ratios(adapter, emulator, model_id, aspect_ratio, image_url, ratio):
    duration = 8 if model_id == "veo3" else 5
    adapter.submit(text_request(model_id=model_id, aspect_ratio=aspect_ratio, image_url=image_url,
                                duration_seconds=duration))
    [sent] = create_requests(emulator)
    assert (sent.json()["ratio"], sent.json()["duration"]) == (ratio, duration)


@pytest.mark.parametrize(("changes", "complaint"), [
    ({"model_id": "gen4_turbo"}, "needs a start image"),
    ({"model_id": "gen3a_turbo"}, "not supported"),
    ({"aspect_ratio": "1:1"}, "cannot render 1:1"),  # gen4.5 text-to-video is 16:9 / 9:16 only
    ({"model_id": "veo3.1", "aspect_ratio": "4:3"}, "cannot render 4:3"),
    ({"model_id": "veo3", "duration_seconds": 4}, "renders 8 seconds"),
    ({"duration_seconds": 11}, "renders 2, 3"),
    ({"resolution": "1080p"}, "cannot render at 1080p"),
    ({"with_audio": True}, "cannot generate audio"),
    ({"negative_prompt": "blur"}, "negative prompt"),
    ({"image_url": IMAGE, "end_image_url": END_IMAGE}, "end frame"),
    ({"reference_image_urls": (IMAGE,)}, "reference images"),
    ({"multi_shot": (MultiShotSegment("one", 2), MultiShotSegment("two", 2))}, "multi-shot"),
])
def test_requests_runway_cannot_render_are_refused_before_sending(adapter, emulator, changes, complaint):
    with pytest.raises(BadRequest, match=complaint):
        adapter.submit(text_request(**changes))
    assert create_requests(emulator) == []


def test_emulator_validates_like_runway(emulator):
    headers = {"Authorization": f"Bearer {API_KEY}", "X-Runway-Version": "2024-11-06"}
    valid = {"model": "gen4.5", "promptText": "a boat", "ratio": "1280:720", "duration": 5}
    cases = [
        ({**valid, "ratio": "960:960"}, headers, 400, "ratio"),
        ({**valid, "prompt_text": "snake case"}, headers, 400, "prompt_text"),
        ({**valid, "duration": "5"}, headers, 400, "duration"),
        ({**valid, "promptText": "x" * 1001}, headers, 400, "promptText"),
        ({**valid, "model": "gen4_turbo"}, headers, 400, "model"),
        (valid, {"Authorization": headers["Authorization"]}, 400, "X-Runway-Version"),
        (valid, {"X-Runway-Version": "2024-11-06"}, 401, "API key"),
    ]
    for body, sent_headers, status, mention in cases:
        response = httpx.post(f"{emulator.url}/v1/text_to_video", json=body, headers=sent_headers)
        assert (response.status_code, mention in response.json()["error"]) == (status, True), body
    assert httpx.post(f"{emulator.url}/v1/text_to_video", json=valid, headers=headers).json()["id"]


# -- HTTP errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(("fault", "expected"), FAULT_ERRORS)
def test_submit_faults_are_classified(adapter, emulator, fault, expected):
    emulator.inject("submit", fault)
    with pytest.raises(ProviderError) as raised:
        adapter.submit(text_request())
    assert type(raised.value) is expected
    if fault == "429":
        assert raised.value.retry_after_seconds == 1.0


@pytest.mark.parametrize(("fault", "expected"), FAULT_ERRORS)
def test_status_faults_are_classified(adapter, emulator, fault, expected):
    job_id = adapter.submit(text_request()).job_id
    emulator.inject("status", fault)
    with pytest.raises(ProviderError) as raised:
        adapter.status(job_id)
    assert type(raised.value) is expected
    if fault == "429":
        assert raised.value.retry_after_seconds == 1.0
    assert adapter.status(job_id).state in {JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED}


def test_the_sdk_does_not_retry_on_its_own(adapter, emulator):
    emulator.inject("submit", "503", times=2)
    with pytest.raises(TransientProviderError):
        adapter.submit(text_request())
    assert len(create_requests(emulator)) == 1


def test_unknown_task_is_a_bad_request(adapter):
    with pytest.raises(BadRequest):
        adapter.status("00000000-0000-0000-0000-000000000000")


# -- job-level outcomes -----------------------------------------------------------------------


def test_failed_tasks_are_classified_by_failure_code(adapter):
    outcomes = {
        "[sandbox:policy]": (ContentPolicyRejected, "SAFETY.INPUT.TEXT"),
        "[sandbox:fail]": (ProviderError, "INTERNAL"),
        "[sandbox:failure=SAFETY.OUTPUT.VIDEO]": (ContentPolicyRejected, "SAFETY.OUTPUT.VIDEO"),
        "[sandbox:failure=INTERNAL.BAD_OUTPUT.CODE01]": (TransientProviderError, "INTERNAL.BAD_OUTPUT.CODE01"),
        "[sandbox:failure=ASSET.INVALID]": (BadRequest, "ASSET.INVALID"),
    }
    jobs = {marker: adapter.submit(text_request(prompt=f"A storm {marker}")).job_id for marker in outcomes}
    for marker, (expected, code) in outcomes.items():
        status = wait_for_state(adapter, jobs[marker], JobState.TERMINAL)
        assert (status.state, status.raw_status, type(status.error)) == (JobState.FAILED, "FAILED", expected), marker
        assert code in status.error.reason
        assert status.error.retryable is (expected is TransientProviderError)


def test_throttled_tasks_wait_for_a_concurrency_slot():
    with RunwayEmulator(latency_seconds=1.0, max_concurrency=1) as emulator:
        adapter = RunwayAdapter(api_key=API_KEY, base_url=emulator.url, timeout=2.0)
        first = adapter.submit(text_request()).job_id
        second = adapter.submit(text_request()).job_id

        throttled = adapter.status(second)
        assert (throttled.state, throttled.raw_status, throttled.progress) == (JobState.QUEUED, "THROTTLED", None)
        assert wait_for_state(adapter, first, JobState.TERMINAL).state == JobState.SUCCEEDED
        seen = set()
        while (status := adapter.status(second)).state not in JobState.TERMINAL:
            seen.add(status.raw_status)
            time.sleep(0.05)
        assert status.state == JobState.SUCCEEDED and {"PENDING", "RUNNING"} <= seen


# -- cancel -----------------------------------------------------------------------------------


def test_cancel_deletes_the_task_and_it_reads_cancelled(adapter, emulator):
    job_id = adapter.submit(text_request()).job_id
    assert adapter.supports_cancel and adapter.cancel(job_id) is True

    [deleted] = [seen for seen in emulator.requests_seen if seen.method == "DELETE"]
    assert deleted.path == f"/v1/tasks/{job_id}" and deleted.headers["x-runway-version"] == "2024-11-06"
    time.sleep(1.1)  # past the emulator's latency: a cancelled task must not finish anyway
    status = adapter.status(job_id)
    assert (status.state, status.raw_status, status.output_url) == (JobState.CANCELLED, "CANCELLED", None)


def test_cancel_fault_is_classified(adapter, emulator):
    job_id = adapter.submit(text_request()).job_id
    emulator.inject("cancel", "503")
    with pytest.raises(TransientProviderError):
        adapter.cancel(job_id)


# -- callbacks --------------------------------------------------------------------------------


def test_runway_sends_no_callbacks(adapter):
    assert adapter.supports_callbacks is False
    body = json.dumps({"id": "task-1", "status": "SUCCEEDED", "output": ["https://cdn.example.com/v.mp4"]}).encode()
    with pytest.raises(WebhookRejected):
        adapter.parse_webhook(headers={"content-type": "application/json"}, body=body)
