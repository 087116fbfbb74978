"""OpenAI Sora 2 through the Videos API (provider_contracts.md §3), with the official `openai` SDK.

Lifecycle: OpenAI shut the Videos API down on 2026-09-24 with no replacement, so the catalog keeps
these models disabled; the adapter still follows the documented contract for installations (and
the sandbox emulator) that switch it on.

* Create is `POST /v1/videos` as multipart/form-data: `prompt`, `model`, `seconds` as the string
  "4" | "8" | "12", `size` as "1280x720" | "720x1280" | "1792x1024" | "1024x1792", and
  `input_reference` for image-to-video (sent as a file upload: the SDK only encodes files there).
* Jobs move queued → in_progress (integer `progress`) → completed | failed (`error{code,message}`);
  the `openai-poll-after-ms` response header is the vendor's poll hint.
* The video is not a URL: its bytes come from `GET /v1/videos/{id}/content`. There is no cancel.
* Webhooks (`video.completed` / `video.failed`) are configured in the OpenAI dashboard, not per
  request, and signed with Standard Webhooks.
* No idempotency key: the SDK sets no idempotency header for OpenAI and the API documents none.
"""

import base64
import binascii
import json
import re
import warnings
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote_to_bytes

import httpx
import openai

from providers.adapters import standard_webhooks
from providers.adapters.http import download_to, error_for_status, retry_after_seconds, transport_error
from providers.base import (
    BadRequest,
    ContentPolicyRejected,
    GenerationRequest,
    InsufficientVendorCredit,
    JobState,
    JobStatus,
    ProviderError,
    RateLimited,
    TransientProviderError,
    VideoAdapter,
    WebhookEvent,
    WebhookRejected,
)

# Every videos method is marked deprecated ahead of the shutdown; we know, and the flag is off.
warnings.filterwarnings("ignore", message="The Sora API is scheduled", category=DeprecationWarning)

MODELS = ("sora-2", "sora-2-pro", "sora-2-2025-10-06", "sora-2-pro-2025-10-06", "sora-2-2025-12-08")
SECONDS = {4: "4", 8: "8", 12: "12"}
SIZES = {
    ("16:9", "720p"): "1280x720",
    ("9:16", "720p"): "720x1280",
    ("16:9", "1080p"): "1792x1024",  # the larger sizes; OpenAI prices them separately (UNCONFIRMED)
    ("9:16", "1080p"): "1024x1792",
}
RESOLUTION_ALIASES = {"": "720p", "720p": "720p", "1080p": "1080p", "1024p": "1080p"}
STATES = {
    "queued": JobState.QUEUED,
    "in_progress": JobState.RUNNING,
    "completed": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
}
# Failed-job codes are UNCONFIRMED for videos (§3); OpenAI's image moderation uses
# `moderation_blocked`, so anything that reads like moderation or safety counts as policy.
POLICY_WORDING = re.compile(r"moderation|safety|content[_ ]?policy|content[_ ]?filter|policy[_ ]violation", re.I)
TRANSIENT_CODES = {"server_error", "internal_error", "rate_limit_exceeded", "timeout", "service_unavailable"}
MAX_START_IMAGE_BYTES = 20 * 1024 * 1024


class OpenAIVideosAdapter(VideoAdapter):
    family = "openai_videos"
    supports_cancel = False
    supports_callbacks = True

    def __init__(self, *, api_key: str, base_url: str, timeout: float = 30.0, webhook_secret: str | None = None,
                 organization: str | None = None, project: str | None = None):
        self._base_url = base_url.rstrip("/")
        self._timeout = timeout
        self._webhook_secret = webhook_secret or ""
        self._client = openai.OpenAI(
            api_key=api_key, base_url=self._base_url, timeout=timeout, max_retries=0,
            organization=organization, project=project, webhook_secret=webhook_secret,
        )
        self._auth_headers = {"Authorization": f"Bearer {api_key}"}
        if organization:
            self._auth_headers["OpenAI-Organization"] = organization
        if project:
            self._auth_headers["OpenAI-Project"] = project

    # -- jobs -------------------------------------------------------------------------------
    def submit(self, request: GenerationRequest) -> JobStatus:
        fields = create_fields(request)
        if request.image_url:
            fields["input_reference"] = self._start_frame(request.image_url)
        with _sdk_errors():
            response = self._client.videos.with_raw_response.create(**fields)
            return self._job_status(response.parse(), response.headers)

    def status(self, job_id: str) -> JobStatus:
        if not job_id:
            raise BadRequest("No OpenAI video id to look up.")
        with _sdk_errors():
            response = self._client.videos.with_raw_response.retrieve(job_id)
            return self._job_status(response.parse(), response.headers)

    def fetch_output(self, status: JobStatus, destination: Path, *, max_bytes: int) -> Path:
        # The SDK's download_content buffers the whole file with no size cap; this streams the
        # same endpoint (with the SDK's Accept header) through our capped download instead.
        url = status.output_url or self.content_url(status.job_id)
        headers = {**self._auth_headers, "Accept": "application/binary"}
        return download_to(url, destination, max_bytes=max_bytes, headers=headers)

    def content_url(self, video_id: str) -> str:
        return f"{self._base_url}/videos/{video_id}/content?variant=video"

    def _job_status(self, video, headers) -> JobStatus:
        raw = getattr(video, "status", None)
        video_id = getattr(video, "id", None)
        if raw not in STATES or not isinstance(video_id, str):
            raise TransientProviderError(f"OpenAI answered with an unexpected video object (status {raw!r}).")
        state = STATES[raw]
        return JobStatus(
            job_id=video_id, state=state, raw_status=raw,
            progress=_progress(getattr(video, "progress", None), state),
            output_url=self.content_url(video_id) if state == JobState.SUCCEEDED else None,
            error=failure_error(getattr(video, "error", None)) if state == JobState.FAILED else None,
            poll_after_seconds=_poll_after(headers),
        )

    def _start_frame(self, image_url: str) -> tuple[str, bytes, str]:
        if image_url.startswith("data:"):
            return _data_url_file(image_url)
        try:
            response = httpx.get(image_url, timeout=self._timeout, follow_redirects=True)
        except httpx.HTTPError as error:
            raise transport_error(error) from None
        if response.status_code != 200:
            raise BadRequest(f"Could not fetch the start image for Sora (HTTP {response.status_code}).")
        mime = response.headers.get("content-type", "image/png").split(";")[0].strip()
        return _image_file(response.content, mime)

    # -- webhooks ---------------------------------------------------------------------------
    def parse_webhook(self, *, headers: dict[str, str], body: bytes) -> WebhookEvent:
        standard_webhooks.verify(headers, body, self._webhook_secret)
        event = _event_envelope(body)
        video_id = (event.get("data") or {}).get("id") or ""
        if event["type"] == "video.completed" and video_id:
            status = JobStatus(job_id=video_id, state=JobState.SUCCEEDED, raw_status="completed", progress=100,
                               output_url=self.content_url(video_id))
        elif event["type"] == "video.failed" and video_id:
            status = self._failed_status(video_id)
        else:
            status = None
        return WebhookEvent(event_id=event["id"], job_id=video_id, status=status)

    def _failed_status(self, video_id: str) -> JobStatus:
        """The event carries no reason; one poll tells a policy rejection from other failures."""
        try:
            status = self.status(video_id)
        except ProviderError:
            status = None
        if status is not None and status.state == JobState.FAILED:
            return status
        return JobStatus(job_id=video_id, state=JobState.FAILED, raw_status="failed",
                         error=ProviderError("Sora could not generate this video."))


def create_fields(request: GenerationRequest) -> dict:
    """The multipart fields of `POST /v1/videos` for one request (BadRequest when Sora can't)."""
    seconds = SECONDS.get(request.duration_seconds)
    if seconds is None:
        raise BadRequest(f"Sora renders 4, 8 or 12 seconds, not {request.duration_seconds}.")
    resolution = RESOLUTION_ALIASES.get(request.resolution)
    size = SIZES.get((request.aspect_ratio, resolution))
    if size is None:
        shape = f"{request.aspect_ratio} {request.resolution}".strip()
        raise BadRequest(f"Sora has no {shape} size; it renders 16:9 or 9:16 at 720p or 1080p.")
    if request.end_image_url or request.reference_image_urls or request.multi_shot:
        raise BadRequest("Sora takes one start image, without end frames, reference images or multi-shot.")
    prompt = request.prompt
    if request.negative_prompt:  # Sora has no negative prompt field: say it in words
        prompt = f"{prompt}\n\nAvoid: {request.negative_prompt}"
    return {"prompt": prompt, "model": request.model_id, "seconds": seconds, "size": size}


def failure_error(error) -> ProviderError:
    """Classify a failed job's `error{code, message}`."""
    code = str(getattr(error, "code", "") or "")
    message = str(getattr(error, "message", "") or "") or "Sora could not generate this video."
    if POLICY_WORDING.search(code) or POLICY_WORDING.search(message):
        return ContentPolicyRejected(f"OpenAI's moderation blocked this video: {message}")
    if code in TRANSIENT_CODES:
        return TransientProviderError(f"Sora failed temporarily ({code}): {message}")
    return ProviderError(f"Sora could not generate this video ({code or 'no code'}): {message}")


def status_error(error: openai.APIStatusError) -> ProviderError:
    """Classify an HTTP error from its OpenAI body `{"error": {message, type, param, code}}`."""
    code, kind = error.code or "", error.type or ""
    body = error.body if isinstance(error.body, dict) else {}
    message = str(body.get("message") or error.message)
    headers = error.response.headers
    if "insufficient_quota" in (code, kind):  # arrives as a 429, but waiting will not help
        return InsufficientVendorCredit(f"Our OpenAI account is out of quota: {message}")
    if POLICY_WORDING.search(code):
        return ContentPolicyRejected(f"OpenAI's moderation blocked this request: {message}")
    if error.status_code == 429:
        return RateLimited(f"OpenAI rate limit: {message}", retry_after_seconds=_retry_after(headers))
    return error_for_status(error.status_code, message, headers)


@contextmanager
def _sdk_errors():
    try:
        yield
    except openai.APITimeoutError:
        raise TransientProviderError("OpenAI did not answer in time.") from None
    except openai.APIConnectionError as error:
        raise TransientProviderError(f"Could not reach OpenAI: {error.__class__.__name__}.") from None
    except openai.APIStatusError as error:
        raise status_error(error) from None
    except (openai.APIResponseValidationError, ValueError):  # JSONDecodeError is a ValueError
        raise TransientProviderError("OpenAI sent a malformed answer.") from None


def _progress(value, state: str) -> int | None:
    if state == JobState.SUCCEEDED:
        return 100
    if isinstance(value, (int, float)):
        return max(0, min(100, int(value)))
    return None


def _poll_after(headers) -> float | None:
    raw = headers.get("openai-poll-after-ms") if headers else None
    try:
        return max(0.0, float(raw) / 1000) if raw else None
    except ValueError:
        return None


def _retry_after(headers) -> float | None:
    raw_ms = headers.get("retry-after-ms")
    try:
        if raw_ms:
            return max(0.0, float(raw_ms) / 1000)
    except ValueError:
        pass
    return retry_after_seconds(headers)


def _data_url_file(data_url: str) -> tuple[str, bytes, str]:
    header, _, payload = data_url[len("data:"):].partition(",")
    mime = header.split(";")[0] or "image/png"
    try:
        content = base64.b64decode(payload, validate=True) if header.endswith(";base64") else unquote_to_bytes(payload)
    except (binascii.Error, ValueError):
        raise BadRequest("The start image data URL is not valid base64.") from None
    return _image_file(content, mime)


def _image_file(content: bytes, mime: str) -> tuple[str, bytes, str]:
    if not content or len(content) > MAX_START_IMAGE_BYTES:
        raise BadRequest(f"The start image must be 1 byte to {MAX_START_IMAGE_BYTES} bytes.")
    extension = {"image/jpeg": "jpg", "image/webp": "webp"}.get(mime, "png")
    return f"start_frame.{extension}", content, mime


def _event_envelope(body: bytes) -> dict:
    try:
        event = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise WebhookRejected("The OpenAI webhook body is not JSON.") from None
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not isinstance(event.get("type"), str):
        raise WebhookRejected("The OpenAI webhook body is not an event envelope.")
    if not isinstance(event.get("data") or {}, dict):
        raise WebhookRejected("The OpenAI webhook event has no data object.")
    return event
