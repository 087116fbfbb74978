"""The MiniMax Hailuo adapter against its emulator: the contract of provider_contracts.md §6."""

import json
import time

import av
import httpx
import pytest

from providers.adapters.minimax import MiniMaxAdapter
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
from providers.emulators.minimax import MiniMaxEmulator
from tests.contract.conftest import CallbackSink, wait_for_state

API_KEY = "test-minimax-key"
DOCUMENTED_ORDER = ["Preparing", "Queueing", "Processing", "Success"]
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
    with MiniMaxEmulator(latency_seconds=1.5, api_key=API_KEY) as running:
        yield running


@pytest.fixture(autouse=True)
def no_leftover_faults(emulator):
    yield
    emulator.faults.clear()


@pytest.fixture
def adapter(emulator):
    return MiniMaxAdapter(api_key=API_KEY, base_url=emulator.url, timeout=2.0)


@pytest.fixture(scope="module")
def running_job(emulator):
    adapter = MiniMaxAdapter(api_key=API_KEY, base_url=emulator.url, timeout=2.0)
    return adapter.submit(take()).job_id


def take(**overrides) -> GenerationRequest:
    fields = dict(model_id="MiniMax-Hailuo-2.3", prompt="A lighthouse at dusk [Push in]", negative_prompt="",
                  duration_seconds=6, aspect_ratio="16:9", idempotency_key="take-41-attempt-1")
    return GenerationRequest(**{**fields, **overrides})


def last_request(emulator, method: str, path: str):
    return [seen for seen in emulator.requests_seen if seen.method == method and seen.path == path][-1]


# -- happy path -------------------------------------------------------------------------------


def test_a_take_runs_through_the_documented_statuses_to_a_real_video(adapter, emulator, tmp_path):
    submitted = adapter.submit(take())
    assert submitted.job_id.isdigit() and submitted.state == JobState.QUEUED

    observed, status = [], submitted
    deadline = time.monotonic() + 10
    while status.state not in JobState.TERMINAL and time.monotonic() < deadline:
        status = adapter.status(submitted.job_id)
        assert status.progress in (None, 100)  # MiniMax reports no progress
        if not observed or observed[-1] != status.raw_status:
            observed.append(status.raw_status)
        time.sleep(0.05)

    assert observed == [raw for raw in DOCUMENTED_ORDER if raw in observed]
    assert observed[0] in ("Preparing", "Queueing") and "Processing" in observed and observed[-1] == "Success"
    assert status.state == JobState.SUCCEEDED
    assert status.output_url == f"{emulator.url}/_emulator/files/{submitted.job_id}.mp4"

    path = adapter.fetch_output(status, tmp_path / "take.mp4", max_bytes=50_000_000)
    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames >= 24 * 6


def test_the_vendor_receives_the_documented_wire_shape(adapter, emulator):
    image = "data:image/png;base64,iVBORw0KGgo="
    adapter.submit(take(model_id="MiniMax-Hailuo-2.3-Fast", image_url=image, resolution="1080p",
                        callback_url="http://127.0.0.1:9/hooks/minimax/token"))

    sent = last_request(emulator, "POST", "/v1/video_generation")
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.headers["content-type"] == "application/json"
    assert sent.json() == {
        "model": "MiniMax-Hailuo-2.3-Fast",
        "prompt": "A lighthouse at dusk [Push in]",
        "duration": 6,  # an integer, not "6"
        "prompt_optimizer": False,
        "resolution": "1080P",
        "first_frame_image": image,
        "callback_url": "http://127.0.0.1:9/hooks/minimax/token",
    }


def test_polls_ask_by_task_id_and_the_file_id_is_resolved_to_a_download_url(adapter, emulator):
    job_id = adapter.submit(take()).job_id
    status = wait_for_state(adapter, job_id, JobState.TERMINAL)

    assert last_request(emulator, "GET", "/v1/query/video_generation").query == {"task_id": job_id}
    file_id = emulator.jobs[job_id].meta["file_id"]
    assert last_request(emulator, "GET", "/v1/files/retrieve").query == {"file_id": file_id}
    assert status.output_url.endswith(f"/{job_id}.mp4")


@pytest.mark.parametrize("overrides, refusal", [
    ({"resolution": "1080p", "duration_seconds": 10}, "1080P at 6 seconds only"),
    ({"duration_seconds": 5}, "6 or 10 seconds"),
    ({"model_id": "MiniMax-Hailuo-2.3-Fast"}, "needs a first frame"),
    ({"model_id": "T2V-01"}, "not supported"),
    ({"negative_prompt": "blur"}, "negative prompt"),
    ({"with_audio": True}, "audio"),
    ({"end_image_url": "https://example.com/last.png", "image_url": "https://example.com/first.png"}, "end frame"),
    ({"resolution": "4k"}, "cannot render at 4k"),
])
def test_requests_the_models_cannot_render_are_refused_before_calling_the_vendor(adapter, emulator, overrides,
                                                                                 refusal):
    before = len(emulator.requests_seen)
    with pytest.raises(BadRequest, match=refusal):
        adapter.submit(take(**overrides))
    assert len(emulator.requests_seen) == before


@pytest.mark.parametrize("body, problem", [
    ({"model": "MiniMax-Hailuo-02", "prompt": "x", "duration": 10, "resolution": "1080P"}, "1080P"),
    ({"model": "MiniMax-Hailuo-02", "prompt": "x", "duration": "6"}, "duration"),
    ({"model": "MiniMax-Hailuo-2.3-Fast", "prompt": "x"}, "first_frame_image"),
    ({"model": "MiniMax-Hailuo-02", "prompt": "x" * 2001}, "2000"),
])
def test_the_emulator_refuses_invalid_bodies_with_2013(emulator, body, problem):
    response = httpx.post(f"{emulator.url}/v1/video_generation", json=body,
                          headers={"Authorization": f"Bearer {API_KEY}"})
    assert response.status_code == 200
    assert response.json()["base_resp"]["status_code"] == 2013
    assert problem in response.json()["base_resp"]["status_msg"]
    assert "task_id" not in response.json()


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fault, expected", FAULT_ERRORS.items())
def test_submit_faults_are_classified(adapter, emulator, fault, expected):
    emulator.inject("submit", fault)
    with pytest.raises(expected) as caught:
        adapter.submit(take())
    assert type(caught.value) is expected
    if fault == "429":
        assert caught.value.retry_after_seconds is None  # MiniMax's 1002 comes without a hint


@pytest.mark.parametrize("fault, expected", FAULT_ERRORS.items())
def test_status_faults_are_classified(adapter, emulator, running_job, fault, expected):
    emulator.inject("status", fault)
    with pytest.raises(expected) as caught:
        adapter.status(running_job)
    assert type(caught.value) is expected


def test_a_failed_file_lookup_is_classified(adapter, emulator, running_job):
    wait_for_state(adapter, running_job, JobState.TERMINAL)
    emulator.inject("result", "credit")
    with pytest.raises(InsufficientVendorCredit):
        adapter.status(running_job)


def test_a_prompt_marker_fails_the_submit_for_sandbox_demos(adapter):
    with pytest.raises(InsufficientVendorCredit, match="1008"):
        adapter.submit(take(prompt="A lighthouse [sandbox:credit]"))


def test_a_wrong_key_is_refused_as_authentication_failure(emulator):
    adapter = MiniMaxAdapter(api_key="not-our-key", base_url=emulator.url, timeout=2.0)
    with pytest.raises(AuthenticationFailed, match="1004"):
        adapter.submit(take())


def test_job_level_policy_and_generic_failures(adapter):
    policy = adapter.submit(take(prompt="A duel [sandbox:policy]")).job_id
    generic = adapter.submit(take(prompt="A duel [sandbox:fail]")).job_id

    rejected = wait_for_state(adapter, policy, JobState.TERMINAL)
    assert (rejected.state, rejected.raw_status) == (JobState.FAILED, "Fail")
    assert isinstance(rejected.error, ContentPolicyRejected) and "1027" in rejected.error.reason

    failed = wait_for_state(adapter, generic, JobState.TERMINAL)
    assert failed.state == JobState.FAILED and type(failed.error) is ProviderError
    assert failed.output_url is None


def test_there_is_no_cancel(adapter, running_job):
    assert adapter.supports_cancel is False
    assert adapter.cancel(running_job) is False


# -- callbacks --------------------------------------------------------------------------------


class WebhookEndpointSink(CallbackSink):
    """Answers like our webhook endpoint: with the parsed event's `reply`, else `{}`."""

    adapter = None

    @property
    def reply_body(self) -> bytes:
        try:
            event = self.adapter.parse_webhook(headers={}, body=self.received[-1]["body"])
        except WebhookRejected:
            return b"{}"
        return json.dumps(event.reply or {}).encode()

    @reply_body.setter
    def reply_body(self, value):
        pass


@pytest.fixture
def webhook_endpoint(adapter):
    sink = WebhookEndpointSink()
    sink.adapter = adapter
    yield sink
    sink.close()


def test_callbacks_start_with_a_challenge_then_push_status_changes(adapter, emulator, webhook_endpoint, tmp_path):
    job_id = adapter.submit(take(callback_url=webhook_endpoint.url)).job_id
    received = webhook_endpoint.wait_for(3)
    events = [adapter.parse_webhook(headers=hit["headers"], body=hit["body"]) for hit in received[:3]]

    challenge = json.loads(received[0]["body"])["challenge"]
    assert events[0].reply == {"challenge": challenge} and events[0].status is None
    assert [event.status.state for event in events[1:]] == [JobState.RUNNING, JobState.SUCCEEDED]
    assert {event.job_id for event in events[1:]} == {job_id}
    assert json.loads(received[2]["body"])["status"] == "success"
    assert [sent.get("validated") for sent in emulator.callbacks_sent if sent["job_id"] == job_id][0] is True

    path = adapter.fetch_output(events[2].status, tmp_path / "from-callback.mp4", max_bytes=50_000_000)
    with av.open(str(path)) as container:
        assert next(container.decode(video=0)).width > 0


def test_no_status_pushes_when_the_challenge_is_not_echoed(adapter, emulator, callback_sink):
    job_id = adapter.submit(take(callback_url=callback_sink.url)).job_id  # the sink answers {}
    wait_for_state(adapter, job_id, JobState.TERMINAL)
    time.sleep(0.3)
    assert [json.loads(hit["body"]).keys() for hit in callback_sink.received] == [{"challenge"}]
    assert [sent["validated"] for sent in emulator.callbacks_sent if sent["job_id"] == job_id] == [False]


@pytest.mark.parametrize("push, state, error", [
    ({"task_id": "115334141465231360", "status": "success", "file_id": "205258526306433",
      "base_resp": {"status_code": 0, "status_msg": "success"}}, JobState.SUCCEEDED, None),
    ({"task_id": "115334141465231360", "status": "Success", "file_id": "205258526306433",
      "base_resp": {"status_code": 0, "status_msg": "success"}}, JobState.SUCCEEDED, None),
    ({"task_id": "115334141465231360", "status": "processing",
      "base_resp": {"status_code": 0, "status_msg": "success"}}, JobState.RUNNING, None),
    ({"task_id": "115334141465231360", "status": "failed",
      "base_resp": {"status_code": 1027, "status_msg": "output video sensitive"}},
     JobState.FAILED, ContentPolicyRejected),
])
def test_status_pushes_parse_case_insensitively(adapter, push, state, error):
    event = adapter.parse_webhook(headers={}, body=json.dumps(push).encode())
    assert event.job_id == "115334141465231360" and event.reply is None
    assert event.status.state == state
    assert event.event_id == f"115334141465231360:{push['status'].lower()}"
    assert (type(event.status.error) if error else None) is error


@pytest.mark.parametrize("body", [
    b"not json",
    b"[1, 2]",
    b'{"status": "success"}',
    b'{"task_id": "1", "status": "exploded"}',
    b'{"challenge": 42}',
    b'{"challenge": ""}',
])
def test_malformed_callbacks_are_rejected(adapter, body):
    with pytest.raises(WebhookRejected):
        adapter.parse_webhook(headers={}, body=body)
