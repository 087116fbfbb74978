"""LumaAdapter against the Dream Machine API emulator: wire shape, statuses, errors, callbacks."""

import json
import time

import av
import httpx
import pytest

from providers.adapters.luma import LumaAdapter
from providers.base import (
    AuthenticationFailed,
    BadRequest,
    ContentPolicyRejected,
    GenerationRequest,
    InsufficientVendorCredit,
    JobState,
    ProviderError,
    RateLimited,
    TransientProviderError,
    WebhookRejected,
)
from providers.emulators.luma import LumaEmulator
from tests.contract.conftest import wait_for_state

API_KEY = "test-luma-key"
START_FRAME = "https://cdn.studio.test/frames/start.png"
END_FRAME = "https://cdn.studio.test/frames/end.png"

FAULT_ERRORS = {
    "429": RateLimited,
    "500": TransientProviderError,
    "503": TransientProviderError,
    "timeout": TransientProviderError,
    "malformed": TransientProviderError,
    "policy": ContentPolicyRejected,
    "credit": InsufficientVendorCredit,
    "bad_request": BadRequest,
    "auth": AuthenticationFailed,
}


@pytest.fixture(scope="module")
def emulator():
    """One server for the module (stopping one costs half a second); each test starts clean."""
    with LumaEmulator(latency_seconds=1.2) as running:
        yield running


@pytest.fixture(autouse=True)
def clean_emulator(emulator):
    emulator.faults.clear()
    emulator.requests_seen.clear()
    yield
    emulator.faults.clear()


@pytest.fixture(scope="module")
def adapter(emulator):
    return LumaAdapter(api_key=API_KEY, base_url=f"{emulator.url}/dream-machine/v1", timeout=2.0)


def luma_request(**overrides) -> GenerationRequest:
    fields = dict(model_id="ray-2", prompt="A paper boat drifting down a rainy gutter", negative_prompt="",
                  duration_seconds=5, aspect_ratio="16:9", idempotency_key="take-1-attempt-1", resolution="720p")
    return GenerationRequest(**(fields | overrides))


def sent_bodies(emulator) -> list[dict]:
    return [json.loads(request.body) for request in emulator.requests_seen if request.method == "POST"]


# -- happy path -----------------------------------------------------------------------------


def test_submit_poll_and_fetch_a_real_video(adapter, emulator, tmp_path):
    submitted = adapter.submit(luma_request())
    assert (submitted.state, submitted.raw_status) == (JobState.QUEUED, "queued")

    observed = [submitted]
    while observed[-1].state not in JobState.TERMINAL:
        observed.append(adapter.status(submitted.job_id))
        time.sleep(0.05)
    raw = [status.raw_status for status in observed]
    assert raw == sorted(raw, key=["queued", "dreaming", "completed"].index)  # never goes backwards
    assert {"queued", "dreaming", "completed"} <= set(raw)
    assert all(status.progress is None for status in observed[:-1])  # Luma reports no progress
    assert observed[-1].state == JobState.SUCCEEDED and observed[-1].progress == 100

    emulator.output_path(emulator.jobs[submitted.job_id])  # render up front: it outlasts the 2 s timeout
    video = adapter.fetch_output(observed[-1], tmp_path / "take.mp4", max_bytes=50_000_000)
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        assert stream.width > stream.height  # 16:9
        assert next(container.decode(stream)) is not None


def test_download_refuses_files_over_the_size_cap(adapter, emulator, tmp_path):
    done = wait_for_state(adapter, adapter.submit(luma_request()).job_id, JobState.TERMINAL)
    emulator.output_path(emulator.jobs[done.job_id])
    with pytest.raises(BadRequest, match="limit"):
        adapter.fetch_output(done, tmp_path / "take.mp4", max_bytes=1_000)


# -- wire shape -----------------------------------------------------------------------------


def test_text_to_video_request_has_the_documented_wire_shape(adapter, emulator):
    job = adapter.submit(luma_request(seed=3, callback_url="https://studio.test/hook/t1"))
    create = emulator.requests_seen[0]
    assert (create.method, create.path) == ("POST", "/dream-machine/v1/generations/video")
    assert create.headers["authorization"] == f"Bearer {API_KEY}"
    assert not any("idempotency" in name for name in create.headers)  # Luma takes no idempotency key
    assert json.loads(create.body) == {
        "model": "ray-2", "prompt": "A paper boat drifting down a rainy gutter", "aspect_ratio": "16:9",
        "duration": "5s", "resolution": "720p", "callback_url": "https://studio.test/hook/t1",
    }

    adapter.status(job.job_id)
    poll = emulator.requests_seen[-1]
    assert (poll.method, poll.path) == ("GET", f"/dream-machine/v1/generations/{job.job_id}")
    assert poll.headers["authorization"] == f"Bearer {API_KEY}"


def test_image_to_video_sends_keyframes(adapter, emulator):
    adapter.submit(luma_request(model_id="ray-flash-2", duration_seconds=9, image_url=START_FRAME,
                                end_image_url=END_FRAME, resolution=""))
    body = sent_bodies(emulator)[-1]
    assert body["keyframes"] == {"frame0": {"type": "image", "url": START_FRAME},
                                 "frame1": {"type": "image", "url": END_FRAME}}
    assert body["duration"] == "9s" and body["model"] == "ray-flash-2"
    assert "resolution" not in body


@pytest.mark.parametrize("overrides, refusal", [
    ({"duration_seconds": 8}, "5 or 9 seconds"),
    ({"aspect_ratio": "2:1"}, "cannot render 2:1"),
    ({"negative_prompt": "blur"}, "negative prompt"),
    ({"with_audio": True}, "audio"),
    ({"image_url": "data:image/png;base64,AAAA"}, "data: URLs"),
    ({"reference_image_urls": (START_FRAME,)}, "reference images"),
])
def test_unsupported_requests_are_refused_before_calling_luma(adapter, emulator, overrides, refusal):
    with pytest.raises(BadRequest, match=refusal):
        adapter.submit(luma_request(**overrides))
    assert not emulator.requests_seen


def test_the_vendor_refuses_an_unknown_model(adapter):
    with pytest.raises(BadRequest, match="model"):
        adapter.submit(luma_request(model_id="ray-99"))


def test_the_emulator_refuses_what_luma_refuses(emulator):
    url = f"{emulator.url}/dream-machine/v1/generations/video"
    unsigned = httpx.post(url, json={"model": "ray-2", "prompt": "x"})
    assert unsigned.status_code == 401
    numeric = httpx.post(url, json={"model": "ray-2", "prompt": "x", "duration": 5},
                         headers={"Authorization": f"Bearer {API_KEY}"})
    assert numeric.status_code == 422 and numeric.json()["detail"][0]["loc"] == ["body", "duration"]


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULT_ERRORS)
def test_submit_faults_are_classified(adapter, emulator, fault):
    emulator.inject("submit", fault)
    with pytest.raises(Exception) as raised:
        adapter.submit(luma_request())
    assert type(raised.value) is FAULT_ERRORS[fault]
    if fault == "429":
        assert raised.value.retry_after_seconds == 1.0


@pytest.mark.parametrize("fault", [fault for fault in FAULT_ERRORS if fault != "policy"])
def test_status_faults_are_classified(adapter, emulator, fault):
    job = adapter.submit(luma_request())
    emulator.inject("status", fault)
    with pytest.raises(Exception) as raised:
        adapter.status(job.job_id)
    assert type(raised.value) is FAULT_ERRORS[fault]
    if fault == "429":
        assert raised.value.retry_after_seconds == 1.0


def test_a_moderation_failure_seen_on_poll_is_a_policy_failure(adapter, emulator):
    job = adapter.submit(luma_request())
    emulator.inject("status", "policy")
    status = adapter.status(job.job_id)
    assert (status.state, status.raw_status) == (JobState.FAILED, "failed")
    assert type(status.error) is ContentPolicyRejected


def test_download_faults_are_classified(adapter, emulator, tmp_path):
    done = wait_for_state(adapter, adapter.submit(luma_request()).job_id, JobState.TERMINAL)
    emulator.inject("download", "500")
    with pytest.raises(TransientProviderError):
        adapter.fetch_output(done, tmp_path / "take.mp4", max_bytes=50_000_000)


# -- job-level failures ---------------------------------------------------------------------


def test_job_failing_moderation_is_a_content_policy_rejection(adapter):
    job = adapter.submit(luma_request(prompt="something [sandbox:policy]"))
    status = wait_for_state(adapter, job.job_id, JobState.TERMINAL)
    assert status.state == JobState.FAILED
    assert type(status.error) is ContentPolicyRejected
    assert "moderation" in status.error.reason


def test_job_failing_for_another_reason_is_a_plain_provider_error(adapter):
    job = adapter.submit(luma_request(prompt="something [sandbox:fail]"))
    status = wait_for_state(adapter, job.job_id, JobState.TERMINAL)
    assert status.state == JobState.FAILED
    assert type(status.error) is ProviderError
    assert "Generation failed" in status.error.reason


def test_cancel_is_not_supported_and_never_deletes(adapter, emulator):
    job = adapter.submit(luma_request())
    assert adapter.supports_cancel is False
    assert adapter.cancel(job.job_id) is False
    assert not [request for request in emulator.requests_seen if request.method == "DELETE"]
    assert job.job_id in emulator.jobs


# -- callbacks ------------------------------------------------------------------------------


def test_callbacks_parse_into_events(adapter, callback_sink):
    good = adapter.submit(luma_request(callback_url=callback_sink.url))
    blocked = adapter.submit(luma_request(prompt="x [sandbox:policy]", callback_url=callback_sink.url))
    received = callback_sink.wait_for(4)  # dreaming + completed, dreaming + failed
    events = [adapter.parse_webhook(headers=hit["headers"], body=hit["body"]) for hit in received]

    by_job = {}
    for event in events:
        by_job.setdefault(event.job_id, []).append(event.status)
    assert [status.state for status in by_job[good.job_id]] == [JobState.RUNNING, JobState.SUCCEEDED]
    assert by_job[good.job_id][-1].output_url.endswith(f"/_emulator/files/{good.job_id}.mp4")
    assert [status.state for status in by_job[blocked.job_id]] == [JobState.RUNNING, JobState.FAILED]
    assert type(by_job[blocked.job_id][-1].error) is ContentPolicyRejected
    assert len({event.event_id for event in events}) == 4


@pytest.mark.parametrize("body", [
    b"not json",
    b"[]",
    json.dumps({"state": "completed"}).encode(),
    json.dumps({"id": "g-1", "state": "exploded"}).encode(),
    json.dumps({"id": "g-1", "state": "completed", "assets": {}}).encode(),
])
def test_malformed_callbacks_are_rejected(adapter, body):
    with pytest.raises(WebhookRejected):
        adapter.parse_webhook(headers={"content-type": "application/json"}, body=body)
