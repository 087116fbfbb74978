"""MiniMax Hailuo video API (api.minimax.io) over httpx.

Submit with POST /v1/video_generation, poll GET /v1/query/video_generation?task_id=, and turn
the finished task's `file_id` into a download URL with GET /v1/files/retrieve?file_id=.
MiniMax answers errors as HTTP 200 with a non-zero `base_resp.status_code`. There is no cancel
and no idempotency key, so a retried submit can start a second task. Callbacks are unsigned
(our per-take URL token is checked by the caller): MiniMax first POSTs `{"challenge": …}`,
which must be echoed back within 3 s, then pushes status changes.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import httpx

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

DEFAULT_BASE_URL = "https://api.minimax.io"  # mainland China: https://api.minimaxi.com
# No hint in the API; ~10 s is the interval integrators recommend (3P, provider_contracts.md §6).
POLL_AFTER_SECONDS = 10.0

# Task statuses, compared lower-cased: polls say "Success"/"Fail", callbacks "success"/"failed".
STATES = {
    "preparing": JobState.QUEUED,
    "queueing": JobState.QUEUED,
    "processing": JobState.RUNNING,
    "success": JobState.SUCCEEDED,
    "fail": JobState.FAILED,
    "failed": JobState.FAILED,
}
CONTENT_POLICY_CODES = (1026, 1027)  # input content sensitive, generated video sensitive


@dataclass(frozen=True)
class HailuoModel:
    """What one Hailuo model accepts (provider_contracts.md §6)."""

    model_id: str
    text_to_video: bool  # False: needs a first frame (image-to-video only)
    durations: tuple[int, ...] = (6, 10)
    resolutions: tuple[str, ...] = ("768P", "1080P")  # 1080P for 6 s only


MODELS = {
    spec.model_id: spec
    for spec in (
        HailuoModel("MiniMax-Hailuo-2.3", text_to_video=True),
        HailuoModel("MiniMax-Hailuo-2.3-Fast", text_to_video=False),
        HailuoModel("MiniMax-Hailuo-02", text_to_video=True),
    )
}
FULL_HD_DURATIONS = (6,)


class MiniMaxAdapter(VideoAdapter):
    family = "minimax"
    supports_cancel = False
    supports_callbacks = True

    def __init__(self, *, api_key: str, base_url: str, timeout: float = 30.0,
                 prompt_optimizer: bool = False):
        # prompt_optimizer off by default: our compiler already wrote the prompt in Hailuo's terms
        # (camera commands included) and MiniMax's rewriter would paraphrase it.
        self._prompt_optimizer = prompt_optimizer
        self._client = httpx.Client(
            base_url=base_url, timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            headers={"Authorization": f"Bearer {api_key}"},
        )

    def submit(self, request: GenerationRequest) -> JobStatus:
        body = create_body(request, prompt_optimizer=self._prompt_optimizer)
        answer = self._call("POST", "/v1/video_generation", json=body)
        task_id = answer.get("task_id")
        if not task_id:
            raise TransientProviderError("MiniMax accepted the job but sent no task id.")
        return JobStatus(job_id=str(task_id), state=JobState.QUEUED, raw_status="Preparing",
                         poll_after_seconds=POLL_AFTER_SECONDS)

    def status(self, job_id: str) -> JobStatus:
        answer = self._call("GET", "/v1/query/video_generation", params={"task_id": job_id}, failed_task_ok=True)
        status = task_status(job_id, answer)
        if status.state == JobState.SUCCEEDED:
            return JobStatus(job_id, status.state, status.raw_status, progress=100,
                             output_url=self._download_url(answer.get("file_id")))
        return status

    def parse_webhook(self, *, headers: dict[str, str], body: bytes) -> WebhookEvent:
        """The URL challenge (answered by `reply`) or a status push; MiniMax signs neither."""
        payload = _webhook_payload(body)
        challenge = payload.get("challenge")
        if challenge is not None:
            if not isinstance(challenge, str) or not challenge:
                raise WebhookRejected("MiniMax callback challenge is not a string.")
            return WebhookEvent(event_id=f"challenge:{challenge}", reply={"challenge": challenge})
        task_id = payload.get("task_id")
        if not isinstance(task_id, (str, int)) or not str(task_id):
            raise WebhookRejected("MiniMax callback has no task_id.")
        if str(payload.get("status", "")).lower() not in STATES:
            raise WebhookRejected(f"MiniMax callback has an unknown status {payload.get('status')!r}.")
        status = task_status(str(task_id), payload)  # no download URL yet: fetch_output resolves file_id
        return WebhookEvent(event_id=f"{task_id}:{status.raw_status.lower()}", job_id=str(task_id), status=status)

    def fetch_output(self, status: JobStatus, destination: Path, *, max_bytes: int) -> Path:
        # Download URLs last ~9 hours (3P); a status from a callback carries none: poll for one.
        url = status.output_url or self.status(status.job_id).output_url
        if not url:
            raise BadRequest(f"MiniMax task {status.job_id} has no output to download.")
        return download_to(url, destination, max_bytes=max_bytes)

    # -- HTTP -----------------------------------------------------------------------------
    def _download_url(self, file_id) -> str:
        if not file_id:
            raise TransientProviderError("MiniMax reported success but sent no file_id.")
        answer = self._call("GET", "/v1/files/retrieve", params={"file_id": file_id})
        file = answer.get("file")
        url = file.get("download_url") if isinstance(file, dict) else None
        if not url:
            raise TransientProviderError(f"MiniMax sent no download URL for file {file_id}.")
        return url

    def _call(self, method: str, path: str, *, failed_task_ok: bool = False, **kwargs) -> dict:
        """One request; a non-zero base_resp raises its classified error, except on a poll
        answer for a failed task (`failed_task_ok`), where it is the task's failure reason."""
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise transport_error(error) from None
        if response.status_code != 200:
            raise error_for_status(response.status_code, response.text[:200], response.headers)
        answer = json_body(response)
        if not isinstance(answer, dict) or not isinstance(answer.get("base_resp"), dict):
            raise TransientProviderError("MiniMax sent a malformed answer (no base_resp).")
        code, message = base_resp(answer)
        failed_task = failed_task_ok and STATES.get(str(answer.get("status", "")).lower()) == JobState.FAILED
        if code != 0 and not failed_task:
            raise code_error(code, message, response.headers)
        return answer


# -- the create request ---------------------------------------------------------------------


def create_body(request: GenerationRequest, *, prompt_optimizer: bool = False) -> dict:
    """The JSON body of POST /v1/video_generation for one request."""
    spec = _model(request.model_id)
    _refuse_unsupported(spec, request)
    body = {
        "model": spec.model_id,
        "prompt": request.prompt,
        "duration": _duration(spec, request),
        "prompt_optimizer": prompt_optimizer,
    }
    resolution = _resolution(spec, request)
    if resolution:
        body["resolution"] = resolution
    if request.image_url:
        body["first_frame_image"] = request.image_url  # an https URL or a data: URL, both accepted
    if request.callback_url:
        body["callback_url"] = request.callback_url
    # No aspect ratio field: text-to-video output is the model's own framing; image-to-video
    # follows the first frame. No seed field either: a seed is ignored.
    return body


def _model(model_id: str) -> HailuoModel:
    try:
        return MODELS[model_id]
    except KeyError:
        raise BadRequest(f"MiniMax model {model_id!r} is not supported by this adapter.") from None


def _refuse_unsupported(spec: HailuoModel, request: GenerationRequest) -> None:
    refusals = {
        "needs a first frame (image-to-video only)": not request.image_url and not spec.text_to_video,
        "needs a prompt": not request.prompt and not request.image_url,
        "cannot take a negative prompt": bool(request.negative_prompt),
        "cannot generate audio": request.with_audio,
        # `last_frame_image` is an UNCONFIRMED field name: refuse rather than send a field the
        # vendor may silently ignore (and still bill for).
        "cannot take an end frame": bool(request.end_image_url),
        "cannot take reference images": bool(request.reference_image_urls),  # subject_reference is S2V-01 only
        "cannot render multi-shot prompts": bool(request.multi_shot),
    }
    for refusal, applies in refusals.items():
        if applies:
            raise BadRequest(f"MiniMax {spec.model_id} {refusal}.")


def _duration(spec: HailuoModel, request: GenerationRequest) -> int:
    if request.duration_seconds not in spec.durations:
        allowed = " or ".join(str(seconds) for seconds in spec.durations)
        raise BadRequest(f"MiniMax {spec.model_id} renders {allowed} seconds, not {request.duration_seconds}.")
    return request.duration_seconds


def _resolution(spec: HailuoModel, request: GenerationRequest) -> str | None:
    """Our "768p"/"1080p" as MiniMax's "768P"/"1080P"; empty: the vendor default (768P)."""
    if not request.resolution:
        return None
    resolution = request.resolution.upper()
    if resolution not in spec.resolutions:
        raise BadRequest(f"MiniMax {spec.model_id} cannot render at {request.resolution}.")
    if resolution == "1080P" and request.duration_seconds not in FULL_HD_DURATIONS:
        raise BadRequest(f"MiniMax {spec.model_id} renders 1080P at 6 seconds only.")
    return resolution


# -- the task -------------------------------------------------------------------------------


def task_status(job_id: str, answer: dict) -> JobStatus:
    """Map a poll answer or a callback push onto JobStatus (without the download URL)."""
    raw = str(answer.get("status", ""))
    state = STATES.get(raw.lower())
    if state is None:
        raise TransientProviderError(f"MiniMax sent an unrecognised task status {raw!r}.")
    if state == JobState.FAILED:
        return JobStatus(job_id, state, raw, error=failure_error(*base_resp(answer)))
    if state == JobState.SUCCEEDED:
        return JobStatus(job_id, state, raw, progress=100)
    return JobStatus(job_id, state, raw, poll_after_seconds=POLL_AFTER_SECONDS)


def base_resp(answer: dict) -> tuple[int, str]:
    resp = answer.get("base_resp") if isinstance(answer.get("base_resp"), dict) else {}
    try:
        code = int(resp.get("status_code", 0))
    except (TypeError, ValueError):
        code = 1000
    return code, str(resp.get("status_msg") or "")


def failure_error(code: int, message: str) -> ProviderError:
    """Why a task failed. Where MiniMax puts the reason is UNCONFIRMED: we read the answer's
    base_resp (1026/1027 → moderation); a Fail with code 0 is a generic failure."""
    if code != 0:
        return code_error(code, message)
    return ProviderError(f"MiniMax could not make this take: {message or 'no reason given'}")


def code_error(code: int, message: str, headers=None) -> ProviderError:
    """Classify a non-zero base_resp.status_code (platform.minimax.io error code table)."""
    detail = f"{message or 'no message'} (code {code})"
    if code == 1002:
        return RateLimited(f"MiniMax rate limit: {detail}", retry_after_seconds=retry_after_seconds(headers))
    if code in (1004, 2038):  # 2038: the account still needs real-name verification
        return AuthenticationFailed(f"MiniMax refused our credentials: {detail}")
    if code == 1008:
        return InsufficientVendorCredit(f"Our MiniMax account balance is insufficient: {detail}")
    if code in CONTENT_POLICY_CODES:
        return ContentPolicyRejected(f"MiniMax's content moderation rejected this take: {detail}")
    if code == 2013:
        return BadRequest(f"MiniMax refused the request parameters: {detail}")
    if code == 1000:
        return TransientProviderError(f"MiniMax had an internal error: {detail}")
    return ProviderError(f"MiniMax refused the request: {detail}")


def _webhook_payload(body: bytes) -> dict:
    try:
        payload = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise WebhookRejected("MiniMax callback body is not JSON.") from None
    if not isinstance(payload, dict):
        raise WebhookRejected("MiniMax callback body is not a JSON object.")
    return payload
