"""GoogleVeoAdapter: submit over httpx, poll with google-genai, callbacks, keyed downloads.

See the package docstring for why submission does not go through the SDK.
"""

import json
from pathlib import Path
from urllib.parse import quote

import httpx
import httpx2  # google-genai's own transport (a declared dependency): its timeouts surface as httpx2 errors
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from providers.adapters.google_veo.errors import http_error, rpc_error
from providers.adapters.google_veo.inputs import predict_body
from providers.adapters.http import DEFAULT_TIMEOUT, download_to, json_body, transport_error
from providers.base import (
    BadRequest,
    ContentPolicyRejected,
    GenerationRequest,
    JobState,
    JobStatus,
    TransientProviderError,
    VideoAdapter,
    WebhookEvent,
    WebhookRejected,
)

API_VERSION = "v1beta"


class GoogleVeoAdapter(VideoAdapter):
    family = "google_veo"
    supports_cancel = False  # no cancel for video operations in the SDK (UNCONFIRMED in REST)
    supports_callbacks = True

    def __init__(self, *, api_key: str, base_url: str, timeout: float = 30.0):
        """`base_url`: https://generativelanguage.googleapis.com in production (no version path)."""
        self._base_url = base_url.rstrip("/")
        self._genai = genai.Client(api_key=api_key, vertexai=False, http_options=genai_types.HttpOptions(
            base_url=self._base_url, api_version=API_VERSION, timeout=int(timeout * 1000),
            retry_options=genai_types.HttpRetryOptions(attempts=1),
        ))
        self._http = _keyed_client(api_key, httpx.URL(self._base_url), timeout)

    def submit(self, request: GenerationRequest) -> JobStatus:
        body = predict_body(request, self._http)
        url = f"{self._base_url}/{API_VERSION}/models/{quote(request.model_id, safe='')}:predictLongRunning"
        try:
            response = self._http.post(url, json=body)
        except httpx.HTTPError as error:
            raise transport_error(error) from None
        if response.status_code != 200:
            raise http_error(response.status_code, _json_or_none(response), response.headers)
        answer = json_body(response)
        name = answer.get("name") if isinstance(answer, dict) else None
        if not isinstance(name, str) or not name:
            raise TransientProviderError("Veo accepted the job but sent no operation name.")
        return JobStatus(job_id=name, state=JobState.QUEUED, raw_status="submitted")

    def status(self, job_id: str) -> JobStatus:
        if not job_id:
            raise BadRequest("A Veo operation name is needed to poll.")
        try:
            operation = self._genai.operations.get(genai_types.GenerateVideosOperation(name=job_id))
        except genai_errors.APIError as error:
            raise http_error(error.code, error.details, getattr(error.response, "headers", None)) from None
        except (httpx2.HTTPError, httpx.HTTPError) as error:
            timed_out = isinstance(error, (httpx2.TimeoutException, httpx.TimeoutException))
            reason = "Veo did not answer in time." if timed_out else "Could not reach Veo."
            raise TransientProviderError(reason) from None
        except ValueError:  # a garbled body: json.JSONDecodeError or pydantic's ValidationError
            raise TransientProviderError("Veo sent a malformed operation.") from None
        return operation_status(operation)

    def parse_webhook(self, *, headers: dict[str, str], body: bytes) -> WebhookEvent:
        return webhook_event(headers, body)

    def fetch_output(self, status: JobStatus, destination: Path, *, max_bytes: int) -> Path:
        url = status.output_url or self.status(status.job_id).output_url
        if not url:
            raise BadRequest(f"Veo operation {status.job_id} has no video to download.")
        return download_to(url, destination, max_bytes=max_bytes, client=self._http)


def _keyed_client(api_key: str, api_origin: httpx.URL, timeout: float) -> httpx.Client:
    """An httpx client that sends our key to the API's own origin only, redirects included.

    The file download may redirect to storage elsewhere; httpx would carry a custom header
    across origins, so a per-hop hook adds or strips it.
    """

    def key_for_api_origin_only(request: httpx.Request) -> None:
        same_origin = (request.url.scheme, request.url.host, request.url.port) == (
            api_origin.scheme, api_origin.host, api_origin.port)
        if same_origin:
            request.headers["x-goog-api-key"] = api_key
        else:
            request.headers.pop("x-goog-api-key", None)

    return httpx.Client(timeout=httpx.Timeout(timeout, connect=DEFAULT_TIMEOUT.connect), follow_redirects=True,
                        event_hooks={"request": [key_for_api_origin_only]})


def _json_or_none(response: httpx.Response):
    try:
        return response.json()
    except ValueError:
        return None


# -- the operation --------------------------------------------------------------------------


def operation_status(operation: genai_types.GenerateVideosOperation) -> JobStatus:
    """Map the SDK's GenerateVideosOperation (parsed from the Gemini API's JSON) onto JobStatus."""
    name = operation.name or ""
    if not operation.done:
        return JobStatus(name, JobState.RUNNING, "running")
    if operation.error:
        raw = f"error:{operation.error.get('status') or operation.error.get('code')}"
        return JobStatus(name, JobState.FAILED, raw, error=rpc_error(operation.error))
    result = operation.result or operation.response
    samples = (result.generated_videos or []) if result else []
    uris = [sample.video.uri for sample in samples if sample.video and sample.video.uri]
    if uris:
        return JobStatus(name, JobState.SUCCEEDED, "done", progress=100, output_url=uris[0])
    if result and result.rai_media_filtered_count:
        reasons = "; ".join(result.rai_media_filtered_reasons or []) or "no reason given"
        return JobStatus(name, JobState.FAILED, "rai_filtered",
                         error=ContentPolicyRejected(f"Google's safety filters blocked this take: {reasons}"))
    return JobStatus(name, JobState.FAILED, "done_without_video",
                     error=TransientProviderError("Veo finished without a video or a reason."))


# -- callbacks ------------------------------------------------------------------------------


def webhook_event(headers: dict[str, str], body: bytes) -> WebhookEvent:
    """A `webhookConfig.uris` callback.

    Signature UNCONFIRMED (third parties describe Standard Webhooks HMAC for registered webhooks
    and Google-signed JWTs for per-request URIs), so it is treated as unsigned: the caller has
    already checked our per-take URL token. Payload: the documented-most-likely thin event
    `{"type": "video.generated", "data": {"id": <operation name>, "video_uri"?: ...}}`. Only a
    video URI is taken as an outcome; anything else is a nudge to poll (status None), which
    also gives failures their classified reason.
    """
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise WebhookRejected("Veo callback body is not JSON.") from None
    data = payload.get("data") if isinstance(payload, dict) else None
    job_id = data.get("id") if isinstance(data, dict) else None
    if not isinstance(job_id, str) or not job_id or not str(payload.get("type", "")).startswith("video."):
        raise WebhookRejected("Veo callback is not a video event with an operation id.")
    lowered = {name.lower(): value for name, value in headers.items()}
    event_id = lowered.get("webhook-id") or f"{job_id}:{payload.get('type')}:{payload.get('timestamp', '')}"
    video_uri = data.get("video_uri")
    status = None
    if isinstance(video_uri, str) and video_uri:
        status = JobStatus(job_id, JobState.SUCCEEDED, str(payload["type"]), progress=100, output_url=video_uri)
    return WebhookEvent(event_id=event_id, job_id=job_id, status=status)
