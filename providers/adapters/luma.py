"""Luma Dream Machine API (api.lumalabs.ai/dream-machine/v1) through the official `lumaai` SDK.

Submit POST /generations/video, poll GET /generations/{id}: queued → dreaming → completed
(`assets.video`) or failed (`failure_reason`). Luma reports no progress number and has no
cancel: DELETE /generations/{id} deletes a generation, so this adapter never calls it. No
idempotency key either (the SDK sets no idempotency header), so a retried submit can create
a second generation. Callbacks (`callback_url`) POST the Generation object unsigned on
dreaming, completed and failed; our per-take URL token is their only protection.
The SDK's own retries are off: our pipeline owns retries.
"""

import json
from pathlib import Path

import lumaai
import pydantic
from lumaai.types import Generation

from providers.adapters.http import download_to, error_for_status
from providers.base import (
    BadRequest,
    ContentPolicyRejected,
    GenerationRequest,
    InsufficientVendorCredit,
    JobState,
    JobStatus,
    ProviderError,
    TransientProviderError,
    VideoAdapter,
    WebhookEvent,
    WebhookRejected,
)

# provider_contracts.md §5 (SDK `generation_create_params.py`)
ASPECT_RATIOS = ("1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21")
DURATIONS = (5, 9)  # sent as the strings "5s" / "9s"
RESOLUTIONS = ("540p", "720p", "1080p", "4k")
STATES = {"queued": JobState.QUEUED, "dreaming": JobState.RUNNING, "completed": JobState.SUCCEEDED,
          "failed": JobState.FAILED}
# UNCONFIRMED wording: Luma's error bodies and failure reasons are undocumented. Reported in the
# wild: failure_reason "400: prompt not allowed because advanced moderation failed".
POLICY_WORDING = ("moderation", "content policy", "nsfw", "safety")
CREDIT_WORDING = ("insufficient credit", "not enough credit", "credit balance")


class LumaAdapter(VideoAdapter):
    family = "luma"
    supports_cancel = False
    supports_callbacks = True

    def __init__(self, *, api_key: str, base_url: str, timeout: float = 30.0):
        """`base_url`: https://api.lumalabs.ai/dream-machine/v1 in production (the path included)."""
        self._client = lumaai.LumaAI(auth_token=api_key, base_url=base_url, timeout=timeout, max_retries=0)

    def submit(self, request: GenerationRequest) -> JobStatus:
        return generation_status(_call(self._client.generations.create, **create_arguments(request)))

    def status(self, job_id: str) -> JobStatus:
        return generation_status(_call(self._client.generations.get, job_id))

    def parse_webhook(self, *, headers: dict[str, str], body: bytes) -> WebhookEvent:
        """Unsigned: parse only. Luma retries a non-200 answer 3 times, so the event id is id + state."""
        try:
            generation = Generation.model_validate(json.loads(body))
            status = generation_status(generation)
        except (ValueError, UnicodeDecodeError, pydantic.ValidationError, TransientProviderError):
            raise WebhookRejected("Luma callback is not a Generation object.") from None
        return WebhookEvent(event_id=f"{status.job_id}:{status.raw_status}", job_id=status.job_id, status=status)

    def fetch_output(self, status: JobStatus, destination: Path, *, max_bytes: int) -> Path:
        url = status.output_url or self.status(status.job_id).output_url
        if not url:
            raise BadRequest(f"Luma generation {status.job_id} has no video to download.")
        return download_to(url, destination, max_bytes=max_bytes)  # assets.video is a public CDN URL


# -- the create request ---------------------------------------------------------------------


def create_arguments(request: GenerationRequest) -> dict:
    """SDK keyword arguments for POST /generations/video (snake_case on the wire too)."""
    _refuse_unsupported(request)
    arguments = {"model": request.model_id, "prompt": request.prompt, "aspect_ratio": request.aspect_ratio,
                 "duration": f"{request.duration_seconds}s"}
    if request.resolution:
        arguments["resolution"] = request.resolution
    keyframes = {}
    if request.image_url:
        keyframes["frame0"] = {"type": "image", "url": request.image_url}
    if request.end_image_url:
        keyframes["frame1"] = {"type": "image", "url": request.end_image_url}
    if keyframes:
        arguments["keyframes"] = keyframes
    if request.callback_url:
        arguments["callback_url"] = request.callback_url
    return arguments


def _refuse_unsupported(request: GenerationRequest) -> None:
    """Model ids pass through (Luma validates them); what no Luma video model takes is refused here."""
    images = (request.image_url or "", request.end_image_url or "")
    refusals = {
        f"renders 5 or 9 seconds, not {request.duration_seconds}": request.duration_seconds not in DURATIONS,
        f"cannot render {request.aspect_ratio}": request.aspect_ratio not in ASPECT_RATIOS,
        f"cannot render at {request.resolution}": bool(request.resolution) and request.resolution not in RESOLUTIONS,
        "needs keyframe images as URLs, not data: URLs": any(image.startswith("data:") for image in images),
        "cannot take a negative prompt": bool(request.negative_prompt),
        "cannot generate audio with the video": request.with_audio,
        "cannot take reference images": bool(request.reference_image_urls),
        "cannot render multi-shot prompts": bool(request.multi_shot),
    }
    for refusal, applies in refusals.items():
        if applies:
            raise BadRequest(f"Luma {request.model_id} {refusal}.")


# -- the generation -------------------------------------------------------------------------


def generation_status(generation) -> JobStatus:
    """Map a Generation object onto JobStatus."""
    generation_id = getattr(generation, "id", None)
    raw = getattr(generation, "state", None)
    if not isinstance(generation_id, str) or not generation_id or raw not in STATES:
        raise TransientProviderError(f"Luma sent an unrecognised generation (state {raw!r}).")
    state = STATES[raw]
    if state == JobState.SUCCEEDED:
        video = getattr(generation.assets, "video", None) if generation.assets else None
        if not video:
            raise TransientProviderError("Luma reported completion but sent no video URL.")
        return JobStatus(generation_id, state, raw, progress=100, output_url=video)
    if state == JobState.FAILED:
        return JobStatus(generation_id, state, raw, error=failure_error(generation.failure_reason or ""))
    return JobStatus(generation_id, state, raw)


def failure_error(reason: str) -> ProviderError:
    lowered = reason.lower()
    if any(words in lowered for words in POLICY_WORDING):
        return ContentPolicyRejected(f"Luma's moderation rejected this take: {reason}")
    if any(words in lowered for words in CREDIT_WORDING):
        return InsufficientVendorCredit(f"Our Luma account is out of credits: {reason}")
    return ProviderError(f"Luma could not make this take: {reason or 'no reason given'}")


# -- SDK errors -----------------------------------------------------------------------------


def _call(method, *args, **kwargs):
    """Run one SDK call, turning its exceptions into our ProviderError hierarchy."""
    try:
        result = method(*args, **kwargs)
    except lumaai.APIError as error:
        raise sdk_error(error) from None
    except (json.JSONDecodeError, UnicodeDecodeError):  # the SDK lets a garbled 2xx body through
        raise TransientProviderError("Luma sent a malformed answer.") from None
    return result


def sdk_error(error: lumaai.APIError) -> ProviderError:
    if isinstance(error, lumaai.APITimeoutError):
        return TransientProviderError("Luma did not answer in time.")
    if isinstance(error, lumaai.APIConnectionError):
        return TransientProviderError("Could not reach Luma.")
    if not isinstance(error, lumaai.APIStatusError):
        return TransientProviderError(f"Luma sent an unexpected answer: {error.message}")
    message = error_detail(error.body) or error.message
    if 400 <= error.status_code < 500 and error.status_code != 429:
        lowered = message.lower()
        if any(words in lowered for words in CREDIT_WORDING):
            return InsufficientVendorCredit(f"Our Luma account is out of credits: {message}")
        if any(words in lowered for words in POLICY_WORDING):
            return ContentPolicyRejected(f"Luma's moderation refused this prompt: {message}")
    return error_for_status(error.status_code, message, error.response.headers)


def error_detail(body) -> str:
    """Luma errors look FastAPI-shaped (UNCONFIRMED): {"detail": "..."} or {"detail": [{"msg": ...}]}."""
    detail = body.get("detail") if isinstance(body, dict) else None
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        return "; ".join(_validation_problem(item) for item in detail)
    return ""


def _validation_problem(item) -> str:
    if not isinstance(item, dict):
        return str(item)
    location = item.get("loc") if isinstance(item.get("loc"), list) else []
    field = ".".join(str(part) for part in location if part != "body")
    return f"{field}: {item.get('msg', '')}" if field else str(item.get("msg", item))
