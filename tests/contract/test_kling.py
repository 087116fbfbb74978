"""The Kling adapter against its emulator: the contract of provider_contracts.md §8."""

import json
import time

import av
import httpx
import jwt
import pytest

from providers.adapters import kling
from providers.adapters.kling import KlingAdapter
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
from providers.emulators.kling import KlingEmulator
from tests.contract.conftest import wait_for_state

ACCESS_KEY = "test-kling-access-key-0123456789abcdef"
SECRET_KEY = "test-kling-secret-key-0123456789abcdef"
DOCUMENTED_ORDER = ["submitted", "processing", "succeed"]
FAULT_ERRORS = {
    "429": RateLimited,
    "500": TransientProviderError,
    "503": TransientProviderError,
    "timeout": TransientProviderError,
    "malformed": TransientProviderError,
    "policy": ContentPolicyRejected,
    "credit": InsufficientVendorCredit,  # an HTTP 429 whose code 1102 says "resource pack depleted"
    "bad_request": BadRequest,
    "auth": AuthenticationFailed,
}
IMAGE_BASE64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="


@pytest.fixture(scope="module")
def emulator():
    with KlingEmulator(latency_seconds=1.2, access_key=ACCESS_KEY, secret_key=SECRET_KEY) as running:
        yield running


@pytest.fixture(autouse=True)
def no_leftover_faults(emulator):
    yield
    emulator.faults.clear()


def adapter_for(emulator, **overrides) -> KlingAdapter:
    credentials = {"access_key": ACCESS_KEY, "secret_key": SECRET_KEY, **overrides}
    return KlingAdapter(**credentials, base_url=emulator.url, timeout=2.0)


@pytest.fixture
def adapter(emulator):
    return adapter_for(emulator)


@pytest.fixture(scope="module")
def running_job(emulator):
    adapter = adapter_for(emulator)
    return adapter, adapter.submit(take(idempotency_key="running-job")).job_id


_keys = iter(range(10**6))


def take(**overrides) -> GenerationRequest:
    fields = dict(model_id="kling-v2-5-turbo", prompt="A paper boat on a rain-soaked street", negative_prompt="",
                  duration_seconds=5, aspect_ratio="16:9", idempotency_key=f"take-{next(_keys)}-attempt-1")
    return GenerationRequest(**{**fields, **overrides})


def requests_to(emulator, method: str, prefix: str):
    return [seen for seen in emulator.requests_seen if seen.method == method and seen.path.startswith(prefix)]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


# -- happy path -------------------------------------------------------------------------------


def test_a_take_runs_through_the_documented_statuses_to_a_real_video(adapter, emulator, tmp_path):
    submitted = adapter.submit(take())
    assert submitted.state == JobState.QUEUED and submitted.raw_status == "submitted"

    observed, status = [], submitted
    deadline = time.monotonic() + 10
    while status.state not in JobState.TERMINAL and time.monotonic() < deadline:
        status = adapter.status(submitted.job_id)
        assert status.progress in (None, 100)  # Kling reports no progress
        if not observed or observed[-1] != status.raw_status:
            observed.append(status.raw_status)
        time.sleep(0.05)

    assert observed == DOCUMENTED_ORDER
    assert status.state == JobState.SUCCEEDED
    assert status.output_url == f"{emulator.url}/_emulator/files/{submitted.job_id}.mp4"
    assert requests_to(emulator, "GET", "/v1/videos/")[-1].path == f"/v1/videos/text2video/{submitted.job_id}"

    path = adapter.fetch_output(status, tmp_path / "take.mp4", max_bytes=50_000_000)
    with av.open(str(path)) as container:
        frames = sum(1 for _ in container.decode(video=0))
    assert frames >= 24 * 5


def test_text_to_video_sends_the_documented_wire_shape(adapter, emulator):
    request = take(model_id="kling-v2-6", negative_prompt="blur, text", aspect_ratio="9:16", resolution="1080p",
                   with_audio=True, duration_seconds=10, seed=42, callback_url="http://127.0.0.1:9/hooks/kling/t")
    adapter.submit(request)

    sent = requests_to(emulator, "POST", "/v1/videos/text2video")[-1]
    assert sent.json() == {
        "model_name": "kling-v2-6",
        "prompt": "A paper boat on a rain-soaked street",
        "negative_prompt": "blur, text",
        "mode": "pro",
        "aspect_ratio": "9:16",
        "duration": "10",  # a string, as Kling documents
        "sound": "on",
        "callback_url": "http://127.0.0.1:9/hooks/kling/t",
        "external_task_id": request.idempotency_key,
    }


def test_every_request_carries_a_fresh_hs256_jwt_signed_with_the_secret_key(adapter, emulator):
    before = time.time()
    adapter.submit(take())

    scheme, token = requests_to(emulator, "POST", "/v1/videos/")[-1].headers["authorization"].split(" ")
    assert scheme == "Bearer"
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(token, SECRET_KEY, algorithms=["HS256"])
    assert claims["iss"] == ACCESS_KEY
    assert before + 1799 <= claims["exp"] <= time.time() + 1801
    assert claims["exp"] - claims["nbf"] == 1805


def test_image_to_video_sends_raw_base64_and_no_aspect_ratio(adapter, emulator):
    adapter.submit(take(image_url=f"data:image/png;base64,{IMAGE_BASE64}",
                        end_image_url="https://example.com/last.png", resolution="720p"))

    sent = requests_to(emulator, "POST", "/v1/videos/image2video")[-1].json()
    assert sent["image"] == IMAGE_BASE64
    assert sent["image_tail"] == "https://example.com/last.png"
    assert sent["mode"] == "std" and "aspect_ratio" not in sent and "sound" not in sent


def test_an_image_task_is_found_by_a_process_that_did_not_submit_it(adapter, emulator):
    job_id = adapter.submit(take(image_url="https://example.com/first.png")).job_id
    other_worker = adapter_for(emulator)

    status = other_worker.status(job_id)

    assert status.job_id == job_id and status.state in (JobState.QUEUED, JobState.RUNNING)
    asked = [seen.path for seen in requests_to(emulator, "GET", "/v1/videos/")][-2:]
    assert asked == [f"/v1/videos/text2video/{job_id}", f"/v1/videos/image2video/{job_id}"]


def test_a_worker_remembers_a_bounded_number_of_task_endpoints(adapter, emulator, monkeypatch):
    monkeypatch.setattr(kling, "KINDS_REMEMBERED", 2)
    first, second, third = (adapter.submit(take(image_url="https://example.com/first.png",
                                                 idempotency_key=f"bounded-{n}")).job_id for n in range(3))
    assert list(adapter._kinds) == [second, third]
    adapter.status(first)  # forgotten: found again by trying both endpoints, then remembered
    asked = [seen.path for seen in requests_to(emulator, "GET", "/v1/videos/")][-2:]
    assert asked == [f"/v1/videos/text2video/{first}", f"/v1/videos/image2video/{first}"]
    assert list(adapter._kinds) == [third, first]


def test_a_retried_submit_returns_the_task_of_the_first_attempt(adapter, emulator):
    request = take()
    first = adapter.submit(request)
    second = adapter_for(emulator).submit(request)

    assert second.job_id == first.job_id
    tasks = [job for job in emulator.jobs.values() if job.meta["external_task_id"] == request.idempotency_key]
    assert len(tasks) == 1
    assert requests_to(emulator, "GET", "/v1/videos/")[-1].path == f"/v1/videos/text2video/{request.idempotency_key}"


def test_the_emulator_refuses_a_duplicate_external_task_id(emulator, adapter):
    request = take()
    adapter.submit(request)
    body = {"model_name": "kling-v2-5-turbo", "prompt": "x", "external_task_id": request.idempotency_key}
    response = httpx.post(f"{emulator.url}/v1/videos/text2video", headers=bearer(make_token()), json=body)
    assert response.status_code == 400 and response.json()["code"] == 1201
    assert "external_task_id" in response.json()["message"]


@pytest.mark.parametrize("overrides, refusal", [
    ({"duration_seconds": 6}, "5 or 10 seconds"),
    ({"aspect_ratio": "4:3"}, "cannot render 4:3"),
    ({"with_audio": True}, "cannot generate audio"),
    ({"model_id": "kling-v2-6", "with_audio": True, "resolution": "720p"}, "pro mode"),
    ({"model_id": "kling-v1"}, "not supported"),
    ({"end_image_url": "https://example.com/last.png"}, "without a start frame"),
    ({"model_id": "kling-v2-6", "image_url": "https://example.com/first.png",
      "end_image_url": "https://example.com/last.png"}, "end frame in pro mode"),
    ({"reference_image_urls": ("https://example.com/ref.png",)}, "reference images"),
    ({"resolution": "4k"}, "cannot render at 4k"),
    ({"image_url": "data:image/png,rawbytes"}, "base64"),
])
def test_requests_the_models_cannot_render_are_refused_before_calling_the_vendor(adapter, emulator, overrides,
                                                                                 refusal):
    before = len(emulator.requests_seen)
    with pytest.raises(BadRequest, match=refusal):
        adapter.submit(take(**overrides))
    assert len(emulator.requests_seen) == before


@pytest.mark.parametrize("body, problem", [
    ({"model_name": "kling-v2-5-turbo", "prompt": "x", "duration": 5}, "duration"),
    ({"model_name": "kling-v2-5-turbo", "prompt": "x", "aspect_ratio": "4:3"}, "aspect_ratio"),
    ({"model_name": "kling-v2-5-turbo", "prompt": "x", "sound": "on"}, "sound"),
    ({"model_name": "kling-v2-5-turbo"}, "prompt is required"),
])
def test_the_emulator_refuses_invalid_bodies_with_1201(emulator, adapter, body, problem):
    response = httpx.post(f"{emulator.url}/v1/videos/text2video", json=body, headers=bearer(make_token()))
    assert response.status_code == 400 and response.json()["code"] == 1201
    assert problem in response.json()["message"]


def test_the_emulator_refuses_a_data_url_image(emulator, adapter):
    body = {"model_name": "kling-v2-5-turbo", "image": f"data:image/png;base64,{IMAGE_BASE64}"}
    response = httpx.post(f"{emulator.url}/v1/videos/image2video", json=body, headers=bearer(make_token()))
    assert response.status_code == 400 and "data: prefix" in response.json()["message"]


# -- authentication ---------------------------------------------------------------------------


def make_token(*, secret=SECRET_KEY, iss=ACCESS_KEY, exp_in=1800, nbf_in=-5) -> str:
    now = int(time.time())
    return jwt.encode({"iss": iss, "exp": now + exp_in, "nbf": now + nbf_in}, secret, algorithm="HS256")


@pytest.mark.parametrize("token, code", [
    (None, 1001),
    ("basic", 1002),
    ({"secret": "forged-secret-key-0123456789abcdef0123"}, 1002),
    ({"iss": "someone-else"}, 1000),
    ({"nbf_in": 600}, 1003),
    ({"exp_in": -10, "nbf_in": -1900}, 1004),
])
def test_the_emulator_checks_the_jwt(emulator, token, code):
    # Tokens are made as the test runs: their times are relative to now, not to collection.
    headers = {} if token is None else {"Authorization": "Basic abc"} if token == "basic" else bearer(make_token(**token))
    response = httpx.get(f"{emulator.url}/v1/videos/text2video/1", headers=headers)
    assert response.status_code == 401 and response.json()["code"] == code


def test_a_wrong_secret_key_is_an_authentication_failure(emulator):
    with pytest.raises(AuthenticationFailed, match="1002"):
        adapter_for(emulator, secret_key="not-our-secret-key-0123456789abcdef").submit(take())


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fault, expected", FAULT_ERRORS.items())
def test_submit_faults_are_classified(adapter, emulator, fault, expected):
    emulator.inject("submit", fault)
    with pytest.raises(expected) as caught:
        adapter.submit(take())
    assert type(caught.value) is expected
    if fault == "429":
        assert caught.value.retry_after_seconds == 1.0


@pytest.mark.parametrize("fault, expected", FAULT_ERRORS.items())
def test_status_faults_are_classified(emulator, running_job, fault, expected):
    adapter, job_id = running_job
    emulator.inject("status", fault)
    with pytest.raises(expected) as caught:
        adapter.status(job_id)
    assert type(caught.value) is expected


def test_a_prompt_marker_fails_the_submit_for_sandbox_demos(adapter):
    with pytest.raises(RateLimited, match="1302"):
        adapter.submit(take(prompt="A paper boat [sandbox:429]"))


def test_job_level_policy_and_generic_failures(adapter):
    policy = adapter.submit(take(prompt="A duel [sandbox:policy]")).job_id
    generic = adapter.submit(take(prompt="A duel [sandbox:fail]")).job_id

    rejected = wait_for_state(adapter, policy, JobState.TERMINAL)
    assert (rejected.state, rejected.raw_status) == (JobState.FAILED, "failed")
    assert isinstance(rejected.error, ContentPolicyRejected) and "risk control" in rejected.error.reason

    failed = wait_for_state(adapter, generic, JobState.TERMINAL)
    assert failed.state == JobState.FAILED and type(failed.error) is ProviderError
    assert failed.output_url is None


def test_there_is_no_cancel(running_job):
    adapter, job_id = running_job
    assert adapter.supports_cancel is False
    assert adapter.cancel(job_id) is False


# -- callbacks --------------------------------------------------------------------------------


def test_callbacks_push_each_status_change_as_the_wrapped_task(adapter, callback_sink, tmp_path):
    job_id = adapter.submit(take(callback_url=callback_sink.url)).job_id
    received = callback_sink.wait_for(2)
    events = [adapter.parse_webhook(headers=hit["headers"], body=hit["body"]) for hit in received]

    assert [event.status.raw_status for event in events] == ["processing", "succeed"]
    assert {event.job_id for event in events} == {job_id}
    assert len({event.event_id for event in events}) == 2
    assert json.loads(received[-1]["body"])["data"]["task_id"] == job_id

    path = adapter.fetch_output(events[-1].status, tmp_path / "from-callback.mp4", max_bytes=50_000_000)
    with av.open(str(path)) as container:
        assert next(container.decode(video=0)).width > 0


TASK = {"task_id": "867283741759111202", "task_status": "succeed", "task_status_msg": "",
        "created_at": 1722769557708, "updated_at": 1722769557999,
        "task_result": {"videos": [{"id": "v1", "url": "https://cdn.example/v1.mp4", "duration": "5"}]}}


@pytest.mark.parametrize("payload", [
    {"code": 0, "message": "SUCCEED", "request_id": "r-1", "data": TASK},
    TASK,
], ids=["wrapped", "unwrapped"])
def test_both_documented_callback_envelopes_parse(adapter, payload):
    event = adapter.parse_webhook(headers={}, body=json.dumps(payload).encode())
    assert event.job_id == "867283741759111202"
    assert event.status.state == JobState.SUCCEEDED
    assert event.status.output_url == "https://cdn.example/v1.mp4"
    assert event.event_id == "867283741759111202:succeed:1722769557999"


def test_a_failed_callback_carries_the_classified_reason(adapter):
    task = {**TASK, "task_status": "failed", "task_status_msg": "Failure to pass the risk control system"}
    del task["task_result"]
    event = adapter.parse_webhook(headers={}, body=json.dumps({"code": 0, "data": task}).encode())
    assert event.status.state == JobState.FAILED
    assert isinstance(event.status.error, ContentPolicyRejected)


@pytest.mark.parametrize("body", [
    b"not json",
    b'["a"]',
    b'{"code": 0, "data": {"task_status": "succeed"}}',
    b'{"task_id": "1", "task_status": "exploded"}',
    b'{"task_id": "", "task_status": "succeed"}',
])
def test_malformed_callbacks_are_rejected(adapter, body):
    with pytest.raises(WebhookRejected):
        adapter.parse_webhook(headers={}, body=body)
