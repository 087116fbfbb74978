"""Contract tests: OpenAIVideosAdapter (official openai SDK) against the Sora 2 Videos emulator."""

import json
import time
from dataclasses import replace

import av
import httpx
import pytest

from providers.adapters import standard_webhooks
from providers.adapters.openai_videos import OpenAIVideosAdapter, create_fields
from providers.base import (
    BadRequest,
    ContentPolicyRejected,
    GenerationRequest,
    InsufficientVendorCredit,
    JobState,
    MultiShotSegment,
    ProviderError,
    RateLimited,
    TransientProviderError,
    WebhookRejected,
)
from providers.emulators.openai_videos import OpenAIVideosEmulator
from tests.contract.conftest import FAULT_ERRORS, wait_for_state

API_KEY = "sk-proj-" + "ab" * 24
WEBHOOK_SECRET = "whsec_" + "c2hvdGNyYWZ0LW9wZW5haS13ZWJob29rLXNlY3JldA=="
PNG = ("data:image/png;base64,"
       "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==")

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API is scheduled:DeprecationWarning")



@pytest.fixture(scope="module")
def running_emulator():
    with OpenAIVideosEmulator(latency_seconds=1.0, webhook_secret=WEBHOOK_SECRET) as running:
        yield running


@pytest.fixture
def emulator(running_emulator):
    running_emulator.requests_seen.clear()
    running_emulator.faults.clear()
    running_emulator.webhook_url = None
    return running_emulator


@pytest.fixture(scope="module")
def shared_adapter(running_emulator):
    return OpenAIVideosAdapter(api_key=API_KEY, base_url=f"{running_emulator.url}/v1", timeout=2.0,
                               webhook_secret=WEBHOOK_SECRET)  # the SDK client costs ~80 ms to build


@pytest.fixture
def adapter(shared_adapter, emulator):
    return shared_adapter


def text_request(**changes) -> GenerationRequest:
    request = GenerationRequest(
        model_id="sora-2", prompt="A lighthouse at dusk, waves crashing", negative_prompt="",
        duration_seconds=4, aspect_ratio="16:9", idempotency_key="take-41-attempt-1", seed=42,
    )
    return replace(request, **changes)


def create_requests(emulator) -> list:
    return [seen for seen in emulator.requests_seen if seen.method == "POST" and seen.path == "/v1/videos"]


def form_field(body: bytes, name: str) -> str | None:
    marker = f'name="{name}"\r\n\r\n'.encode()
    if marker not in body:
        return None
    return body.split(marker, 1)[1].split(b"\r\n", 1)[0].decode()


# -- happy path -------------------------------------------------------------------------------


def test_video_runs_queued_in_progress_completed_and_downloads_a_real_video(adapter, emulator, tmp_path):
    submitted = adapter.submit(text_request())
    assert (submitted.state, submitted.raw_status, submitted.progress) == (JobState.QUEUED, "queued", 0)
    assert submitted.job_id.startswith("video_")

    observed = []
    for _ in range(100):
        status = adapter.status(submitted.job_id)
        observed.append(status)
        if status.state in JobState.TERMINAL:
            break
        time.sleep(0.05)

    raw_sequence = [status.raw_status for index, status in enumerate(observed)
                    if index == 0 or status.raw_status != observed[index - 1].raw_status]
    assert raw_sequence == ["queued", "in_progress", "completed"]
    running = [status.progress for status in observed if status.state == JobState.RUNNING]
    assert running == sorted(running) and any(0 < progress < 100 for progress in running)
    assert {status.poll_after_seconds for status in observed} == {0.25}  # openai-poll-after-ms: 250
    finished = observed[-1]
    assert (finished.state, finished.progress, finished.error) == (JobState.SUCCEEDED, 100, None)
    assert finished.output_url == f"{emulator.url}/v1/videos/{submitted.job_id}/content?variant=video"

    video = adapter.fetch_output(finished, tmp_path / "take.mp4", max_bytes=20_000_000)
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        assert stream.width > stream.height  # 16:9
        assert frames == 4 * stream.average_rate
    [download] = [seen for seen in emulator.requests_seen if seen.path.endswith("/content")]
    assert download.headers["authorization"] == f"Bearer {API_KEY}"
    assert download.headers["accept"] == "application/binary"
    assert download.query == {"variant": "video"}


def test_fetch_output_refuses_a_video_over_the_size_cap(adapter, tmp_path):
    finished = wait_for_state(adapter, adapter.submit(text_request()).job_id, JobState.TERMINAL)
    with pytest.raises(BadRequest):
        adapter.fetch_output(finished, tmp_path / "take.mp4", max_bytes=1_000)
    assert not (tmp_path / "take.mp4").exists()


def test_fetch_output_before_completion_is_refused_and_a_download_fault_is_transient(adapter, emulator, tmp_path):
    queued = adapter.submit(text_request())
    with pytest.raises(BadRequest):
        adapter.fetch_output(queued, tmp_path / "early.mp4", max_bytes=20_000_000)
    finished = wait_for_state(adapter, queued.job_id, JobState.TERMINAL)
    emulator.inject("download", "503")
    with pytest.raises(TransientProviderError):
        adapter.fetch_output(finished, tmp_path / "take.mp4", max_bytes=20_000_000)


# -- the wire ---------------------------------------------------------------------------------


def test_create_is_multipart_with_string_seconds_and_a_pixel_size(adapter, emulator):
    adapter.submit(text_request(duration_seconds=8, aspect_ratio="9:16", model_id="sora-2-pro",
                                negative_prompt="text overlays"))

    [sent] = create_requests(emulator)
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    assert form_field(sent.body, "model") == "sora-2-pro"
    assert form_field(sent.body, "seconds") == "8"
    assert form_field(sent.body, "size") == "720x1280"
    # Sora has no negative-prompt field: it is folded into the prompt in words.
    assert b'name="prompt"\r\n\r\nA lighthouse at dusk, waves crashing\n\nAvoid: text overlays\r\n' in sent.body
    assert form_field(sent.body, "input_reference") is None
    # OpenAI takes no idempotency key for videos: ours stays home, and so do seeds.
    assert "idempotency-key" not in sent.headers and b"take-41-attempt-1" not in sent.body
    assert form_field(sent.body, "seed") is None


def test_a_start_image_is_uploaded_as_the_input_reference_file(adapter, emulator):
    submitted = adapter.submit(text_request(image_url=PNG))

    [sent] = create_requests(emulator)
    assert b'name="input_reference"; filename="start_frame.png"' in sent.body
    assert b"Content-Type: image/png" in sent.body
    assert emulator.jobs[submitted.job_id].meta["input_reference"] == {
        "file": {"filename": "start_frame.png", "content_type": "image/png", "size": 70}}


def test_an_https_start_image_is_fetched_and_uploaded(adapter, emulator, monkeypatch):
    fetched = []

    def fake_get(url, **kwargs):
        fetched.append(url)
        return httpx.Response(200, content=b"\xff\xd8jpeg-bytes", headers={"content-type": "image/jpeg"})

    monkeypatch.setattr("providers.adapters.openai_videos.httpx.get", fake_get)
    submitted = adapter.submit(text_request(image_url="https://assets.example.com/frames/start.jpg"))
    assert fetched == ["https://assets.example.com/frames/start.jpg"]
    assert emulator.jobs[submitted.job_id].meta["input_reference"]["file"]["content_type"] == "image/jpeg"


@pytest.mark.parametrize(("aspect_ratio", "resolution", "size"), [
    ("16:9", "", "1280x720"),
    ("9:16", "720p", "720x1280"),
    ("16:9", "1080p", "1792x1024"),
    ("9:16", "1080p", "1024x1792"),
])
def test_aspect_ratio_and_resolution_become_a_sora_size(aspect_ratio, resolution, size):
    fields = create_fields(text_request(aspect_ratio=aspect_ratio, resolution=resolution))
    assert (fields["size"], fields["seconds"]) == (size, "4")


@pytest.mark.parametrize(("changes", "complaint"), [
    ({"aspect_ratio": "1:1"}, "no 1:1"),
    ({"aspect_ratio": "4:3"}, "no 4:3"),
    ({"resolution": "4k"}, "no 16:9 4k"),
    ({"duration_seconds": 5}, "4, 8 or 12 seconds"),
    ({"image_url": PNG, "end_image_url": PNG}, "end frames"),
    ({"reference_image_urls": (PNG,)}, "reference images"),
    ({"multi_shot": (MultiShotSegment("one", 4), MultiShotSegment("two", 4))}, "multi-shot"),
    ({"image_url": "data:image/png;base64,not base64!"}, "not valid base64"),
])
def test_requests_sora_cannot_render_are_refused_before_sending(adapter, emulator, changes, complaint):
    with pytest.raises(BadRequest, match=complaint):
        adapter.submit(text_request(**changes))
    assert create_requests(emulator) == []


def test_emulator_validates_like_the_videos_api(emulator):
    headers = {"Authorization": f"Bearer {API_KEY}"}
    url = f"{emulator.url}/v1/videos"
    valid = {"prompt": "a boat", "seconds": "4", "size": "1280x720"}
    cases = [
        ({**valid, "seconds": "5"}, headers, 400, "seconds"),
        ({**valid, "size": "1024x1024"}, headers, 400, "size"),
        ({**valid, "prompt": ""}, headers, 400, "prompt"),
        (valid, {}, 401, None),
    ]
    for fields, sent_headers, status, param in cases:
        response = httpx.post(url, files={key: (None, value) for key, value in fields.items()}, headers=sent_headers)
        assert response.status_code == status, fields
        assert response.json()["error"]["param"] == param
    as_json = httpx.post(url, json=valid, headers=headers)
    assert as_json.status_code == 400 and "multipart" in as_json.json()["error"]["message"]
    missing = httpx.get(f"{emulator.url}/v1/videos/video_nope", headers=headers)
    assert missing.status_code == 404 and set(missing.json()["error"]) == {"message", "type", "param", "code"}


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("fault", "error_class"), FAULT_ERRORS)
def test_submit_faults_are_classified(adapter, emulator, fault, error_class):
    emulator.inject("submit", fault)
    with pytest.raises(error_class) as raised:
        adapter.submit(text_request())
    assert type(raised.value) is error_class  # e.g. RateLimited is Transient, but not the other way round
    if fault == "429":
        assert raised.value.retry_after_seconds == 1.0


@pytest.mark.parametrize(("fault", "error_class"), FAULT_ERRORS)
def test_status_faults_are_classified(adapter, emulator, fault, error_class):
    job_id = adapter.submit(text_request()).job_id
    emulator.inject("status", fault)
    with pytest.raises(error_class) as raised:
        adapter.status(job_id)
    assert type(raised.value) is error_class
    assert adapter.status(job_id).job_id == job_id  # the fault was one answer, not the job


def test_insufficient_quota_is_credit_even_though_it_arrives_as_a_429(adapter, emulator):
    emulator.inject("submit", "credit")
    with pytest.raises(InsufficientVendorCredit):
        adapter.submit(text_request())
    assert emulator.error_response("credit").status == 429


def test_an_unknown_video_is_a_bad_request(adapter):
    with pytest.raises(BadRequest, match="not found"):
        adapter.status("video_does_not_exist")


def test_prompt_markers_fail_submission_in_sandbox_demos(adapter):
    with pytest.raises(RateLimited):
        adapter.submit(text_request(prompt="busy [sandbox:429]"))


# -- job-level failures -----------------------------------------------------------------------


def test_a_moderated_video_fails_as_a_content_policy_rejection(adapter):
    job_id = adapter.submit(text_request(prompt="something forbidden [sandbox:policy]")).job_id
    failed = wait_for_state(adapter, job_id, JobState.TERMINAL)
    assert (failed.state, failed.raw_status, failed.output_url) == (JobState.FAILED, "failed", None)
    assert isinstance(failed.error, ContentPolicyRejected)
    assert "moderation" in failed.error.reason


def test_a_generic_failure_is_a_provider_error_not_a_policy_one(adapter):
    job_id = adapter.submit(text_request(prompt="a boat [sandbox:fail]")).job_id
    failed = wait_for_state(adapter, job_id, JobState.TERMINAL)
    assert failed.state == JobState.FAILED
    assert type(failed.error) is ProviderError and "video_generation_failed" in failed.error.reason


def test_sora_has_no_cancel(adapter, emulator):
    job_id = adapter.submit(text_request()).job_id
    emulator.requests_seen.clear()
    assert adapter.supports_cancel is False and adapter.cancel(job_id) is False
    assert emulator.requests_seen == []


# -- webhooks ---------------------------------------------------------------------------------


def test_completed_webhook_is_verified_and_parsed(adapter, emulator, callback_sink):
    emulator.webhook_url = callback_sink.url
    job_id = adapter.submit(text_request()).job_id
    [delivery] = callback_sink.wait_for(1)

    event = adapter.parse_webhook(headers=delivery["headers"], body=delivery["body"])
    envelope = json.loads(delivery["body"])
    assert (envelope["object"], envelope["type"], envelope["data"]) == ("event", "video.completed", {"id": job_id})
    assert event.event_id == envelope["id"] and event.event_id.startswith("evt_")
    assert event.job_id == job_id and event.reply is None
    assert (event.status.state, event.status.progress) == (JobState.SUCCEEDED, 100)
    assert event.status.output_url == adapter.content_url(job_id)


def test_failed_webhook_learns_the_reason_by_one_poll(adapter, emulator, callback_sink):
    emulator.webhook_url = callback_sink.url
    job_id = adapter.submit(text_request(prompt="forbidden [sandbox:policy]")).job_id
    [delivery] = callback_sink.wait_for(1)

    event = adapter.parse_webhook(headers=delivery["headers"], body=delivery["body"])
    assert json.loads(delivery["body"])["type"] == "video.failed"
    assert (event.job_id, event.status.state) == (job_id, JobState.FAILED)
    assert isinstance(event.status.error, ContentPolicyRejected)


def test_failed_webhook_still_fails_the_job_when_the_poll_fails(adapter, emulator):
    body = json.dumps({"id": "evt_9", "object": "event", "created_at": int(time.time()), "type": "video.failed",
                       "data": {"id": "video_gone"}}).encode()
    event = adapter.parse_webhook(headers=standard_webhooks.sign(body, WEBHOOK_SECRET), body=body)
    assert (event.job_id, event.status.state) == ("video_gone", JobState.FAILED)
    assert type(event.status.error) is ProviderError


def test_other_event_types_parse_without_a_status(adapter):
    body = json.dumps({"id": "evt_1", "object": "event", "created_at": 1, "type": "batch.completed",
                       "data": {"id": "batch_1"}}).encode()
    event = adapter.parse_webhook(headers=standard_webhooks.sign(body, WEBHOOK_SECRET), body=body)
    assert (event.event_id, event.status) == ("evt_1", None)


def completed_event(job_id: str = "video_1") -> bytes:
    return json.dumps({"id": "evt_1", "object": "event", "created_at": int(time.time()), "type": "video.completed",
                       "data": {"id": job_id}}).encode()


@pytest.mark.parametrize("forgery", ["wrong_secret", "stale", "future", "tampered", "no_id", "no_timestamp",
                                     "no_signature", "not_json", "not_an_event"])
def test_forged_webhooks_are_rejected(adapter, forgery):
    body = completed_event()
    headers = standard_webhooks.sign(body, WEBHOOK_SECRET)
    if forgery == "wrong_secret":
        headers = standard_webhooks.sign(body, standard_webhooks.new_secret())
    elif forgery == "stale":
        headers = standard_webhooks.sign(body, WEBHOOK_SECRET, timestamp=int(time.time()) - 301)
    elif forgery == "future":
        headers = standard_webhooks.sign(body, WEBHOOK_SECRET, timestamp=int(time.time()) + 301)
    elif forgery == "tampered":
        body = completed_event("video_someone_elses")
    elif forgery.startswith("no_"):
        headers.pop(f"webhook-{forgery[3:]}")
    else:
        body = b"not json" if forgery == "not_json" else json.dumps({"data": {"id": "video_1"}}).encode()
        headers = standard_webhooks.sign(body, WEBHOOK_SECRET)
    with pytest.raises(WebhookRejected):
        adapter.parse_webhook(headers=headers, body=body)


def test_without_a_configured_secret_every_webhook_is_rejected(emulator):
    unsigned_adapter = OpenAIVideosAdapter(api_key=API_KEY, base_url=f"{emulator.url}/v1", timeout=2.0)
    body = completed_event()
    with pytest.raises(WebhookRejected, match="secret"):
        unsigned_adapter.parse_webhook(headers=standard_webhooks.sign(body, WEBHOOK_SECRET), body=body)
