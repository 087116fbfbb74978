"""The fal.ai queue API (shared/provider_contracts.md §2; Pika runs here too, §9).

Plain httpx rather than fal-client: the SDK builds its queue URLs from fixed fal hosts
(`queue.{FAL_RUN_HOST}`), retries 408/409/429/5xx on its own, and offers no idempotency option,
while we need a configurable base URL (sandbox emulator) and the pipeline owns retries.

Job ids are `<owner>/<alias>/requests/<request_id>`: the path of the `response_url` fal returns
on submit, relative to base_url. fal's status, result and cancel paths keep only owner/alias
(not the endpoint sub-path), and our polling runs in other processes than the submit, so the id
carries what the URLs need. Callbacks only name the bare request id (see `request_id_of`).
"""

import json
import re
from pathlib import Path
from urllib.parse import urlparse

import httpx

from providers.adapters.fal.errors import detail_of, error_from_response, job_failure
from providers.adapters.fal.inputs import endpoint_for, model_input, queue_app
from providers.adapters.fal.signatures import DEFAULT_JWKS_URL, verified_request_id
from providers.adapters.http import download_to, json_body, transport_error
from providers.base import (
    AuthenticationFailed,
    BadRequest,
    GenerationRequest,
    JobState,
    JobStatus,
    TransientProviderError,
    VideoAdapter,
    WebhookEvent,
    WebhookRejected,
)

# IN_QUEUE / IN_PROGRESS / COMPLETED per the SDK. FAILED and CANCELED appear only in a 3P
# schema (UNCONFIRMED); anything else unknown is treated as still running, not as a failure.
QUEUE_STATES = {"IN_QUEUE": JobState.QUEUED, "IN_PROGRESS": JobState.RUNNING,
                "FAILED": JobState.FAILED, "CANCELED": JobState.CANCELLED, "CANCELLED": JobState.CANCELLED}
CANCEL_ACCEPTED = {"OK", "CANCELLATION_REQUESTED"}
CANCEL_TOO_LATE = {"ALREADY_COMPLETED", "NOT_FOUND"}
# fal reports no numeric progress; runners' log lines sometimes carry one (tqdm-style "42%|").
PERCENT = re.compile(r"(\d{1,3}(?:\.\d+)?)\s?%")


def request_id_of(job_id: str) -> str:
    """The bare fal request id of one of our job ids: what callbacks (WebhookEvent.job_id) name."""
    return job_id.rsplit("/", 1)[-1]


class FalAdapter(VideoAdapter):
    family = "fal"
    supports_cancel = True
    supports_callbacks = True

    def __init__(self, *, api_key: str, base_url: str, timeout: float = 30.0, jwks_url: str = DEFAULT_JWKS_URL):
        self.api_key = api_key
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.jwks_url = jwks_url

    # -- submit ---------------------------------------------------------------------------
    def submit(self, request: GenerationRequest) -> JobStatus:
        # fal's queue has no idempotency key (none in fal-client's submit or headers), so
        # request.idempotency_key is not sent: a submit retried after a lost answer can run twice.
        endpoint = endpoint_for(request)
        params = {"fal_webhook": request.callback_url} if request.callback_url else None
        data = self._json("POST", f"/{endpoint}", params=params, json=model_input(request))
        request_id = data.get("request_id") if isinstance(data, dict) else None
        if not request_id:
            raise TransientProviderError("fal accepted the job but sent no request_id.")
        job_id = self._job_id(endpoint, str(request_id), data.get("response_url"))
        return JobStatus(job_id=job_id, state=JobState.QUEUED, raw_status=data.get("status") or "IN_QUEUE")

    def _job_id(self, endpoint: str, request_id: str, response_url: str | None) -> str:
        """The response_url's path below base_url; the documented owner/alias rule if it is odd."""
        base_path = urlparse(self.base_url).path.rstrip("/")
        path = urlparse(response_url or "").path
        if path.startswith(base_path + "/"):
            path = path[len(base_path):]
        path = path.strip("/")
        if path.endswith(f"/requests/{request_id}"):
            return path
        return f"{queue_app(endpoint)}/requests/{request_id}"

    # -- status ---------------------------------------------------------------------------
    def status(self, job_id: str) -> JobStatus:
        data = self._json("GET", f"/{job_id}/status", params={"logs": "1"})
        if not isinstance(data, dict):
            raise TransientProviderError("fal sent a status that is not a JSON object.")
        raw = str(data.get("status") or "")
        if raw == "COMPLETED":
            if data.get("error") or data.get("error_type"):
                return self._ended_badly(job_id, data.get("error"), data.get("error_type"))
            return self._completed(job_id)
        state = QUEUE_STATES.get(raw, JobState.RUNNING)
        progress = _progress_from_logs(data.get("logs")) if state == JobState.RUNNING else None
        error = job_failure(data.get("error"), data.get("error_type")) if state == JobState.FAILED else None
        return JobStatus(job_id=job_id, state=state, raw_status=raw or "UNKNOWN", progress=progress, error=error)

    def _ended_badly(self, job_id: str, error: str | None, error_type: str | None) -> JobStatus:
        # The text of a cancelled request's error is UNCONFIRMED; fal's runner SDK says
        # "Request cancelled by the client." (RequestCancelledException).
        if "cancel" in f"{error} {error_type}".lower():
            return JobStatus(job_id=job_id, state=JobState.CANCELLED, raw_status="COMPLETED")
        return JobStatus(job_id=job_id, state=JobState.FAILED, raw_status="COMPLETED",
                         error=job_failure(error, error_type))

    def _completed(self, job_id: str) -> JobStatus:
        """COMPLETED without an error: the result holds the video, or the failure's real reason."""
        response = self._send("GET", f"/{job_id}")
        if response.status_code >= 400:
            error = error_from_response(response)
            if error.retryable or response.status_code in (401, 403):
                raise error  # our key, a rate limit or a gateway hiccup: the job itself may be fine
            return JobStatus(job_id=job_id, state=JobState.FAILED, raw_status="COMPLETED", error=error)
        return JobStatus(job_id=job_id, state=JobState.SUCCEEDED, raw_status="COMPLETED", progress=100,
                         output_url=_video_url(json_body(response)))

    # -- cancel ---------------------------------------------------------------------------
    def cancel(self, job_id: str) -> bool:
        response = self._send("PUT", f"/{job_id}/cancel")
        word = _status_word(response)
        if word in CANCEL_TOO_LATE:
            return False
        if response.status_code >= 400:
            raise error_from_response(response)
        return word in CANCEL_ACCEPTED or word is None

    # -- callbacks ------------------------------------------------------------------------
    def parse_webhook(self, *, headers: dict[str, str], body: bytes) -> WebhookEvent:
        """Verify fal's Ed25519 signature, then read `{request_id, status: OK|ERROR, payload, error}`.

        WebhookEvent.job_id is the bare request id (callbacks do not name the app). A success
        whose output fal could not serialise (`payload_error`) carries no status: poll for it.
        """
        signed_request_id = verified_request_id(headers, body, jwks_url=self.jwks_url, timeout=self.timeout)
        try:
            data = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise WebhookRejected("fal callback body is not JSON") from None
        if not isinstance(data, dict) or data.get("request_id") != signed_request_id:
            raise WebhookRejected("fal callback body does not match its signed request id")
        outcome = data.get("status")
        if outcome not in ("OK", "ERROR"):
            raise WebhookRejected(f"fal callback with unknown status {outcome!r}")
        event_id = f"{signed_request_id}:{outcome}"
        return WebhookEvent(event_id=event_id, job_id=signed_request_id,
                            status=_callback_status(signed_request_id, outcome, data))

    # -- output ---------------------------------------------------------------------------
    def fetch_output(self, status: JobStatus, destination: Path, *, max_bytes: int) -> Path:
        url = status.output_url
        if not url:
            finished = self.status(status.job_id)
            if finished.state != JobState.SUCCEEDED or not finished.output_url:
                raise BadRequest(f"fal job {status.job_id} has no video to fetch ({finished.state}).")
            url = finished.output_url
        # fal's CDN URLs are public; our key is not sent to them.
        return download_to(url, destination, max_bytes=max_bytes)

    # -- HTTP -----------------------------------------------------------------------------
    def _send(self, method: str, path: str, **kwargs) -> httpx.Response:
        if not self.api_key.strip():
            raise AuthenticationFailed("No fal key is configured (FAL_KEY).")
        headers = {"Authorization": f"Key {self.api_key}", "Accept": "application/json"}
        try:
            return httpx.request(method, self.base_url + path, headers=headers,
                                 timeout=httpx.Timeout(self.timeout, connect=min(5.0, self.timeout)), **kwargs)
        except httpx.HTTPError as error:
            raise transport_error(error) from None

    def _json(self, method: str, path: str, **kwargs):
        response = self._send(method, path, **kwargs)
        if response.status_code >= 400:
            raise error_from_response(response)
        return json_body(response)


def _progress_from_logs(logs) -> int | None:
    """The last percentage a runner log line mentions, capped below 100 while still running."""
    for entry in reversed(logs or []):
        message = entry.get("message", "") if isinstance(entry, dict) else str(entry)
        found = PERCENT.findall(message)
        if found:
            return max(0, min(99, int(float(found[-1]))))
    return None


def _video_url(result) -> str:
    video = result.get("video") if isinstance(result, dict) else None
    if not isinstance(video, dict) or not video.get("url"):
        raise TransientProviderError("fal's result has no video URL.")
    return video["url"]


def _status_word(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body.get("status") if isinstance(body, dict) else None


def _callback_status(request_id: str, outcome: str, data: dict) -> JobStatus | None:
    if outcome == "ERROR":
        message, error_type = detail_of(data.get("payload"))
        error = job_failure(f"{data.get('error') or 'error'}: {message}".rstrip(": "), error_type)
        return JobStatus(job_id=request_id, state=JobState.FAILED, raw_status="ERROR", error=error)
    if data.get("payload") is None:
        return None  # payload_error: the video exists but fal could not put it in the callback
    try:
        url = _video_url(data["payload"])
    except TransientProviderError:
        raise WebhookRejected("fal callback payload has no video URL") from None
    return JobStatus(job_id=request_id, state=JobState.SUCCEEDED, raw_status="OK", progress=100, output_url=url)
