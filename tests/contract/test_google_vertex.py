"""GoogleVertexAdapter against the Vertex AI emulator: wire shape, statuses, errors, inline outputs."""

import base64
import json
import time

import av
import httpx
import pytest

from providers.adapters.google_vertex import GoogleVertexAdapter
from providers.base import (
    AuthenticationFailed,
    BadRequest,
    ContentPolicyRejected,
    GenerationRequest,
    JobState,
    JobStatus,
    MultiShotSegment,
    RateLimited,
    TransientProviderError,
    WebhookRejected,
)
from providers.emulators.google_vertex import GoogleVertexEmulator
from tests.contract.conftest import FAULT_ERRORS, wait_for_state

TOKEN = "ya29.test-vertex-token"
PROJECT = "shotcraft-test"
LOCATION = "us-central1"
MODEL = "veo-3.1-fast-generate-001"
MODELS_PATH = f"/v1/projects/{PROJECT}/locations/{LOCATION}/publishers/google/models"
PNG_BYTES = b"\x89PNG\r\n\x1a\nfake-frame"
PNG_DATA_URL = "data:image/png;base64," + base64.b64encode(PNG_BYTES).decode()


@pytest.fixture(scope="module")
def emulator():
    """One server for the module (stopping one costs half a second); each test starts clean."""
    with GoogleVertexEmulator(latency_seconds=1.2, access_token=TOKEN) as running:
        warm = running.job_create(prompt="warm-up", duration_seconds=8, aspect_ratio="16:9")
        running.output_path(warm)  # the first render takes seconds, more than a job's latency here
        yield running


@pytest.fixture(autouse=True)
def clean_emulator(emulator):
    emulator.faults.clear()
    emulator.requests_seen.clear()
    yield
    emulator.faults.clear()


@pytest.fixture(scope="module")
def adapter(emulator):
    return GoogleVertexAdapter(access_token=TOKEN, project=PROJECT, location=LOCATION, base_url=emulator.url,
                               timeout=2.0)


def vertex_request(**overrides) -> GenerationRequest:
    fields = dict(model_id=MODEL, prompt="A lighthouse at dusk, slow dolly in", negative_prompt="",
                  duration_seconds=8, aspect_ratio="16:9", idempotency_key="take-1-attempt-1", resolution="720p")
    return GenerationRequest(**(fields | overrides))


def seen(emulator, path_part: str):
    return [request for request in emulator.requests_seen if request.method == "POST" and path_part in request.path]


def prerender(emulator, job_id: str) -> None:
    """Render the emulator's MP4 up front: a first render can take longer than the adapter's 2 s timeout."""
    emulator.output_path(emulator.jobs[job_id.rsplit("/", 1)[1]])


def finished(adapter, emulator, **overrides) -> JobStatus:
    job = adapter.submit(vertex_request(**overrides))
    prerender(emulator, job.job_id)
    return wait_for_state(adapter, job.job_id, JobState.TERMINAL)


# -- happy path -------------------------------------------------------------------------------


def test_submit_poll_and_fetch_a_real_inline_video(adapter, emulator, tmp_path):
    submitted = adapter.submit(vertex_request())
    assert submitted.state == JobState.QUEUED
    assert submitted.job_id.startswith(f"projects/{PROJECT}/locations/{LOCATION}/publishers/google/models/"
                                       f"{MODEL}/operations/")
    prerender(emulator, submitted.job_id)

    observed = []
    while not observed or observed[-1].state not in JobState.TERMINAL:
        observed.append(adapter.status(submitted.job_id))
        time.sleep(0.05)
    states = [status.state for status in observed]
    assert states[0] == JobState.RUNNING and states[-1] == JobState.SUCCEEDED
    assert set(states) == {JobState.RUNNING, JobState.SUCCEEDED}
    assert all(status.progress is None for status in observed[:-1])  # Veo reports no progress
    assert observed[-1].progress == 100 and observed[-1].output_url is None  # the bytes came inline

    polls = len(seen(emulator, ":fetchPredictOperation"))
    video = adapter.fetch_output(observed[-1], tmp_path / "take.mp4", max_bytes=50_000_000)
    assert len(seen(emulator, ":fetchPredictOperation")) == polls  # the poll's inline bytes were kept
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        assert stream.width > stream.height  # 16:9
        assert next(container.decode(stream)) is not None


def test_a_download_without_the_polls_bytes_fetches_the_operation_again(adapter, emulator, tmp_path):
    done = finished(adapter, emulator)
    another_worker = GoogleVertexAdapter(access_token=TOKEN, project=PROJECT, location=LOCATION, base_url=emulator.url)
    polls = len(seen(emulator, ":fetchPredictOperation"))
    video = another_worker.fetch_output(done, tmp_path / "take.mp4", max_bytes=50_000_000)
    assert len(seen(emulator, ":fetchPredictOperation")) == polls + 1
    assert video.stat().st_size > 1_000


def test_inline_videos_over_the_size_cap_are_refused(adapter, emulator, tmp_path):
    done = finished(adapter, emulator)
    destination = tmp_path / "take.mp4"
    with pytest.raises(BadRequest, match="limit"):
        adapter.fetch_output(done, destination, max_bytes=1_000)
    assert not destination.exists()


def test_gcs_outputs_are_refused_with_a_clear_reason(adapter, emulator, tmp_path):
    body = {"instances": [{"prompt": "x"}],
            "parameters": {"durationSeconds": 4, "generateAudio": False, "storageUri": "gs://bucket/takes/"}}
    answer = httpx.post(f"{emulator.url}{MODELS_PATH}/{MODEL}:predictLongRunning", json=body,
                        headers={"Authorization": f"Bearer {TOKEN}"})
    done = wait_for_state(adapter, answer.json()["name"], JobState.TERMINAL)
    assert done.state == JobState.SUCCEEDED
    assert done.output_url.startswith("gs://bucket/takes/") and done.output_url.endswith("/sample_0.mp4")
    with pytest.raises(BadRequest, match="storageUri"):
        adapter.fetch_output(done, tmp_path / "take.mp4", max_bytes=50_000_000)


def test_https_output_urls_are_downloaded(adapter, emulator, tmp_path):
    done = finished(adapter, emulator)
    job = emulator.jobs[done.job_id.rsplit("/", 1)[1]]
    at_url = JobStatus(done.job_id, JobState.SUCCEEDED, "done", output_url=emulator.file_url(job))
    video = adapter.fetch_output(at_url, tmp_path / "take.mp4", max_bytes=50_000_000)
    assert video.read_bytes()[4:8] == b"ftyp"
    assert emulator.requests_seen[-1].path.startswith("/_emulator/files/")


# -- wire shape -------------------------------------------------------------------------------


def test_request_has_the_vertex_wire_shape(adapter, emulator):
    request = vertex_request(negative_prompt="blurry, text overlays", seed=42, with_audio=True,
                             callback_url="https://studio.test/hook/t1")
    job = adapter.submit(request)
    sent = seen(emulator, ":predictLongRunning")[-1]
    assert sent.path == f"{MODELS_PATH}/{MODEL}:predictLongRunning"
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert "x-goog-api-key" not in sent.headers
    assert json.loads(sent.body) == {
        "instances": [{"prompt": "A lighthouse at dusk, slow dolly in"}],
        "parameters": {"sampleCount": 1, "durationSeconds": 8, "aspectRatio": "16:9", "generateAudio": True,
                       "resolution": "720p", "negativePrompt": "blurry, text overlays", "seed": 42},
    }  # no webhookConfig (Gemini API only), no storageUri (outputs come back inline)

    adapter.status(job.job_id)
    poll = seen(emulator, ":fetchPredictOperation")[-1]
    assert poll.path == f"{MODELS_PATH}/{MODEL}:fetchPredictOperation"
    assert poll.headers["authorization"] == f"Bearer {TOKEN}"
    assert json.loads(poll.body) == {"operationName": job.job_id}


def test_image_to_video_sends_inline_or_gcs_frames(adapter, emulator):
    adapter.submit(vertex_request(image_url=PNG_DATA_URL, end_image_url="gs://bucket/frames/last.jpg"))
    instance = json.loads(seen(emulator, ":predictLongRunning")[-1].body)["instances"][0]
    assert instance["image"] == {"bytesBase64Encoded": PNG_DATA_URL.split(",", 1)[1], "mimeType": "image/png"}
    assert instance["lastFrame"] == {"gcsUri": "gs://bucket/frames/last.jpg", "mimeType": "image/jpeg"}


def test_the_token_is_not_sent_to_another_origin(adapter):
    with GoogleVertexEmulator(latency_seconds=1) as elsewhere:
        with pytest.raises(BadRequest, match="input image"):  # the foreign host has no such image
            adapter.submit(vertex_request(image_url=f"{elsewhere.url}/frames/first.png"))
        assert elsewhere.requests_seen[-1].path == "/frames/first.png"
        assert "authorization" not in elsewhere.requests_seen[-1].headers


@pytest.mark.parametrize("overrides, refusal", [
    ({"duration_seconds": 5}, "4, 6, 8 seconds"),
    ({"aspect_ratio": "1:1"}, "16:9 or 9:16"),
    ({"resolution": "4k"}, "cannot render at 4k"),
    ({"reference_image_urls": (PNG_DATA_URL,)}, "reference images"),
    ({"multi_shot": (MultiShotSegment("a", 4), MultiShotSegment("b", 4))}, "multi-shot"),
    ({"seed": -1}, "seed between 0 and 4294967295"),
    ({"model_id": "veo-3.1-generate-preview"}, "not supported"),
])
def test_unsupported_requests_are_refused_before_calling_google(adapter, emulator, overrides, refusal):
    with pytest.raises(BadRequest, match=refusal):
        adapter.submit(vertex_request(**overrides))
    assert not seen(emulator, ":predictLongRunning")


def test_a_job_id_that_is_not_an_operation_name_is_refused(adapter, emulator):
    with pytest.raises(BadRequest, match="operation name"):
        adapter.status("models/veo-3.1-generate-preview/operations/abc")
    assert not emulator.requests_seen


def test_the_emulator_refuses_what_vertex_refuses(emulator):
    url = f"{emulator.url}{MODELS_PATH}/{MODEL}:predictLongRunning"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    body = {"instances": [{"prompt": "x"}], "parameters": {"generateAudio": False},
            "webhookConfig": {"uris": ["https://x.test"]}}
    refused = httpx.post(url, json=body, headers=headers)
    assert refused.status_code == 400 and refused.json()["error"]["status"] == "INVALID_ARGUMENT"
    missing = httpx.post(url, json={"instances": [{"prompt": "x"}]})
    assert missing.status_code == 401 and missing.json()["error"]["status"] == "UNAUTHENTICATED"


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fault, expected", FAULT_ERRORS)
def test_submit_faults_are_classified(adapter, emulator, fault, expected):
    emulator.inject("submit", fault)
    with pytest.raises(Exception) as raised:
        adapter.submit(vertex_request())
    assert type(raised.value) is expected
    if fault == "429":
        assert raised.value.retry_after_seconds == 1.0  # from google.rpc.RetryInfo "1s"


@pytest.mark.parametrize("fault, expected", [(fault, error) for fault, error in FAULT_ERRORS if fault != "policy"])
def test_status_faults_are_classified(adapter, emulator, fault, expected):
    job = adapter.submit(vertex_request())
    emulator.inject("status", fault)
    with pytest.raises(Exception) as raised:
        adapter.status(job.job_id)
    assert type(raised.value) is expected
    if fault == "429":
        assert isinstance(raised.value, RateLimited) and raised.value.retry_after_seconds == 1.0


def test_a_safety_filtered_poll_is_a_policy_failure(adapter, emulator):
    job = adapter.submit(vertex_request())
    emulator.inject("status", "policy")
    status = adapter.status(job.job_id)
    assert status.state == JobState.FAILED
    assert type(status.error) is ContentPolicyRejected
    assert "usage guidelines" in status.error.reason


def test_a_wrong_token_is_an_authentication_failure(emulator):
    stale = GoogleVertexAdapter(access_token="ya29.expired", project=PROJECT, location=LOCATION,
                                base_url=emulator.url, timeout=2.0)
    with pytest.raises(AuthenticationFailed, match="access token"):
        stale.submit(vertex_request())


# -- job-level failures -----------------------------------------------------------------------


def test_job_blocked_by_safety_filters_fails_as_content_policy(adapter):
    job = adapter.submit(vertex_request(prompt="something [sandbox:policy]"))
    status = wait_for_state(adapter, job.job_id, JobState.TERMINAL)
    assert status.state == JobState.FAILED
    assert type(status.error) is ContentPolicyRejected
    assert status.raw_status == "rai_filtered" and "Support codes" in status.error.reason


def test_job_with_an_operation_error_fails_as_transient(adapter):
    job = adapter.submit(vertex_request(prompt="something [sandbox:fail]"))
    status = wait_for_state(adapter, job.job_id, JobState.TERMINAL)
    assert status.state == JobState.FAILED
    assert type(status.error) is TransientProviderError  # gRPC code 13 → INTERNAL
    assert "INTERNAL" in status.error.reason


# -- what Vertex does not offer ---------------------------------------------------------------


def test_cancel_and_callbacks_are_not_supported(adapter):
    assert adapter.supports_cancel is False and adapter.cancel("projects/p/operations/x") is False
    assert adapter.supports_callbacks is False
    with pytest.raises(WebhookRejected):
        adapter.parse_webhook(headers={"content-type": "application/json"}, body=b'{"name": "x"}')


def test_the_base_url_defaults_to_the_regional_endpoint():
    adapter = GoogleVertexAdapter(access_token=TOKEN, project=PROJECT, location="europe-west4")
    assert adapter.base_url == "https://europe-west4-aiplatform.googleapis.com"
