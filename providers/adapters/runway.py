"""Runway API (api.dev.runwayml.com) through the official `runwayml` SDK.

Submit with POST /v1/text_to_video or /v1/image_to_video (chosen by whether the request has a
start frame), or POST /v1/video_upscale for an upscaler (the video in `videoUri`), poll GET /v1/tasks/{id}, cancel with DELETE /v1/tasks/{id}. Runway has no
webhooks and no idempotency key, so `parse_webhook` keeps the base refusal and retried submits
can create a second task. The SDK's own retries are off: our pipeline owns retries.
"""

import json
from dataclasses import dataclass
from pathlib import Path

import runwayml

from providers.adapters.http import download_to, error_for_status
from providers.base import (
    AuthenticationFailed,
    BadRequest,
    ContentPolicyRejected,
    GenerationRequest,
    InsufficientVendorCredit,
    JobState,
    JobStatus,
    ProviderError,
    TransientProviderError,
    VideoAdapter,
)

RUNWAY_VERSION = "2024-11-06"
# "Consumers of this API should not expect updates more frequent than once every five seconds."
POLL_AFTER_SECONDS = 5.0

GEN4_RATIOS = {"16:9": "1280:720", "9:16": "720:1280", "1:1": "960:960", "4:3": "1104:832"}
WIDE_OR_TALL = {"16:9": "1280:720", "9:16": "720:1280"}
WIDE_OR_TALL_1080 = {"16:9": "1920:1080", "9:16": "1080:1920"}
# Models of POST /v1/video_upscale: they take a video and nothing else. upscale_v1 is the catalog's
# (third-party figures); the SDK 5.24.0 lists magnific_video_upscaler_creative and enhance_frame_rate.
UPSCALERS = frozenset({"upscale_v1", "magnific_video_upscaler_creative"})


@dataclass(frozen=True)
class RunwayModel:
    """What one Runway model accepts (provider_contracts.md §1)."""

    model_id: str
    durations: tuple[int, ...]
    image_ratios: dict[str, str]  # our aspect ratio → Runway's "W:H" ratio, image-to-video
    text_ratios: dict[str, str]  # the same for text-to-video; empty: image-to-video only
    ratios_1080p: dict[str, str] | None = None  # None: 720p only
    takes_seed: bool = False
    takes_negative_prompt: bool = False
    audio_switch: bool = False  # sends `audio`; veo3 has no switch (UNCONFIRMED: always with sound)
    end_frame: bool = False  # promptImage may be [{position: first}, {position: last}]


MODELS = {
    spec.model_id: spec
    for spec in (
        # Durations 2-10 per the SDK docstring since 2025-10-08 (earlier 5 or 10).
        RunwayModel("gen4_turbo", tuple(range(2, 11)), GEN4_RATIOS, {}, takes_seed=True),
        RunwayModel("gen4.5", tuple(range(2, 11)), GEN4_RATIOS, WIDE_OR_TALL, takes_seed=True),
        RunwayModel("veo3", (8,), WIDE_OR_TALL, WIDE_OR_TALL, WIDE_OR_TALL_1080, takes_negative_prompt=True),
        *(
            RunwayModel(model_id, (4, 6, 8), WIDE_OR_TALL, WIDE_OR_TALL, WIDE_OR_TALL_1080,
                        takes_negative_prompt=True, audio_switch=True, end_frame=True)
            for model_id in ("veo3.1", "veo3.1_fast")
        ),
    )
}


class RunwayAdapter(VideoAdapter):
    family = "runway"
    supports_cancel = True
    supports_callbacks = False

    def __init__(self, *, api_key: str, base_url: str, timeout: float = 30.0):
        self._client = runwayml.RunwayML(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=0, runway_version=RUNWAY_VERSION,
        )

    def submit(self, request: GenerationRequest) -> JobStatus:
        if request.model_id in UPSCALERS:
            endpoint, arguments = self._client.video_upscale, upscale_arguments(request)
        else:
            arguments = create_arguments(request)
            endpoint = self._client.image_to_video if "prompt_image" in arguments else self._client.text_to_video
        created = _call(endpoint.create, **arguments)
        task_id = getattr(created, "id", None)
        if not isinstance(task_id, str) or not task_id:
            raise TransientProviderError("Runway accepted the job but sent no task id.")
        return JobStatus(job_id=task_id, state=JobState.QUEUED, raw_status="PENDING",
                         poll_after_seconds=POLL_AFTER_SECONDS)

    def status(self, job_id: str) -> JobStatus:
        return task_status(job_id, _call(self._client.tasks.retrieve, job_id))

    def cancel(self, job_id: str) -> bool:
        """Cancel a queued or running task. Runway *deletes* a finished one (outputs included)."""
        _call(self._client.tasks.delete, job_id)
        return True

    def fetch_output(self, status: JobStatus, destination: Path, *, max_bytes: int) -> Path:
        url = status.output_url or self._output_url(status.job_id)
        try:
            return download_to(url, destination, max_bytes=max_bytes)
        except AuthenticationFailed:
            # Output URLs are signed and "expire within 24-48 hours; fetch the task again to get
            # fresh URLs". An expired link answers 401/403 (UNCONFIRMED which): refresh it once.
            return download_to(self._output_url(status.job_id), destination, max_bytes=max_bytes)

    def _output_url(self, job_id: str) -> str:
        url = self.status(job_id).output_url
        if not url:
            raise BadRequest(f"Runway task {job_id} has no output to download.")
        return url


# -- the create request ---------------------------------------------------------------------


def create_arguments(request: GenerationRequest) -> dict:
    """The SDK keyword arguments for one request (the SDK sends them camelCased)."""
    spec = _model(request.model_id)
    _refuse_unsupported(spec, request)
    arguments = {"model": spec.model_id, "ratio": _ratio(spec, request), "duration": _duration(spec, request)}
    if request.image_url:
        arguments["prompt_image"] = _prompt_image(request)
    if request.prompt:
        arguments["prompt_text"] = request.prompt
    if request.negative_prompt:
        arguments["negative_prompt"] = request.negative_prompt
    if spec.takes_seed and request.seed is not None:
        arguments["seed"] = request.seed
    if spec.audio_switch:
        arguments["audio"] = request.with_audio
    return arguments


def upscale_arguments(request: GenerationRequest) -> dict:
    """POST /v1/video_upscale: the model and the video (an HTTPS URL or a data URI up to 5 MB)."""
    if not request.video_url:
        raise BadRequest(f"Runway {request.model_id} needs the video to upscale.")
    return {"model": request.model_id, "video_uri": request.video_url}


def _model(model_id: str) -> RunwayModel:
    try:
        return MODELS[model_id]
    except KeyError:
        raise BadRequest(f"Runway model {model_id!r} is not supported by this adapter.") from None


def _refuse_unsupported(spec: RunwayModel, request: GenerationRequest) -> None:
    refusals = {
        "needs a start image (image-to-video only)": not request.image_url and not spec.text_ratios,
        "cannot take a negative prompt": bool(request.negative_prompt) and not spec.takes_negative_prompt,
        "cannot generate audio": request.with_audio and spec.model_id.startswith("gen4"),
        "cannot take an end frame": bool(request.end_image_url) and not spec.end_frame,
        "cannot take an end frame without a start frame": bool(request.end_image_url) and not request.image_url,
        "cannot take reference images": bool(request.reference_image_urls),
        "cannot render multi-shot prompts": bool(request.multi_shot),
    }
    for refusal, applies in refusals.items():
        if applies:
            raise BadRequest(f"Runway {spec.model_id} {refusal}.")


def _ratio(spec: RunwayModel, request: GenerationRequest) -> str:
    if request.resolution in ("", "720p"):
        ratios = spec.image_ratios if request.image_url else spec.text_ratios
    elif request.resolution == "1080p" and spec.ratios_1080p:
        ratios = spec.ratios_1080p
    else:
        raise BadRequest(f"Runway {spec.model_id} cannot render at {request.resolution}.")
    if request.aspect_ratio not in ratios:
        raise BadRequest(f"Runway {spec.model_id} cannot render {request.aspect_ratio} at this size.")
    return ratios[request.aspect_ratio]


def _duration(spec: RunwayModel, request: GenerationRequest) -> int:
    if request.duration_seconds not in spec.durations:
        allowed = ", ".join(str(seconds) for seconds in spec.durations)
        raise BadRequest(f"Runway {spec.model_id} renders {allowed} seconds, not {request.duration_seconds}.")
    return request.duration_seconds


def _prompt_image(request: GenerationRequest) -> str | list[dict]:
    if not request.end_image_url:
        return request.image_url
    return [{"uri": request.image_url, "position": "first"}, {"uri": request.end_image_url, "position": "last"}]


# -- the task -------------------------------------------------------------------------------


def task_status(job_id: str, task) -> JobStatus:
    """Map a GET /v1/tasks/{id} answer onto JobStatus."""
    raw = getattr(task, "status", None)
    if raw in ("PENDING", "THROTTLED"):
        # THROTTLED: stored but waiting for our org's concurrency slot; kept as raw_status so the
        # studio can say "throttled by Runway" rather than "queued".
        return JobStatus(job_id, JobState.QUEUED, raw, poll_after_seconds=POLL_AFTER_SECONDS)
    if raw == "RUNNING":
        return JobStatus(job_id, JobState.RUNNING, raw, progress=progress_percent(getattr(task, "progress", None)),
                         poll_after_seconds=POLL_AFTER_SECONDS)
    if raw == "SUCCEEDED":
        return JobStatus(job_id, JobState.SUCCEEDED, raw, progress=100, output_url=_first_output(task))
    if raw == "FAILED":
        error = failure_error(getattr(task, "failure_code", None) or "", getattr(task, "failure", None) or "")
        return JobStatus(job_id, JobState.FAILED, raw, error=error)
    if raw == "CANCELLED":
        return JobStatus(job_id, JobState.CANCELLED, raw)
    raise TransientProviderError(f"Runway sent an unrecognised task status {raw!r}.")


def progress_percent(progress) -> int | None:
    """Runway's progress float as 0-100. Range UNCONFIRMED: 0..1 assumed; values above 1 read as percent."""
    if not isinstance(progress, (int, float)):
        return None
    percent = progress if progress > 1 else progress * 100
    return max(0, min(100, int(percent)))


def _first_output(task) -> str:
    output = getattr(task, "output", None)
    if not output or not isinstance(output[0], str):
        raise TransientProviderError("Runway reported success but sent no output URL.")
    return output[0]


def failure_error(code: str, failure: str) -> ProviderError:
    """Classify a FAILED task by its failureCode (docs.dev.runwayml.com/api-details/task-failures)."""
    detail = f"{failure or 'no reason given'} ({code or 'no failure code'})"
    if code.startswith(("SAFETY.", "INPUT_PREPROCESSING.SAFETY.")):
        return ContentPolicyRejected(f"Runway's content moderation rejected this take: {detail}")
    if code.startswith("INTERNAL.BAD_OUTPUT."):
        return TransientProviderError(f"Runway rejected its own output for quality: {detail}")
    if code == "INPUT_PREPROCESSING.INTERNAL":  # documented as a failure *to run* moderation
        return TransientProviderError(f"Runway could not check the inputs: {detail}")
    if code.startswith("ASSET.INVALID"):
        return BadRequest(f"Runway could not use an input image: {detail}")
    return ProviderError(f"Runway could not make this take: {detail}")


# -- SDK errors -----------------------------------------------------------------------------


def _call(method, *args, **kwargs):
    """Run one SDK call, turning its exceptions into our ProviderError hierarchy."""
    try:
        result = method(*args, **kwargs)
    except runwayml.APIError as error:
        raise sdk_error(error) from None
    except (json.JSONDecodeError, UnicodeDecodeError):  # the SDK lets a garbled 2xx body through
        raise TransientProviderError("Runway sent a malformed answer.") from None
    if isinstance(result, str):  # a 2xx answer that was not JSON at all
        raise TransientProviderError("Runway sent a malformed answer.")
    return result


def sdk_error(error: runwayml.APIError) -> ProviderError:
    if isinstance(error, runwayml.APITimeoutError):
        return TransientProviderError("Runway did not answer in time.")
    if isinstance(error, runwayml.APIConnectionError):
        return TransientProviderError("Could not reach Runway.")
    if not isinstance(error, runwayml.APIStatusError):
        return TransientProviderError(f"Runway sent an unexpected answer: {error.message}")
    message = _error_message(error)
    if error.status_code == 400:
        refined = _refined_400(message)
        if refined:
            return refined
    return error_for_status(error.status_code, message, error.response.headers)


def _error_message(error: runwayml.APIStatusError) -> str:
    """Runway's 4xx bodies carry `{"error": "<human-readable explanation>"}`."""
    body = error.body
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"]
    return error.message


def _refined_400(message: str) -> ProviderError | None:
    """Runway answers some 400s that are not the request's fault.

    UNCONFIRMED body shapes: out-of-credit is a 400 "You do not have enough credits to run this
    task." (runwayml/sdk-node#28); a synchronous moderation refusal is assumed to name moderation.
    """
    lowered = message.lower()
    if "enough credits" in lowered or "insufficient credit" in lowered:
        return InsufficientVendorCredit(f"Our Runway account is out of credits: {message}")
    if "content moderation" in lowered or "safety." in lowered:
        return ContentPolicyRejected(f"Runway's content moderation rejected this take: {message}")
    return None
