"""GoogleVeoAdapter against the Gemini API emulator: wire shape, statuses, errors, callbacks."""

import base64
import json
import time

import av
import httpx
import pytest

from providers.adapters.google_veo import GoogleVeoAdapter
from providers.base import (
    AuthenticationFailed,
    BadRequest,
    ContentPolicyRejected,
    GenerationRequest,
    InsufficientVendorCredit,
    JobState,
    JobStatus,
    RateLimited,
    TransientProviderError,
    WebhookRejected,
)
from providers.emulators.google_veo import GoogleVeoEmulator
from tests.contract.conftest import wait_for_state

API_KEY = "test-google-key"
MODEL = "veo-3.1-fast-generate-preview"
PNG_DATA_URL = "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\nfake-frame").decode()

FAULT_ERRORS = {
    "429": RateLimited,
    "500": TransientProviderError,
    "503": TransientProviderError,
    "timeout": TransientProviderError,
    "malformed": TransientProviderError,
    "credit": InsufficientVendorCredit,
    "bad_request": BadRequest,
    "auth": AuthenticationFailed,
}


@pytest.fixture(scope="module")
def emulator():
    """One server for the module (stopping one costs half a second); each test starts clean."""
    with GoogleVeoEmulator(latency_seconds=1.2) as running:
        yield running


@pytest.fixture(autouse=True)
def clean_emulator(emulator):
    emulator.faults.clear()
    emulator.requests_seen.clear()
    yield
    emulator.faults.clear()


@pytest.fixture(scope="module")
def adapter(emulator):
    return GoogleVeoAdapter(api_key=API_KEY, base_url=emulator.url, timeout=2.0)


def veo_request(**overrides) -> GenerationRequest:
    fields = dict(model_id=MODEL, prompt="A lighthouse at dusk, slow dolly in", negative_prompt="",
                  duration_seconds=8, aspect_ratio="16:9", idempotency_key="take-1-attempt-1", resolution="720p")
    return GenerationRequest(**(fields | overrides))


def seen(emulator, method: str, path_part: str):
    return [request for request in emulator.requests_seen if request.method == method and path_part in request.path]


def prerender(emulator, job_id: str) -> None:
    """Render the emulator's MP4 up front: rendering takes longer than the adapter's 2 s timeout."""
    emulator.output_path(emulator.jobs[job_id.rsplit("/", 1)[1]])


# -- happy path -----------------------------------------------------------------------------


def test_submit_poll_and_fetch_a_real_video(adapter, emulator, tmp_path):
    submitted = adapter.submit(veo_request())
    assert submitted.state == JobState.QUEUED
    assert submitted.job_id.startswith(f"models/{MODEL}/operations/")

    observed = []
    while not observed or observed[-1].state not in JobState.TERMINAL:
        observed.append(adapter.status(submitted.job_id))
        time.sleep(0.05)
    states = [status.state for status in observed]
    assert states[0] == JobState.RUNNING and states[-1] == JobState.SUCCEEDED
    assert set(states) == {JobState.RUNNING, JobState.SUCCEEDED}
    assert all(status.progress is None for status in observed[:-1])  # Veo reports no progress
    assert observed[-1].progress == 100

    prerender(emulator, submitted.job_id)
    video = adapter.fetch_output(observed[-1], tmp_path / "take.mp4", max_bytes=50_000_000)
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        assert stream.width > stream.height  # 16:9
        assert next(container.decode(stream)) is not None
    download = seen(emulator, "GET", ":download")[-1]
    assert download.headers["x-goog-api-key"] == API_KEY


def test_download_refuses_files_over_the_size_cap(adapter, emulator, tmp_path):
    done = wait_for_state(adapter, adapter.submit(veo_request()).job_id, JobState.TERMINAL)
    prerender(emulator, done.job_id)
    with pytest.raises(BadRequest, match="limit"):
        adapter.fetch_output(done, tmp_path / "take.mp4", max_bytes=1_000)


def test_the_api_key_is_not_sent_to_another_origin(adapter, tmp_path):
    with GoogleVeoEmulator(latency_seconds=1) as elsewhere:
        foreign = JobStatus("models/x/operations/y", JobState.SUCCEEDED, "done",
                            output_url=f"{elsewhere.url}/v1beta/files/abc:download?alt=media")
        with pytest.raises(AuthenticationFailed):  # the other origin saw no key and refused
            adapter.fetch_output(foreign, tmp_path / "take.mp4", max_bytes=1_000_000)
        assert "x-goog-api-key" not in elsewhere.requests_seen[-1].headers


# -- wire shape -----------------------------------------------------------------------------


def test_text_to_video_request_has_the_gemini_wire_shape(adapter, emulator):
    request = veo_request(negative_prompt="blurry, text overlays", seed=42, callback_url="https://studio.test/hook/t1")
    job = adapter.submit(request)
    sent = seen(emulator, "POST", ":predictLongRunning")[-1]
    assert sent.path == f"/v1beta/models/{MODEL}:predictLongRunning"
    assert sent.headers["x-goog-api-key"] == API_KEY
    assert "authorization" not in sent.headers
    body = json.loads(sent.body)
    assert body == {
        "instances": [{"prompt": "A lighthouse at dusk, slow dolly in"}],
        "parameters": {"aspectRatio": "16:9", "durationSeconds": 8, "resolution": "720p",
                       "negativePrompt": "blurry, text overlays"},
        "webhookConfig": {"uris": ["https://studio.test/hook/t1"]},
    }  # no seed / generateAudio: Vertex-only fields the Gemini API refuses

    adapter.status(job.job_id)
    poll = seen(emulator, "GET", "/operations/")[-1]
    assert poll.path == f"/v1beta/{job.job_id}"
    assert poll.headers["x-goog-api-key"] == API_KEY


def test_image_to_video_sends_inline_base64_frames(adapter, emulator):
    adapter.submit(veo_request(image_url=PNG_DATA_URL, end_image_url=PNG_DATA_URL,
                               reference_image_urls=(PNG_DATA_URL,)))
    instance = json.loads(seen(emulator, "POST", ":predictLongRunning")[-1].body)["instances"][0]
    expected_image = {"bytesBase64Encoded": PNG_DATA_URL.split(",", 1)[1], "mimeType": "image/png"}
    assert instance["image"] == expected_image
    assert instance["lastFrame"] == expected_image
    assert instance["referenceImages"] == [{"image": expected_image, "referenceType": "ASSET"}]


@pytest.mark.parametrize("overrides, refusal", [
    ({"duration_seconds": 5}, "4, 6, 8 seconds"),
    ({"aspect_ratio": "1:1"}, "16:9 or 9:16"),
    ({"resolution": "4k"}, "cannot render at 4k"),
    ({"model_id": "veo-3.0-generate-001", "end_image_url": PNG_DATA_URL}, "end frame"),
    ({"model_id": "veo-9"}, "not supported"),
])
def test_unsupported_requests_are_refused_before_calling_google(adapter, emulator, overrides, refusal):
    with pytest.raises(BadRequest, match=refusal):
        adapter.submit(veo_request(**overrides))
    assert not seen(emulator, "POST", ":predictLongRunning")


def test_the_emulator_refuses_what_the_gemini_api_refuses(emulator):
    url = f"{emulator.url}/v1beta/models/{MODEL}:predictLongRunning"
    body = {"instances": [{"prompt": "x"}], "parameters": {"durationSeconds": 8, "seed": 1}}
    refused = httpx.post(url, json=body, headers={"x-goog-api-key": API_KEY})
    assert refused.status_code == 400 and refused.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert httpx.post(url, json={"instances": [{"prompt": "x"}]}).status_code == 403  # no key


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", [*FAULT_ERRORS, "policy"])
def test_submit_faults_are_classified(adapter, emulator, fault):
    emulator.inject("submit", fault)
    with pytest.raises(Exception) as raised:
        adapter.submit(veo_request())
    expected = ContentPolicyRejected if fault == "policy" else FAULT_ERRORS[fault]
    assert type(raised.value) is expected
    if fault == "429":
        assert raised.value.retry_after_seconds == 1.0  # from google.rpc.RetryInfo "1s"


@pytest.mark.parametrize("fault", FAULT_ERRORS)
def test_status_faults_are_classified(adapter, emulator, fault):
    job = adapter.submit(veo_request())
    emulator.inject("status", fault)
    with pytest.raises(Exception) as raised:
        adapter.status(job.job_id)
    assert type(raised.value) is FAULT_ERRORS[fault]
    if fault == "429":
        assert raised.value.retry_after_seconds == 1.0


def test_a_safety_filtered_poll_is_a_policy_failure(adapter, emulator):
    job = adapter.submit(veo_request())
    emulator.inject("status", "policy")
    status = adapter.status(job.job_id)
    assert status.state == JobState.FAILED
    assert isinstance(status.error, ContentPolicyRejected)
    assert "usage guidelines" in status.error.reason


def test_download_faults_are_classified(adapter, emulator, tmp_path):
    done = wait_for_state(adapter, adapter.submit(veo_request()).job_id, JobState.TERMINAL)
    emulator.inject("download", "503")
    with pytest.raises(TransientProviderError):
        adapter.fetch_output(done, tmp_path / "take.mp4", max_bytes=50_000_000)


# -- job-level failures ---------------------------------------------------------------------


def test_job_blocked_by_safety_filters_fails_as_content_policy(adapter):
    job = adapter.submit(veo_request(prompt="something [sandbox:policy]"))
    status = wait_for_state(adapter, job.job_id, JobState.TERMINAL)
    assert status.state == JobState.FAILED
    assert type(status.error) is ContentPolicyRejected
    assert status.raw_status == "rai_filtered"


def test_job_with_an_operation_error_fails_as_transient(adapter):
    job = adapter.submit(veo_request(prompt="something [sandbox:fail]"))
    status = wait_for_state(adapter, job.job_id, JobState.TERMINAL)
    assert status.state == JobState.FAILED
    assert type(status.error) is TransientProviderError  # gRPC code 13 → INTERNAL
    assert "INTERNAL" in status.error.reason


def test_cancel_is_not_supported(adapter):
    assert adapter.supports_cancel is False
    assert adapter.cancel("models/x/operations/y") is False


# -- callbacks ------------------------------------------------------------------------------


def test_callbacks_parse_into_events(adapter, emulator, callback_sink):
    good = adapter.submit(veo_request(callback_url=callback_sink.url))
    blocked = adapter.submit(veo_request(prompt="x [sandbox:policy]", callback_url=callback_sink.url))
    received = callback_sink.wait_for(2)
    events = {event.job_id: event for event in
              (adapter.parse_webhook(headers=hit["headers"], body=hit["body"]) for hit in received)}

    success = events[good.job_id]
    assert success.status.state == JobState.SUCCEEDED
    assert success.status.output_url.endswith(f"/v1beta/files/{good.job_id.rsplit('/', 1)[1]}:download?alt=media")
    assert success.event_id.startswith("msg_")
    assert events[blocked.job_id].status is None  # a nudge: the poll gives the classified reason
    assert len({event.event_id for event in events.values()}) == 2


@pytest.mark.parametrize("body", [
    b"not json",
    b"[]",
    json.dumps({"type": "video.generated", "data": {}}).encode(),
    json.dumps({"type": "batch.succeeded", "data": {"id": "batches/1"}}).encode(),
])
def test_malformed_callbacks_are_rejected(adapter, body):
    with pytest.raises(WebhookRejected):
        adapter.parse_webhook(headers={"content-type": "application/json"}, body=body)
