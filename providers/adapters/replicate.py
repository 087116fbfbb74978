"""Replicate predictions API (provider_contracts.md §7), over httpx.

* Official models ("owner/name") are created at `POST /v1/models/{owner}/{name}/predictions`;
  pinned versions ("owner/name:<version>" or a bare 64-hex version id) at `POST /v1/predictions`
  with `version`. Inputs are the model's own schema; `MODELS` knows the Kling ones we route to.
* `webhook` + `webhook_events_filter: ["start", "completed"]` when the caller gives a callback URL;
  the body of each delivery is the prediction itself, signed with Standard Webhooks.
* Statuses starting → processing → succeeded | failed | canceled. Progress only exists as tqdm
  lines (`NN%|…| a/b`) in `logs`, parsed the way the SDK does. Output is a URI (or a list of them).
* HTTP errors are RFC 7807 problem details; failed predictions carry an `error` string.
* No idempotency key: neither the API nor the SDKs accept one.

`base_url` is the API host as in the SDK's REPLICATE_BASE_URL ("https://api.replicate.com");
a trailing "/v1" is tolerated.
"""

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from providers.adapters import standard_webhooks
from providers.adapters.http import download_to, error_for_status, json_body, retry_after_seconds, transport_error
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

STATES = {
    "starting": JobState.QUEUED,
    "processing": JobState.RUNNING,
    "succeeded": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "canceled": JobState.CANCELLED,
}
WEBHOOK_EVENTS = ["start", "completed"]
VERSION_ID = re.compile(r"^[0-9a-f]{64}$")
PROGRESS_LINE = re.compile(r"^\s*(?P<percent>\d+)%\s*\|.+?\|\s*(?P<current>\d+)/(?P<total>\d+)")  # SDK's pattern
# Replicate's moderation wording ("…flagged as sensitive… (E005)", "NSFW content detected"); the
# exact code is UNCONFIRMED (§7), so the words decide, on HTTP problems and model errors alike.
POLICY_WORDING = re.compile(r"flagged|sensitive|nsfw|content policy|moderation|safety", re.I)
CREDIT_WORDING = re.compile(r"insufficient credit|out of credit", re.I)
THROTTLE_RESET = re.compile(r"resets in ~?(\d+)\s*s")
TRANSIENT_MODEL_ERRORS = ("E6716",)  # timed out starting the prediction: another try may get a worker


@dataclass(frozen=True)
class ModelInputs:
    """What one model's input schema takes (empty tuples: not checked here, the vendor decides)."""

    durations: tuple[int, ...] = ()
    aspect_ratios: tuple[str, ...] = ()
    takes_aspect_ratio: bool = True  # False: the start image decides the shape
    needs_start_image: bool = False
    end_image: bool = True
    seed: bool = True
    modes: dict[str, str] = field(default_factory=dict)  # our resolution → the model's `mode`


KLING_ASPECTS = ("16:9", "9:16", "1:1")
MODELS = {
    "kwaivgi/kling-v2.0": ModelInputs((5, 10), KLING_ASPECTS, end_image=False, seed=False),
    "kwaivgi/kling-v2.1": ModelInputs((5, 10), takes_aspect_ratio=False, needs_start_image=True, seed=False,
                                      modes={"": "standard", "720p": "standard", "1080p": "pro"}),
    "kwaivgi/kling-v2.1-master": ModelInputs((5, 10), KLING_ASPECTS, end_image=False, seed=False),
    "kwaivgi/kling-v2.5-turbo-pro": ModelInputs((5, 10), KLING_ASPECTS, seed=False),
}
ANY_MODEL = ModelInputs()


class ReplicateAdapter(VideoAdapter):
    family = "replicate"
    supports_cancel = True
    supports_callbacks = True

    def __init__(self, *, api_key: str, base_url: str, timeout: float = 30.0, webhook_secret: str | None = None):
        self._api = base_url.rstrip("/").removesuffix("/v1") + "/v1"
        self._webhook_secret = webhook_secret or ""
        self._http = httpx.Client(
            timeout=httpx.Timeout(timeout, connect=min(5.0, timeout)), follow_redirects=False,
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "shotcraft"},
        )

    def submit(self, request: GenerationRequest) -> JobStatus:
        path, body = prediction_create(request)
        return prediction_status(self._call("POST", path, body))

    def status(self, job_id: str) -> JobStatus:
        return prediction_status(self._call("GET", f"/predictions/{_checked_id(job_id)}"))

    def cancel(self, job_id: str) -> bool:
        """True when Replicate took the cancel; False when the prediction had already finished."""
        prediction = self._call("POST", f"/predictions/{_checked_id(job_id)}/cancel")
        return prediction.get("status") not in ("succeeded", "failed")

    def fetch_output(self, status: JobStatus, destination: Path, *, max_bytes: int) -> Path:
        if not status.output_url:
            raise BadRequest("The Replicate prediction has no output to download.")
        # Output URLs are signed delivery links: our API token is not sent there.
        return download_to(status.output_url, destination, max_bytes=max_bytes)

    def parse_webhook(self, *, headers: dict[str, str], body: bytes) -> WebhookEvent:
        webhook_id = standard_webhooks.verify(headers, body, self._signing_secret())
        prediction = _webhook_prediction(body)
        try:
            status = prediction_status(prediction)
        except TransientProviderError as error:
            raise WebhookRejected(str(error)) from None
        return WebhookEvent(event_id=webhook_id, job_id=status.job_id, status=status)

    def close(self) -> None:
        self._http.close()

    def _signing_secret(self) -> str:
        """The configured secret, else the account's default one, fetched once from the API."""
        if not self._webhook_secret:
            try:
                self._webhook_secret = str(self._call("GET", "/webhooks/default/secret").get("key") or "")
            except ProviderError as error:
                raise WebhookRejected(f"Could not fetch Replicate's webhook signing secret: {error.reason}") from None
        return self._webhook_secret

    def _call(self, method: str, path: str, body: dict | None = None) -> dict:
        try:
            response = self._http.request(method, self._api + path, json=body)
        except httpx.HTTPError as error:
            raise transport_error(error) from None
        if response.status_code >= 400:
            raise problem_error(response)
        answer = json_body(response)
        if not isinstance(answer, dict):
            raise TransientProviderError("Replicate answered with something other than a JSON object.")
        return answer


# -- requests ----------------------------------------------------------------------------------
def prediction_create(request: GenerationRequest) -> tuple[str, dict]:
    """The path and JSON body that start a prediction for this request."""
    model, _, version = request.model_id.partition(":")
    if VERSION_ID.match(model):
        model, version = "", model
    elif model.count("/") != 1:
        raise BadRequest(f"{request.model_id!r} is not a Replicate model (owner/name[:version]) or version id.")
    body: dict = {"input": model_input(request, MODELS.get(model, ANY_MODEL))}
    if request.callback_url:
        body.update(webhook=request.callback_url, webhook_events_filter=WEBHOOK_EVENTS)
    if version:
        return "/predictions", {"version": version, **body}
    return f"/models/{model}/predictions", body


def model_input(request: GenerationRequest, inputs: ModelInputs) -> dict:
    _check_supported(request, inputs)
    payload: dict = {"prompt": request.prompt, "duration": request.duration_seconds}
    if request.negative_prompt:
        payload["negative_prompt"] = request.negative_prompt
    if inputs.takes_aspect_ratio and request.aspect_ratio:
        payload["aspect_ratio"] = request.aspect_ratio
    if request.image_url:
        payload["start_image"] = request.image_url
    if request.end_image_url:
        payload["end_image"] = request.end_image_url
    if inputs.modes:
        payload["mode"] = inputs.modes[request.resolution]
    if inputs.seed and request.seed is not None:
        payload["seed"] = request.seed
    return payload


def _check_supported(request: GenerationRequest, inputs: ModelInputs) -> None:
    name = request.model_id
    if inputs.durations and request.duration_seconds not in inputs.durations:
        allowed = " or ".join(map(str, inputs.durations))
        raise BadRequest(f"{name} renders {allowed} seconds, not {request.duration_seconds}.")
    if inputs.aspect_ratios and request.aspect_ratio not in inputs.aspect_ratios:
        raise BadRequest(f"{name} has no {request.aspect_ratio} aspect ratio.")
    if inputs.needs_start_image and not request.image_url:
        raise BadRequest(f"{name} needs a start image.")
    if request.end_image_url and not inputs.end_image:
        raise BadRequest(f"{name} takes no end frame.")
    if inputs.modes and request.resolution not in inputs.modes:
        raise BadRequest(f"{name} has no {request.resolution} mode.")
    if inputs.modes and request.end_image_url and inputs.modes[request.resolution] != "pro":
        raise BadRequest(f"{name} takes an end frame only in pro mode (1080p).")
    if request.reference_image_urls or request.multi_shot:
        raise BadRequest(f"{name} takes no reference images or multi-shot prompts through this adapter.")


def _checked_id(job_id: str) -> str:
    if not re.fullmatch(r"[\w-]+", job_id or ""):
        raise BadRequest(f"{job_id!r} is not a Replicate prediction id.")
    return job_id


# -- answers -----------------------------------------------------------------------------------
def prediction_status(prediction: dict) -> JobStatus:
    raw, job_id = prediction.get("status"), prediction.get("id")
    if raw not in STATES or not isinstance(job_id, str):
        raise TransientProviderError(f"Replicate answered with an unexpected prediction (status {raw!r}).")
    state, output = STATES[raw], _first_output(prediction.get("output"))
    error = model_error(prediction.get("error")) if state == JobState.FAILED else None
    if state == JobState.SUCCEEDED and not output:
        state, error = JobState.FAILED, ProviderError(
            "Replicate finished without an output URL (API outputs are deleted after an hour).")
    progress = 100 if state == JobState.SUCCEEDED else log_progress(prediction.get("logs"))
    return JobStatus(job_id=job_id, state=state, raw_status=raw, progress=progress,
                     output_url=output if state == JobState.SUCCEEDED else None, error=error)


def log_progress(logs) -> int | None:
    """The last tqdm-style `NN%|…| a/b` line of the logs, as a percent."""
    for line in reversed(str(logs or "").splitlines()):
        match = PROGRESS_LINE.match(line.strip())
        if match:
            return max(0, min(100, int(match.group("percent"))))
    return None


def model_error(error) -> ProviderError:
    """Classify a failed prediction's `error` string."""
    message = str(error or "").strip() or "Replicate reported a failed prediction without a reason."
    if POLICY_WORDING.search(message):
        return ContentPolicyRejected(f"Replicate's content filter refused this video: {message}")
    if any(code in message for code in TRANSIENT_MODEL_ERRORS):
        return TransientProviderError(f"Replicate failed temporarily: {message}")
    return ProviderError(f"The Replicate model failed: {message}")


def problem_error(response: httpx.Response) -> ProviderError:
    """Classify an HTTP error from its RFC 7807 body `{type, title, status, detail, instance}`."""
    problem = _problem(response)
    detail = str(problem.get("detail") or problem.get("title") or response.text[:200] or "no detail")
    status = response.status_code
    if status == 402 or CREDIT_WORDING.search(detail):
        return InsufficientVendorCredit(f"Our Replicate account is out of credit: {detail}")
    if status == 429:
        reset = THROTTLE_RESET.search(detail)
        wait = retry_after_seconds(response.headers)
        return RateLimited(f"Replicate rate limit: {detail}",
                           retry_after_seconds=wait if wait is not None else (float(reset.group(1)) if reset else None))
    if 400 <= status < 500 and POLICY_WORDING.search(detail):
        return ContentPolicyRejected(f"Replicate's content filter refused this request: {detail}")
    return error_for_status(status, detail, response.headers)


def _problem(response: httpx.Response) -> dict:
    try:
        problem = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return problem if isinstance(problem, dict) else {}


def _first_output(output) -> str | None:
    if isinstance(output, list):
        output = output[0] if output else None
    return output if isinstance(output, str) and output else None


def _webhook_prediction(body: bytes) -> dict:
    try:
        prediction = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise WebhookRejected("The Replicate webhook body is not JSON.") from None
    if not isinstance(prediction, dict):
        raise WebhookRejected("The Replicate webhook body is not a prediction.")
    return prediction
