"""Contract tests: ReplicateAdapter (httpx) against the Replicate predictions emulator."""

import json
import time
from dataclasses import replace

import av
import httpx
import pytest

from providers.adapters import standard_webhooks
from providers.adapters.replicate import (
    ReplicateAdapter,
    log_progress,
    model_error,
    prediction_create,
    prediction_status,
    problem_error,
)
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
from providers.emulators.replicate import ReplicateEmulator
from tests.contract.conftest import FAULT_ERRORS, wait_for_state

API_TOKEN = "r8_" + "Ab" * 18
WEBHOOK_SECRET = "whsec_" + "c2hvdGNyYWZ0LXJlcGxpY2F0ZS13ZWJob29rLXNlY3JldA=="
IMAGE = "https://assets.example.com/frames/start.png"
END_IMAGE = "https://assets.example.com/frames/end.png"
VERSION = "5" * 64



@pytest.fixture(scope="module")
def running_emulator():
    with ReplicateEmulator(latency_seconds=1.0, webhook_secret=WEBHOOK_SECRET) as running:
        yield running


@pytest.fixture
def emulator(running_emulator):
    running_emulator.requests_seen.clear()
    running_emulator.faults.clear()
    return running_emulator


@pytest.fixture
def adapter(emulator):
    return ReplicateAdapter(api_key=API_TOKEN, base_url=emulator.url, timeout=2.0, webhook_secret=WEBHOOK_SECRET)


def text_request(**changes) -> GenerationRequest:
    request = GenerationRequest(
        model_id="kwaivgi/kling-v2.1-master", prompt="A lighthouse at dusk, waves crashing", negative_prompt="",
        duration_seconds=5, aspect_ratio="16:9", idempotency_key="take-41-attempt-1", seed=42,
    )
    return replace(request, **changes)


def create_requests(emulator) -> list:
    return [seen for seen in emulator.requests_seen if seen.method == "POST" and seen.path.endswith("/predictions")]


# -- happy path -------------------------------------------------------------------------------


def test_prediction_runs_starting_processing_succeeded_and_downloads_a_real_video(adapter, tmp_path):
    submitted = adapter.submit(text_request())
    assert (submitted.state, submitted.raw_status, submitted.output_url) == (JobState.QUEUED, "starting", None)

    observed = []
    for _ in range(100):
        status = adapter.status(submitted.job_id)
        observed.append(status)
        if status.state in JobState.TERMINAL:
            break
        time.sleep(0.05)

    raw_sequence = [status.raw_status for index, status in enumerate(observed)
                    if index == 0 or status.raw_status != observed[index - 1].raw_status]
    assert raw_sequence == ["starting", "processing", "succeeded"]
    running = [status.progress for status in observed if status.state == JobState.RUNNING]
    assert running == sorted(running) and any(0 < progress < 100 for progress in running)
    finished = observed[-1]
    assert (finished.state, finished.progress, finished.error) == (JobState.SUCCEEDED, 100, None)
    assert finished.output_url.endswith(f"{submitted.job_id}.mp4")

    video = adapter.fetch_output(finished, tmp_path / "take.mp4", max_bytes=20_000_000)
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        assert (stream.width, stream.height) == (854, 480)  # the sandbox renders 16:9 small
        assert frames == 5 * stream.average_rate


def test_fetch_output_refuses_a_video_over_the_size_cap_and_never_sends_our_token(adapter, emulator, tmp_path):
    finished = wait_for_state(adapter, adapter.submit(text_request()).job_id, JobState.TERMINAL)
    with pytest.raises(BadRequest):
        adapter.fetch_output(finished, tmp_path / "take.mp4", max_bytes=1_000)
    assert not (tmp_path / "take.mp4").exists()
    [download] = [seen for seen in emulator.requests_seen if seen.path.startswith("/_emulator/files/")]
    assert "authorization" not in download.headers


def test_a_base_url_with_v1_works_too(emulator):
    adapter = ReplicateAdapter(api_key=API_TOKEN, base_url=f"{emulator.url}/v1/", timeout=2.0)
    assert adapter.submit(text_request()).state == JobState.QUEUED
    assert create_requests(emulator)[0].path == "/v1/models/kwaivgi/kling-v2.1-master/predictions"


# -- the wire ---------------------------------------------------------------------------------


def test_official_model_request_has_replicates_wire_shape(adapter, emulator):
    adapter.submit(text_request(negative_prompt="text overlays", aspect_ratio="9:16", duration_seconds=10,
                                image_url=IMAGE, callback_url="https://studio.example.com/hooks/replicate/t41"))

    [sent] = create_requests(emulator)
    assert sent.path == "/v1/models/kwaivgi/kling-v2.1-master/predictions"
    assert sent.headers["authorization"] == f"Bearer {API_TOKEN}"
    assert sent.headers["content-type"] == "application/json"
    assert "prefer" not in sent.headers  # asynchronous: no `Prefer: wait`
    assert sent.json() == {
        "input": {"prompt": "A lighthouse at dusk, waves crashing", "duration": 10, "negative_prompt": "text overlays",
                  "aspect_ratio": "9:16", "start_image": IMAGE},
        "webhook": "https://studio.example.com/hooks/replicate/t41",
        "webhook_events_filter": ["start", "completed"],
    }
    # Replicate accepts no idempotency key: ours stays home. Kling takes no seed either.
    assert "idempotency-key" not in sent.headers and b"take-41-attempt-1" not in sent.body


def test_a_pinned_version_goes_to_predictions_with_the_version_id(adapter, emulator):
    adapter.submit(text_request(model_id=f"kwaivgi/kling-v2.1-master:{VERSION}"))
    adapter.submit(text_request(model_id=VERSION, seed=7))

    pinned, bare = create_requests(emulator)
    assert pinned.path == bare.path == "/v1/predictions"
    assert pinned.json()["version"] == bare.json()["version"] == VERSION
    assert "webhook" not in pinned.json()  # no callback URL, no webhook
    assert bare.json()["input"]["seed"] == 7  # an unknown model gets every input we have


def test_kling_v21_sends_its_mode_and_frames_but_no_aspect_ratio():
    path, body = prediction_create(text_request(model_id="kwaivgi/kling-v2.1", image_url=IMAGE, end_image_url=END_IMAGE,
                                                resolution="1080p"))
    assert path == "/models/kwaivgi/kling-v2.1/predictions"
    assert body["input"] == {"prompt": "A lighthouse at dusk, waves crashing", "duration": 5, "start_image": IMAGE,
                             "end_image": END_IMAGE, "mode": "pro"}
    _, standard = prediction_create(text_request(model_id="kwaivgi/kling-v2.1", image_url=IMAGE))
    assert standard["input"]["mode"] == "standard"


@pytest.mark.parametrize(("changes", "complaint"), [
    ({"duration_seconds": 8}, "5 or 10 seconds"),
    ({"aspect_ratio": "4:3"}, "no 4:3"),
    ({"model_id": "kwaivgi/kling-v2.1"}, "needs a start image"),
    ({"model_id": "kwaivgi/kling-v2.1", "image_url": IMAGE, "end_image_url": END_IMAGE}, "only in pro mode"),
    ({"model_id": "kwaivgi/kling-v2.1", "image_url": IMAGE, "resolution": "4k"}, "no 4k mode"),
    ({"image_url": IMAGE, "end_image_url": END_IMAGE}, "no end frame"),
    ({"reference_image_urls": (IMAGE,)}, "reference images"),
    ({"model_id": "kling-v2.1-master"}, "not a Replicate model"),
])
def test_requests_the_model_cannot_take_are_refused_before_sending(adapter, emulator, changes, complaint):
    with pytest.raises(BadRequest, match=complaint):
        adapter.submit(text_request(**changes))
    assert create_requests(emulator) == []


def test_emulator_validates_like_replicate(emulator):
    headers = {"Authorization": f"Bearer {API_TOKEN}"}
    url = f"{emulator.url}/v1/models/kwaivgi/kling-v2.1-master/predictions"
    valid = {"input": {"prompt": "a boat", "duration": 5, "aspect_ratio": "16:9"}}
    cases = [
        ({"input": {**valid["input"], "duration": 7}}, headers, 422, "input.duration"),
        ({"input": {**valid["input"], "duration": "5"}}, headers, 422, "input.duration"),
        ({"input": {**valid["input"], "aspect_ratio": "4:3"}}, headers, 422, "input.aspect_ratio"),
        ({"input": {"duration": 5}}, headers, 422, "input.prompt"),
        ({**valid, "webhook_events_filter": ["everything"]}, headers, 422, "webhook_events_filter"),
        (valid, {}, 401, None),
    ]
    for body, sent_headers, status, field_name in cases:
        response = httpx.post(url, json=body, headers=sent_headers)
        assert response.status_code == status, body
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["status"] == status and {"type", "title", "detail"} <= set(problem)
        if field_name:
            assert problem["invalid_fields"][0]["field"] == field_name
    created = httpx.post(url, json=valid, headers=headers)
    assert created.status_code == 201 and created.json()["status"] == "starting"
    assert httpx.post(f"{emulator.url}/v1/predictions", json=valid, headers=headers).status_code == 422  # no version


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("fault", "error_class"), FAULT_ERRORS)
def test_submit_faults_are_classified(adapter, emulator, fault, error_class):
    emulator.inject("submit", fault)
    with pytest.raises(error_class) as raised:
        adapter.submit(text_request())
    assert type(raised.value) is error_class
    if fault == "429":
        assert raised.value.retry_after_seconds == 1.0


@pytest.mark.parametrize(("fault", "error_class"), FAULT_ERRORS)
def test_status_faults_are_classified(adapter, emulator, fault, error_class):
    job_id = adapter.submit(text_request()).job_id
    emulator.inject("status", fault)
    with pytest.raises(error_class) as raised:
        adapter.status(job_id)
    assert type(raised.value) is error_class
    assert adapter.status(job_id).job_id == job_id


def test_a_throttle_without_retry_after_uses_the_reset_hint_in_the_detail():
    response = httpx.Response(429, json={"detail": "Request was throttled. Your rate limit resets in ~30s.",
                                         "status": 429})
    error = problem_error(response)
    assert type(error) is RateLimited and error.retry_after_seconds == 30.0


@pytest.mark.parametrize(("status", "body", "error_class"), [
    (402, {"title": "Payment Required", "detail": "Add a payment method"}, InsufficientVendorCredit),
    (422, {"detail": "NSFW content detected in the input"}, ContentPolicyRejected),
    (422, {"detail": "- input.duration: must be 5 or 10"}, BadRequest),
    (404, {"detail": "Not found."}, BadRequest),
    (502, b"<html>bad gateway</html>", TransientProviderError),
    (403, {"detail": "You do not have permission"}, AuthenticationFailed),
])
def test_problem_details_are_classified(status, body, error_class):
    response = httpx.Response(status, json=body) if isinstance(body, dict) else httpx.Response(status, content=body)
    assert type(problem_error(response)) is error_class


def test_an_unknown_prediction_is_a_bad_request(adapter):
    with pytest.raises(BadRequest, match="could not be found"):
        adapter.status("nosuchprediction")


def test_prompt_markers_fail_submission_in_sandbox_demos(adapter):
    with pytest.raises(InsufficientVendorCredit):
        adapter.submit(text_request(prompt="a boat [sandbox:credit]"))


# -- job-level failures -----------------------------------------------------------------------


def test_a_flagged_prediction_fails_as_a_content_policy_rejection(adapter):
    job_id = adapter.submit(text_request(prompt="something forbidden [sandbox:policy]")).job_id
    failed = wait_for_state(adapter, job_id, JobState.TERMINAL)
    assert (failed.state, failed.raw_status, failed.output_url) == (JobState.FAILED, "failed", None)
    assert isinstance(failed.error, ContentPolicyRejected) and "E005" in failed.error.reason


def test_a_generic_model_failure_is_a_provider_error_not_a_policy_one(adapter):
    job_id = adapter.submit(text_request(prompt="a boat [sandbox:fail]")).job_id
    failed = wait_for_state(adapter, job_id, JobState.TERMINAL)
    assert failed.state == JobState.FAILED
    assert type(failed.error) is ProviderError and "E1000" in failed.error.reason


@pytest.mark.parametrize(("error", "error_class"), [
    ("The input or output was flagged as sensitive. Please try again with different inputs. (E005)",
     ContentPolicyRejected),
    ("NSFW content detected. Try running it again, or try a different prompt.", ContentPolicyRejected),
    ("Prediction timed out while starting (E6716)", TransientProviderError),
    ("CUDA out of memory (E1001)", ProviderError),
    (None, ProviderError),
])
def test_model_errors_are_classified(error, error_class):
    assert type(model_error(error)) is error_class


def test_list_outputs_use_the_first_uri_and_a_missing_output_is_a_failure():
    listed = prediction_status({"id": "p1", "status": "succeeded", "output": ["https://x/a.mp4", "https://x/b.mp4"]})
    assert (listed.state, listed.output_url) == (JobState.SUCCEEDED, "https://x/a.mp4")
    removed = prediction_status({"id": "p1", "status": "succeeded", "output": None, "data_removed": True})
    assert removed.state == JobState.FAILED and "deleted after an hour" in removed.error.reason
    with pytest.raises(TransientProviderError):
        prediction_status({"id": "p1", "status": "thinking"})


def test_progress_comes_from_the_last_tqdm_line_of_the_logs():
    logs = "Using seed: 3\n 10%|█         | 10/100 [00:01<00:09]\n 57%|█████▋    | 57/100 [00:05<00:04, 9.9it/s]\n"
    assert log_progress(logs) == 57
    assert log_progress("loading weights\n") is None and log_progress(None) is None


# -- cancel -----------------------------------------------------------------------------------


def test_cancel_stops_a_running_prediction(adapter, emulator):
    job_id = adapter.submit(text_request()).job_id
    assert adapter.supports_cancel and adapter.cancel(job_id) is True
    [sent] = [seen for seen in emulator.requests_seen if seen.path.endswith("/cancel")]
    assert (sent.method, sent.path) == ("POST", f"/v1/predictions/{job_id}/cancel")
    cancelled = adapter.status(job_id)
    assert (cancelled.state, cancelled.raw_status, cancelled.error) == (JobState.CANCELLED, "canceled", None)


def test_cancel_after_the_prediction_finished_changes_nothing(adapter):
    job_id = adapter.submit(text_request()).job_id
    wait_for_state(adapter, job_id, JobState.TERMINAL)
    assert adapter.cancel(job_id) is False
    assert adapter.status(job_id).state == JobState.SUCCEEDED


def test_cancel_faults_are_classified(adapter, emulator):
    emulator.inject("cancel", "429")
    with pytest.raises(RateLimited):
        adapter.cancel(adapter.submit(text_request()).job_id)


# -- webhooks ---------------------------------------------------------------------------------


def test_start_and_completed_webhooks_are_verified_and_parsed(adapter, callback_sink):
    job_id = adapter.submit(text_request(callback_url=callback_sink.url)).job_id
    deliveries = callback_sink.wait_for(2)

    events = [adapter.parse_webhook(headers=delivery["headers"], body=delivery["body"]) for delivery in deliveries]
    assert [event.job_id for event in events] == [job_id, job_id]
    assert [event.status.raw_status for event in events] == ["starting", "succeeded"]
    assert [event.event_id for event in events] == [delivery["headers"]["webhook-id"] for delivery in deliveries]
    assert len({event.event_id for event in events}) == 2
    finished = events[-1].status
    assert finished.state == JobState.SUCCEEDED and finished.output_url.endswith(f"{job_id}.mp4")
    assert json.loads(deliveries[-1]["body"])["id"] == job_id  # the body is the prediction itself


def test_a_failed_prediction_webhook_carries_the_classified_reason(adapter, callback_sink):
    adapter.submit(text_request(prompt="forbidden [sandbox:policy]", callback_url=callback_sink.url))
    completed = callback_sink.wait_for(2)[-1]
    event = adapter.parse_webhook(headers=completed["headers"], body=completed["body"])
    assert event.status.state == JobState.FAILED and isinstance(event.status.error, ContentPolicyRejected)


def test_a_cancelled_prediction_sends_its_completed_webhook(adapter, callback_sink):
    job_id = adapter.submit(text_request(callback_url=callback_sink.url)).job_id
    callback_sink.wait_for(1)
    adapter.cancel(job_id)
    completed = callback_sink.wait_for(2)[-1]
    event = adapter.parse_webhook(headers=completed["headers"], body=completed["body"])
    assert (event.job_id, event.status.state) == (job_id, JobState.CANCELLED)


def test_without_a_configured_secret_the_default_one_is_fetched_once(emulator):
    adapter = ReplicateAdapter(api_key=API_TOKEN, base_url=emulator.url, timeout=2.0)
    body = prediction_body()
    for _ in range(2):
        event = adapter.parse_webhook(headers=standard_webhooks.sign(body, WEBHOOK_SECRET), body=body)
        assert event.job_id == "p1"
    fetched = [seen for seen in emulator.requests_seen if seen.path == "/v1/webhooks/default/secret"]
    assert len(fetched) == 1 and fetched[0].headers["authorization"] == f"Bearer {API_TOKEN}"


def test_when_the_secret_cannot_be_fetched_webhooks_are_rejected(emulator):
    adapter = ReplicateAdapter(api_key=API_TOKEN, base_url=emulator.url, timeout=2.0)
    emulator.inject("secret", "503")
    body = prediction_body()
    with pytest.raises(WebhookRejected, match="signing secret"):
        adapter.parse_webhook(headers=standard_webhooks.sign(body, WEBHOOK_SECRET), body=body)


def prediction_body(prediction_id: str = "p1", status: str = "succeeded") -> bytes:
    return json.dumps({"id": prediction_id, "status": status, "output": "https://replicate.delivery/x/out.mp4",
                       "error": None, "logs": ""}).encode()


@pytest.mark.parametrize("forgery", ["wrong_secret", "stale", "future", "tampered", "no_id", "no_timestamp",
                                     "no_signature", "not_json", "not_a_prediction", "unknown_status"])
def test_forged_webhooks_are_rejected(adapter, forgery):
    body = prediction_body()
    headers = standard_webhooks.sign(body, WEBHOOK_SECRET)
    if forgery == "wrong_secret":
        headers = standard_webhooks.sign(body, standard_webhooks.new_secret())
    elif forgery == "stale":
        headers = standard_webhooks.sign(body, WEBHOOK_SECRET, timestamp=int(time.time()) - 301)
    elif forgery == "future":
        headers = standard_webhooks.sign(body, WEBHOOK_SECRET, timestamp=int(time.time()) + 301)
    elif forgery == "tampered":
        body = prediction_body(status="failed")
    elif forgery.startswith("no_"):
        headers.pop(f"webhook-{forgery[3:]}")
    else:
        body = {"not_json": b"{nope", "not_a_prediction": b"[1, 2]",
                "unknown_status": prediction_body(status="thinking")}[forgery]
        headers = standard_webhooks.sign(body, WEBHOOK_SECRET)
    with pytest.raises(WebhookRejected):
        adapter.parse_webhook(headers=headers, body=body)
