"""The fal adapter against the fal emulator: queue flow, model inputs, errors, cancel, signed callbacks."""

import hashlib
import json
import time

import av
import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from providers.adapters.fal import FalAdapter, request_id_of, signatures
from providers.adapters.fal.errors import classify
from providers.base import (
    AuthenticationFailed,
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
from providers.emulators.fal import FalEmulator
from tests.contract.conftest import wait_for_state

KLING_V3 = "fal-ai/kling-video/v3/pro/text-to-video"
API_KEY = "fal-key-id:fal-key-secret"


@pytest.fixture(scope="module")
def emulator():
    with FalEmulator(latency_seconds=1.2) as running:
        yield running


@pytest.fixture(autouse=True)
def fal_keys_forgotten():
    """Each test starts with no cached fal keys and no recent refetch (both are kept per process)."""
    signatures._jwks_cache.clear()
    signatures._unknown_signer_refetched_at.clear()


@pytest.fixture
def adapter(emulator):
    return FalAdapter(api_key=API_KEY, base_url=emulator.url, timeout=2.0,
                      jwks_url=f"{emulator.url}/.well-known/jwks.json")


def generation(**overrides) -> GenerationRequest:
    fields = dict(model_id=KLING_V3, prompt="A lighthouse at dusk, slow dolly in", negative_prompt="blur",
                  duration_seconds=3, aspect_ratio="16:9", idempotency_key="take-1-attempt-1")
    return GenerationRequest(**(fields | overrides))


def last_submit(emulator):
    return [seen for seen in emulator.requests_seen if seen.method == "POST"][-1]


def parse(adapter, callback):
    headers, body = callback
    return adapter.parse_webhook(headers=headers, body=body)


def callback_for(sink, job_id):
    """The raw callback fal sent for one job: (headers, body)."""
    request_id = request_id_of(job_id)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for received in sink.received:
            if json.loads(received["body"])["request_id"] == request_id:
                return received["headers"], received["body"]
        time.sleep(0.05)
    raise AssertionError(f"no callback for {request_id}")


# -- the happy path ------------------------------------------------------------------------------

def test_job_moves_through_the_queue_and_yields_a_real_video(adapter, tmp_path):
    submitted = adapter.submit(generation())
    assert submitted.state == JobState.QUEUED
    seen = [submitted]  # on a loaded machine the first poll may come after the short queued phase
    while seen[-1].state not in JobState.TERMINAL:
        seen.append(adapter.status(submitted.job_id))
        time.sleep(0.05)

    states = [status.state for index, status in enumerate(seen) if index == 0 or status.state != seen[index - 1].state]
    assert states == [JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED]
    assert {s.raw_status for s in seen} == {"IN_QUEUE", "IN_PROGRESS", "COMPLETED"}
    assert all(s.progress is None for s in seen if s.state == JobState.QUEUED)
    running = [s.progress for s in seen if s.state == JobState.RUNNING]
    assert all(p is not None and 0 <= p <= 99 for p in running) and running == sorted(running)
    assert running[-1] > running[0]
    assert seen[-1].progress == 100 and seen[-1].output_url

    path = adapter.fetch_output(seen[-1], tmp_path / "take.mp4", max_bytes=50_000_000)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = sum(1 for _ in container.decode(stream))
        assert (stream.width, stream.height) == (854, 480)
    assert frames >= 3 * 24 * 0.9


def test_fetch_output_refuses_a_video_over_the_cap(adapter, tmp_path):
    done = wait_for_state(adapter, adapter.submit(generation()).job_id, JobState.TERMINAL)
    with pytest.raises(BadRequest):
        adapter.fetch_output(done, tmp_path / "big.mp4", max_bytes=1_000)
    assert not (tmp_path / "big.mp4").exists()


# -- what fal receives -----------------------------------------------------------------------------

def test_submit_sends_the_documented_request_and_polls_owner_alias_urls(adapter, emulator):
    submitted = adapter.submit(generation(callback_url="https://studio.example/webhooks/fal/tok"))
    sent = last_submit(emulator)
    assert sent.path == f"/{KLING_V3}"
    assert sent.headers["authorization"] == f"Key {API_KEY}"
    assert sent.query == {"fal_webhook": "https://studio.example/webhooks/fal/tok"}
    assert sent.json() == {"prompt": "A lighthouse at dusk, slow dolly in", "negative_prompt": "blur",
                           "duration": "3", "aspect_ratio": "16:9", "generate_audio": False}
    # fal has no idempotency key: it must not leak into the model input or headers.
    assert "take-1-attempt-1" not in sent.body.decode() + json.dumps(sent.headers)

    request_id = request_id_of(submitted.job_id)
    assert submitted.job_id == f"fal-ai/kling-video/requests/{request_id}"
    adapter.status(submitted.job_id)
    polled = emulator.requests_seen[-1]
    assert (polled.method, polled.path, polled.query) == ("GET", f"/fal-ai/kling-video/requests/{request_id}/status",
                                                          {"logs": "1"})
    assert polled.headers["authorization"] == f"Key {API_KEY}"


@pytest.mark.parametrize(("overrides", "endpoint", "expected"), [
    pytest.param(dict(model_id="fal-ai/veo3.1/fast", duration_seconds=4, resolution="1080p", seed=7, with_audio=True),
                 "fal-ai/veo3.1/fast",
                 {"prompt": "P", "duration": "4s", "aspect_ratio": "16:9", "generate_audio": True,
                  "resolution": "1080p", "negative_prompt": "blur", "seed": 7}, id="veo-seconds-suffix"),
    pytest.param(dict(model_id="fal-ai/veo3.1/fast", duration_seconds=6, image_url="https://img/start.png"),
                 "fal-ai/veo3.1/fast/image-to-video",
                 {"prompt": "P", "duration": "6s", "aspect_ratio": "16:9", "generate_audio": False,
                  "negative_prompt": "blur", "image_url": "https://img/start.png"}, id="veo-image-to-video"),
    pytest.param(dict(image_url="https://img/a.png", end_image_url="https://img/b.png", with_audio=True),
                 "fal-ai/kling-video/v3/pro/image-to-video",
                 {"prompt": "P", "duration": "3", "aspect_ratio": "16:9", "generate_audio": True,
                  "negative_prompt": "blur", "start_image_url": "https://img/a.png",
                  "end_image_url": "https://img/b.png"}, id="kling3-image-to-video"),
    pytest.param(dict(duration_seconds=5, negative_prompt="", multi_shot=(MultiShotSegment("Wide shot", 3),
                                                                          MultiShotSegment("Close-up", 2))),
                 KLING_V3,
                 {"duration": "5", "aspect_ratio": "16:9", "generate_audio": False, "shot_type": "customize",
                  "multi_prompt": [{"prompt": "Wide shot", "duration": "3"}, {"prompt": "Close-up", "duration": "2"}]},
                 id="kling3-multi-shot"),
    pytest.param(dict(model_id="fal-ai/kling-video/v2.5-turbo/pro/text-to-video", duration_seconds=5,
                      image_url="https://img/a.png"),
                 "fal-ai/kling-video/v2.5-turbo/pro/image-to-video",
                 {"prompt": "P", "duration": "5", "aspect_ratio": "16:9", "negative_prompt": "blur",
                  "image_url": "https://img/a.png"}, id="kling2-image-to-video"),
    pytest.param(dict(model_id="fal-ai/kling-video/v4/text-to-video", duration_seconds=4, resolution="1080p"),
                 "fal-ai/kling-video/v4/text-to-video",
                 {"prompt": "P", "duration": 4, "aspect_ratio": "16:9", "resolution": "1080p"}, id="kling4-integer"),
    pytest.param(dict(model_id="fal-ai/minimax/hailuo-02-fast/image-to-video", duration_seconds=6,
                      image_url="https://img/a.png"),
                 "fal-ai/minimax/hailuo-02-fast/image-to-video",
                 {"prompt": "P", "duration": "6", "prompt_optimizer": False, "image_url": "https://img/a.png"},
                 id="hailuo"),
    pytest.param(dict(model_id="fal-ai/wan/v2.6/text-to-video", duration_seconds=5, seed=3, resolution="720p"),
                 "fal-ai/wan/v2.6/text-to-video",
                 {"prompt": "P", "duration": "5", "aspect_ratio": "16:9", "resolution": "720p",
                  "negative_prompt": "blur", "seed": 3}, id="wan-generic"),
    pytest.param(dict(model_id="bytedance/seedance-2.0/text-to-video", duration_seconds=5, with_audio=True),
                 "bytedance/seedance-2.0/text-to-video",
                 {"prompt": "P", "duration": "5", "aspect_ratio": "16:9", "negative_prompt": "blur",
                  "generate_audio": True}, id="seedance-generic-audio"),
])
def test_each_endpoint_family_gets_its_own_input_shape(adapter, emulator, overrides, endpoint, expected):
    submitted = adapter.submit(generation(prompt="P", **overrides))
    sent = last_submit(emulator)
    assert sent.path == f"/{endpoint}"
    assert sent.json() == expected
    assert submitted.job_id == "/".join(endpoint.split("/")[:2]) + f"/requests/{request_id_of(submitted.job_id)}"


@pytest.mark.parametrize(("overrides", "field"), [
    (dict(model_id="fal-ai/kling-video/v2.5-turbo/pro/text-to-video", duration_seconds=7), "duration"),
    (dict(model_id="fal-ai/veo3.1/fast", aspect_ratio="1:1", duration_seconds=8), "aspect_ratio"),
    (dict(model_id="fal-ai/minimax/hailuo-02-fast/image-to-video", duration_seconds=6), "image_url"),
])
def test_input_fal_rejects_is_a_bad_request_naming_the_field(adapter, overrides, field):
    with pytest.raises(BadRequest) as refused:
        adapter.submit(generation(**overrides))
    assert type(refused.value) is BadRequest
    assert refused.value.reason.startswith(f"The provider refused the request (422): {field}: ")


# -- errors ------------------------------------------------------------------------------------------

FAULTS = [
    ("429", RateLimited), ("500", TransientProviderError), ("503", TransientProviderError),
    ("timeout", TransientProviderError), ("malformed", TransientProviderError),
    ("policy", ContentPolicyRejected), ("credit", InsufficientVendorCredit), ("bad_request", BadRequest),
    ("auth", AuthenticationFailed),
]


@pytest.mark.parametrize("operation", ["submit", "status"])
@pytest.mark.parametrize(("fault", "error_class"), FAULTS)
def test_each_fal_error_is_classified(adapter, emulator, operation, fault, error_class):
    job_id = adapter.submit(generation()).job_id if operation == "status" else None
    emulator.inject(operation, fault)
    with pytest.raises(ProviderError) as raised:
        adapter.submit(generation()) if operation == "submit" else adapter.status(job_id)
    assert type(raised.value) is error_class
    if fault == "429":
        assert raised.value.retry_after_seconds == 2.0
    if fault == "policy":
        assert "flagged by a content checker" in raised.value.reason


def test_a_missing_key_never_reaches_fal_and_fal_refuses_requests_without_one(emulator):
    keyless = FalAdapter(api_key="", base_url=emulator.url, timeout=2.0)
    seen_before = len(emulator.requests_seen)
    with pytest.raises(AuthenticationFailed):
        keyless.submit(generation())
    assert len(emulator.requests_seen) == seen_before
    anonymous = httpx.post(f"{emulator.url}/{KLING_V3}", json={"prompt": "x"})
    assert anonymous.status_code == 401 and "detail" in anonymous.json()


def test_fal_error_bodies_and_retry_header():
    admin_lock = classify(403, "User is locked. Reason: Admin lock.", None)
    top_up = classify(403, "User is locked. Reason: TOP_UP.", None)
    assert type(admin_lock) is AuthenticationFailed and type(top_up) is InsufficientVendorCredit
    assert type(classify(500, "boom", None, {"x-fal-retryable": "false"})) is ProviderError
    assert type(classify(400, "busy", None, {"x-fal-retryable": "true"})) is TransientProviderError
    assert type(classify(422, "bad", "value_error")) is BadRequest


# -- jobs that fail -----------------------------------------------------------------------------------

@pytest.mark.parametrize("errors_in_status", [True, False], ids=["status-says-why", "only-result-says-why"])
def test_content_policy_and_generic_failures(adapter, emulator, monkeypatch, errors_in_status):
    monkeypatch.setattr(emulator, "errors_in_status", errors_in_status)
    policy = adapter.submit(generation(prompt="Something forbidden [sandbox:policy]"))
    broken = adapter.submit(generation(prompt="An ordinary shot [sandbox:fail]"))

    refused = wait_for_state(adapter, policy.job_id, JobState.TERMINAL)
    assert (refused.state, type(refused.error)) == (JobState.FAILED, ContentPolicyRejected)
    assert "content checker" in refused.error.reason

    failed = wait_for_state(adapter, broken.job_id, JobState.TERMINAL)
    assert (failed.state, type(failed.error)) == (JobState.FAILED, ProviderError)
    assert not failed.error.retryable


# -- cancel --------------------------------------------------------------------------------------------

def test_cancel_stops_a_queued_job(adapter, emulator):
    job_id = adapter.submit(generation()).job_id
    assert adapter.cancel(job_id) is True
    sent = emulator.requests_seen[-1]
    assert (sent.method, sent.path) == ("PUT", f"/fal-ai/kling-video/requests/{request_id_of(job_id)}/cancel")
    assert adapter.status(job_id).state == JobState.CANCELLED
    assert adapter.cancel(job_id) is False  # ALREADY_COMPLETED


def test_cancel_of_a_finished_or_unknown_job_is_refused(adapter):
    done = wait_for_state(adapter, adapter.submit(generation()).job_id, JobState.TERMINAL)
    assert done.state == JobState.SUCCEEDED
    assert adapter.cancel(done.job_id) is False
    assert adapter.cancel("fal-ai/kling-video/requests/00000000-0000-0000-0000-000000000000") is False


def test_cancel_errors_are_classified(adapter, emulator):
    job_id = adapter.submit(generation()).job_id
    emulator.inject("cancel", "auth")
    with pytest.raises(AuthenticationFailed):
        adapter.cancel(job_id)


# -- callbacks ------------------------------------------------------------------------------------------

def test_signed_callbacks_parse_into_events(adapter, emulator, callback_sink):
    ok = adapter.submit(generation(callback_url=callback_sink.url))
    policy = adapter.submit(generation(prompt="[sandbox:policy] no", callback_url=callback_sink.url))
    broken = adapter.submit(generation(prompt="[sandbox:fail] no", callback_url=callback_sink.url))

    event = parse(adapter, callback_for(callback_sink, ok.job_id))
    assert event.job_id == request_id_of(ok.job_id) and event.event_id == f"{event.job_id}:OK"
    assert event.status.state == JobState.SUCCEEDED and event.status.output_url.endswith(".mp4")

    refused = parse(adapter, callback_for(callback_sink, policy.job_id)).status
    assert (refused.state, type(refused.error)) == (JobState.FAILED, ContentPolicyRejected)

    failed = parse(adapter, callback_for(callback_sink, broken.job_id)).status
    assert (failed.state, type(failed.error)) == (JobState.FAILED, ProviderError)


def signed_callback(emulator, *, request_id="req-1", timestamp=None, **fields):
    body = json.dumps({"request_id": request_id, "gateway_request_id": "gw-1", "status": "OK",
                       "payload": {"video": {"url": "https://v3.fal.media/files/out.mp4"}}} | fields).encode()
    return emulator.signed_headers(body, request_id, timestamp=timestamp), body


def test_a_fresh_signed_callback_is_accepted(adapter, emulator):
    headers, body = signed_callback(emulator, timestamp=int(time.time()) - 290)
    event = adapter.parse_webhook(headers=headers, body=body)
    assert event.status.output_url == "https://v3.fal.media/files/out.mp4"


def forged_signature(emulator):
    headers, body = signed_callback(emulator)
    stranger = Ed25519PrivateKey.generate()
    message = "\n".join((headers["X-Fal-Webhook-Request-Id"], headers["X-Fal-Webhook-User-Id"],
                         headers["X-Fal-Webhook-Timestamp"], hashlib.sha256(body).hexdigest()))
    return headers | {"X-Fal-Webhook-Signature": stranger.sign(message.encode()).hex()}, body


def stale(emulator):
    return signed_callback(emulator, timestamp=int(time.time()) - 310)


def tampered(emulator):
    headers, body = signed_callback(emulator)
    return headers, body.replace(b"out.mp4", b"evil.mp4")


def other_request(emulator):
    headers, body = signed_callback(emulator, request_id="req-2")
    return headers | {"X-Fal-Webhook-Request-Id": "req-1"}, body


def relabelled(emulator):
    """Correctly signed for req-1, but the body speaks of another request."""
    body = json.dumps({"request_id": "req-9", "status": "OK", "payload": {"video": {"url": "https://x/y.mp4"}}}).encode()
    return emulator.signed_headers(body, "req-1"), body


def not_json(emulator):
    return emulator.signed_headers(b"{not json", "req-1"), b"{not json"


def not_hex(emulator):
    headers, body = signed_callback(emulator)
    return headers | {"X-Fal-Webhook-Signature": "zz" * 64}, body


@pytest.mark.parametrize("forge", [forged_signature, stale, tampered, other_request, relabelled, not_json, not_hex])
def test_forged_callbacks_are_rejected(adapter, emulator, forge):
    headers, body = forge(emulator)
    with pytest.raises(WebhookRejected):
        adapter.parse_webhook(headers=headers, body=body)


@pytest.mark.parametrize("header", ["X-Fal-Webhook-Request-Id", "X-Fal-Webhook-User-Id", "X-Fal-Webhook-Timestamp",
                                    "X-Fal-Webhook-Signature"])
def test_callbacks_missing_a_signature_header_are_rejected(adapter, emulator, header):
    headers, body = signed_callback(emulator)
    with pytest.raises(WebhookRejected):
        adapter.parse_webhook(headers={k: v for k, v in headers.items() if k != header}, body=body)


def test_rotated_keys_are_picked_up_by_one_refetch(adapter, emulator):
    parse(adapter, signed_callback(emulator))  # caches the old key
    emulator.rotate_key()
    fetches_before = sum(seen.path == "/.well-known/jwks.json" for seen in emulator.requests_seen)
    parse(adapter, signed_callback(emulator))
    fetches_after = sum(seen.path == "/.well-known/jwks.json" for seen in emulator.requests_seen)
    assert fetches_after == fetches_before + 1


def jwks_fetches(emulator) -> int:
    return sum(seen.path == "/.well-known/jwks.json" for seen in emulator.requests_seen)


def test_a_flood_of_forged_callbacks_refetches_fals_keys_once_a_minute(adapter, emulator):
    parse(adapter, signed_callback(emulator))  # caches the key
    before = jwks_fetches(emulator)
    for _ in range(5):
        with pytest.raises(WebhookRejected):
            parse(adapter, forged_signature(emulator))
    assert jwks_fetches(emulator) == before + 1


def test_callbacks_cannot_be_trusted_without_fal_keys(emulator):
    blind = FalAdapter(api_key=API_KEY, base_url=emulator.url, timeout=2.0, jwks_url=f"{emulator.url}/no-keys.json")
    with pytest.raises(WebhookRejected):
        parse(blind, signed_callback(emulator))


def test_a_callback_without_a_serialisable_payload_asks_for_a_poll(adapter, emulator):
    headers, body = signed_callback(emulator, payload=None, payload_error="Output is not JSON serialisable")
    event = adapter.parse_webhook(headers=headers, body=body)
    assert event.job_id == "req-1" and event.status is None
