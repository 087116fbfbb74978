"""Kling official API (api-singapore.klingai.com) over httpx.

Submit with POST /v1/videos/text2video or /v1/videos/image2video (chosen by whether the request
has a start frame), poll GET /v1/videos/{kind}/{task_id}. Every request carries a fresh HS256 JWT
(iss = access key, 30 minutes) signed with the secret key. Errors are an HTTP status plus a
`code` in the JSON body. `external_task_id` (the take's idempotency key) is Kling's own
idempotency: a retried submit that Kling refuses as a duplicate is answered with the task the
first attempt created. No cancel; callbacks are unsigned (our per-take URL token is checked by
the caller).
"""

import json
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import jwt

from providers.adapters.http import download_to, error_for_status, json_body, retry_after_seconds, transport_error
from providers.base import (
    AuthenticationFailed,
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

DEFAULT_BASE_URL = "https://api-singapore.klingai.com"  # China: https://api-beijing.klingai.com
TOKEN_LIFETIME_SECONDS = 1800
TOKEN_NOT_BEFORE_SKEW_SECONDS = 5
KINDS = ("text2video", "image2video")
KINDS_REMEMBERED = 10_000  # a long-running worker polls many tasks; keep memory bounded

STATES = {
    "submitted": JobState.QUEUED,
    "processing": JobState.RUNNING,
    "succeed": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
}
DURATIONS = (5, 10)
ASPECT_RATIOS = ("16:9", "9:16", "1:1")
MODES = {"": "std", "720p": "std", "1080p": "pro"}  # std renders 720p, pro 1080p
# task_status_msg wording is not documented; Kling's moderation failures have been seen to read
# "Failure to pass the risk control system" (UNCONFIRMED).
POLICY_WORDS = ("risk control", "content security", "sensitive", "policy", "inappropriate")


@dataclass(frozen=True)
class KlingModel:
    """What one Kling model accepts (provider_contracts.md §8)."""

    model_id: str
    sound: bool = False  # `sound: on|off`, v2.6+ and pro mode only


MODELS = {
    spec.model_id: spec
    for spec in (
        KlingModel("kling-v2-master"),
        KlingModel("kling-v2-1-master"),
        KlingModel("kling-v2-5-turbo"),
        KlingModel("kling-v2-6", sound=True),
        KlingModel("kling-v3", sound=True),  # seen in a real request log only; sound assumed as v2.6 (UNCONFIRMED)
    )
}


class KlingJWTAuth(httpx.Auth):
    """A fresh JWT per request, as Kling's docs prescribe."""

    def __init__(self, access_key: str, secret_key: str):
        self._access_key = access_key
        self._secret_key = secret_key

    def token(self) -> str:
        now = int(time.time())
        claims = {"iss": self._access_key, "exp": now + TOKEN_LIFETIME_SECONDS,
                  "nbf": now - TOKEN_NOT_BEFORE_SKEW_SECONDS}
        return jwt.encode(claims, self._secret_key, algorithm="HS256", headers={"typ": "JWT"})

    def auth_flow(self, request):
        request.headers["Authorization"] = f"Bearer {self.token()}"
        yield request


class KlingAdapter(VideoAdapter):
    deduplicates_submissions = True  # external_task_id: a repeat returns the first task
    family = "kling"
    supports_cancel = False
    supports_callbacks = True

    def __init__(self, *, access_key: str, secret_key: str, base_url: str, timeout: float = 30.0):
        self._client = httpx.Client(
            base_url=base_url, timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            auth=KlingJWTAuth(access_key, secret_key),
        )
        # Task id → endpoint, for the tasks this process saw last; a forgotten one is found by trying both.
        self._kinds: OrderedDict[str, str] = OrderedDict()

    def submit(self, request: GenerationRequest) -> JobStatus:
        kind = "image2video" if request.image_url else "text2video"
        response = self._send("POST", f"/v1/videos/{kind}", json=create_body(request))
        if _is_duplicate(response):
            # The first attempt got through: fetch its task by our external_task_id (Kling's
            # docs: the query path takes task_id or external_task_id).
            response = self._send("GET", f"/v1/videos/{kind}/{quote(request.idempotency_key, safe='')}")
        status = task_status(task_data(response))
        self._kind_remember(status.job_id, kind)
        return status

    def _kind_remember(self, job_id: str, kind: str) -> None:
        self._kinds[job_id] = kind
        self._kinds.move_to_end(job_id)
        while len(self._kinds) > KINDS_REMEMBERED:
            self._kinds.popitem(last=False)

    def status(self, job_id: str) -> JobStatus:
        """Poll the task. Its endpoint is not in the job id: unknown ones try text2video first."""
        known = self._kinds.get(job_id)
        for kind in (known,) if known else KINDS:
            response = self._send("GET", f"/v1/videos/{kind}/{quote(job_id, safe='')}")
            if known or not _is_missing(response):
                break
        status = task_status(task_data(response))
        self._kind_remember(job_id, kind)
        return status

    def parse_webhook(self, *, headers: dict[str, str], body: bytes) -> WebhookEvent:
        """A task-status callback, wrapped ({code, message, data: task}) or bare (the task)."""
        task = _webhook_task(body)
        try:
            status = task_status(task)
        except ProviderError as error:
            raise WebhookRejected(f"Kling callback is not a task: {error.reason}") from None
        event_id = f"{status.job_id}:{status.raw_status}:{task.get('updated_at', '')}"
        return WebhookEvent(event_id=event_id, job_id=status.job_id, status=status)

    def fetch_output(self, status: JobStatus, destination: Path, *, max_bytes: int) -> Path:
        url = status.output_url or self.status(status.job_id).output_url
        if not url:
            raise TransientProviderError(f"Kling task {status.job_id} reported no video URL yet.")
        return download_to(url, destination, max_bytes=max_bytes)

    def _send(self, method: str, path: str, **kwargs) -> httpx.Response:
        try:
            return self._client.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise transport_error(error) from None


# -- the create request ---------------------------------------------------------------------


def create_body(request: GenerationRequest) -> dict:
    """The JSON body of POST /v1/videos/{text2video|image2video} for one request."""
    spec = _model(request.model_id)
    _refuse_unsupported(spec, request)
    body = {"model_name": spec.model_id, "prompt": request.prompt, "mode": _mode(spec, request),
            "duration": _duration(request), "external_task_id": request.idempotency_key}
    if request.negative_prompt:
        body["negative_prompt"] = request.negative_prompt
    if request.image_url:
        # The image2video doc lists no aspect_ratio: the start frame sets the framing.
        body["image"] = kling_image(request.image_url)
        if request.end_image_url:
            body["image_tail"] = kling_image(request.end_image_url)
    else:
        body["aspect_ratio"] = _aspect_ratio(spec, request)
    if spec.sound:
        body["sound"] = "on" if request.with_audio else "off"
    if request.callback_url:
        body["callback_url"] = request.callback_url
    return body  # no seed field in Kling's API: a seed is ignored


def _model(model_id: str) -> KlingModel:
    try:
        return MODELS[model_id]
    except KeyError:
        raise BadRequest(f"Kling model {model_id!r} is not supported by this adapter.") from None


def _refuse_unsupported(spec: KlingModel, request: GenerationRequest) -> None:
    refusals = {
        "needs a prompt": not request.prompt and not request.image_url,
        "cannot generate audio": request.with_audio and not spec.sound,
        "generates audio in pro mode (1080p) only": request.with_audio and _mode(spec, request) != "pro",
        "cannot take an end frame without a start frame": bool(request.end_image_url) and not request.image_url,
        "cannot take an end frame with audio": bool(request.end_image_url) and request.with_audio,
        "takes an end frame in pro mode (1080p) only": bool(request.end_image_url) and spec.sound
        and _mode(spec, request) != "pro",
        "cannot take reference images": bool(request.reference_image_urls),
        "cannot render multi-shot prompts": bool(request.multi_shot),  # multi_shot fields are UNCONFIRMED
    }
    for refusal, applies in refusals.items():
        if applies:
            raise BadRequest(f"Kling {spec.model_id} {refusal}.")


def _mode(spec: KlingModel, request: GenerationRequest) -> str:
    if request.resolution not in MODES:
        raise BadRequest(f"Kling {spec.model_id} cannot render at {request.resolution}.")
    return "pro" if request.with_audio and not request.resolution else MODES[request.resolution]


def _duration(request: GenerationRequest) -> str:
    if request.duration_seconds not in DURATIONS:
        raise BadRequest(f"Kling renders 5 or 10 seconds, not {request.duration_seconds}.")
    return str(request.duration_seconds)  # Kling wants the string "5" or "10"


def _aspect_ratio(spec: KlingModel, request: GenerationRequest) -> str:
    if request.aspect_ratio not in ASPECT_RATIOS:
        raise BadRequest(f"Kling {spec.model_id} cannot render {request.aspect_ratio}.")
    return request.aspect_ratio


def kling_image(url: str) -> str:
    """An https URL as is; a data: URL as the raw base64 Kling wants (no `data:` prefix)."""
    if not url.startswith("data:"):
        return url
    header, _, payload = url.partition(",")
    if not header.endswith(";base64") or not payload:
        raise BadRequest("Kling takes images as URLs or base64 data URLs.")
    return payload


# -- answers and errors ---------------------------------------------------------------------


def task_data(response: httpx.Response) -> dict:
    """The `data` task of a Kling answer, or the classified error it carries."""
    if response.status_code >= 400:
        raise answer_error(response)
    answer = json_body(response)
    if not isinstance(answer, dict) or "code" not in answer:
        raise TransientProviderError("Kling sent a malformed answer.")
    if answer["code"] != 0:
        raise code_error(answer.get("code"), str(answer.get("message") or ""), response.status_code, response.headers)
    if not isinstance(answer.get("data"), dict):
        raise TransientProviderError("Kling sent an answer without a task.")
    return answer["data"]


def answer_error(response: httpx.Response) -> ProviderError:
    code, message = _refusal(response)
    if code is None:
        return error_for_status(response.status_code, response.text[:200], response.headers)
    return code_error(code, message, response.status_code, response.headers)


def code_error(code, message: str, http_status: int, headers=None) -> ProviderError:
    """Classify Kling's `code` (its error table), falling back on the HTTP status."""
    detail = f"{message or 'no message'} (code {code})"
    if code in (1000, 1001, 1002, 1003, 1004, 1100, 1103, 1304):  # keys, account, permission, IP whitelist
        return AuthenticationFailed(f"Kling refused our credentials or account: {detail}")
    if code in (1101, 1102):  # account in arrears, resource pack depleted
        return InsufficientVendorCredit(f"Our Kling account is out of credit: {detail}")
    if code in (1302, 1303):  # rate limit, concurrency over the resource pack's limit
        return RateLimited(f"Kling rate limit: {detail}", retry_after_seconds=retry_after_seconds(headers))
    if code in (1300, 1301):
        return ContentPolicyRejected(f"Kling's content policy rejected this take: {detail}")
    if code in (1200, 1201, 1202, 1203):
        return BadRequest(f"Kling refused the request: {detail}")
    if code in (5000, 5001, 5002):
        return TransientProviderError(f"Kling had a temporary problem: {detail}")
    if http_status >= 400:
        return error_for_status(http_status, detail, headers)
    return ProviderError(f"Kling refused the request: {detail}")


def _refusal(response: httpx.Response) -> tuple[int | None, str]:
    """Kling's error `code` and `message`; (None, "") when the body is not Kling's JSON."""
    try:
        answer = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None, ""
    if not isinstance(answer, dict):
        return None, ""
    return answer.get("code"), str(answer.get("message") or "")


def _is_duplicate(response: httpx.Response) -> bool:
    code, message = _refusal(response)
    return response.status_code == 400 and code == 1201 and "external_task_id" in message


def _is_missing(response: httpx.Response) -> bool:
    """A task asked for at the wrong endpoint (the exact refusal is UNCONFIRMED)."""
    code, _ = _refusal(response)
    return response.status_code in (400, 404) and code in (1201, 1202, 1203)


def task_status(task: dict) -> JobStatus:
    """Map a Kling task object onto JobStatus."""
    task_id, raw = task.get("task_id"), task.get("task_status")
    if not isinstance(task_id, (str, int)) or not str(task_id):
        raise TransientProviderError("Kling sent a task without a task_id.")
    job_id, state = str(task_id), STATES.get(raw)
    if state is None:
        raise TransientProviderError(f"Kling sent an unrecognised task status {raw!r}.")
    if state == JobState.SUCCEEDED:
        return JobStatus(job_id, state, raw, progress=100, output_url=_video_url(task))
    if state == JobState.FAILED:
        return JobStatus(job_id, state, raw, error=failure_error(str(task.get("task_status_msg") or "")))
    return JobStatus(job_id, state, raw)


def _video_url(task: dict) -> str | None:
    result = task.get("task_result")
    videos = result.get("videos") if isinstance(result, dict) else None
    if not isinstance(videos, list) or not videos or not isinstance(videos[0], dict):
        return None  # fetch_output polls again
    return videos[0].get("url") or None


def failure_error(message: str) -> ProviderError:
    if any(word in message.lower() for word in POLICY_WORDS):
        return ContentPolicyRejected(f"Kling's content moderation rejected this take: {message}")
    return ProviderError(f"Kling could not make this take: {message or 'no reason given'}")


def _webhook_task(body: bytes) -> dict:
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise WebhookRejected("Kling callback body is not JSON.") from None
    if not isinstance(payload, dict):
        raise WebhookRejected("Kling callback body is not a JSON object.")
    task = payload["data"] if isinstance(payload.get("data"), dict) else payload
    if "task_id" not in task or "task_status" not in task:
        raise WebhookRejected("Kling callback carries no task.")
    return task
