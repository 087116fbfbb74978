"""Runway API emulator: POST /v1/text_to_video, /v1/image_to_video and /v1/video_upscale, GET and DELETE /v1/tasks/{id}.

Validates requests the way provider_contracts.md §1 describes (bearer key, X-Runway-Version,
camelCase fields per model, "W:H" ratios, integer durations) and answers 4xx with Runway's
documented `{"error": "<explanation>"}` body. Tasks go PENDING → RUNNING (progress 0..1) →
SUCCEEDED / FAILED; DELETE turns any task CANCELLED ("a cancelled or deleted task").

Sandbox extras beyond the shared faults and markers:
* "[sandbox:failure=<CODE>]" in promptText fails the task with that failureCode
  (e.g. INTERNAL.BAD_OUTPUT.CODE01, ASSET.INVALID);
* `max_concurrency=N` stores tasks past N running ones as THROTTLED and enqueues them in order
  as slots free up, like Runway's per-organisation concurrency limit.
"""

import math
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone

from providers.emulators.server import EmulatedJob, Emulator, Request, Response, route
from providers.emulators.upscale import UnreadableVideo, source_video_read

RUNWAY_VERSION = "2024-11-06"
FAILURE_MARKER = re.compile(r"\[sandbox:failure=([A-Z0-9_.]+)\]")
MAX_PROMPT_UTF16_UNITS = 1000
MAX_SEED = 4294967295

GEN4_IMAGE_RATIOS = frozenset({"1280:720", "720:1280", "1104:832", "832:1104", "960:960", "1584:672"})
GEN45_TEXT_RATIOS = frozenset({"1280:720", "720:1280"})
VEO_RATIOS = frozenset({"1280:720", "720:1280", "1080:1920", "1920:1080"})
TASK_STATUSES = {
    "throttled": "THROTTLED", "queued": "PENDING", "running": "RUNNING",
    "succeeded": "SUCCEEDED", "failed": "FAILED", "cancelled": "CANCELLED",
}
# /v1/video_upscale (SDK: model + videoUri, an HTTPS URL, runway:// URI or data URI up to 5 MB).
# upscale_v1: "4x, up to a maximum of 4k" and 2 credits/s are third-party figures (UNCONFIRMED).
UPSCALERS = {"upscale_v1": {"scale": 4, "max_long_side": 4096, "credits_per_second": 2}}
VIDEO_URI_MAX_CHARS = 5 * 1024 * 1024 * 4 // 3 + 64
ANIMATIC_ASPECTS = {"16:9": 16 / 9, "9:16": 9 / 16, "1:1": 1.0, "4:3": 4 / 3}

FAILURES = {
    "SAFETY.INPUT.TEXT": "The prompt text did not pass content moderation.",
    "INTERNAL.BAD_OUTPUT.CODE01": "The output did not pass our quality checks.",
    "ASSET.INVALID": "An input asset could not be used.",
    "INTERNAL": "An unexpected error occurred.",
}
ERRORS = {
    "429": (429, "You have exceeded the daily generation limit for this model."),
    "500": (500, "An unexpected error occurred."),
    "503": (503, "Runway is shedding load. Retry with exponential backoff."),
    "policy": (400, "The prompt text did not pass content moderation."),
    "credit": (400, "You do not have enough credits to run this task."),
    "bad_request": (400, "promptImage: Only HTTPS URLs are allowed."),
    "auth": (401, "The provided API key is not valid."),
}


@dataclass(frozen=True)
class VendorModel:
    """One model as the API validates it; `required` and `ratios` are keyed by endpoint."""

    required: dict[str, frozenset[str]]
    optional: frozenset[str]
    ratios: dict[str, frozenset[str]]
    durations: frozenset[int]
    positions: frozenset[str]  # allowed promptImage array positions
    credits_per_second: tuple[int, int]  # (silent, with audio); 1 credit = $0.01


def _veo31(credits: tuple[int, int]) -> VendorModel:
    # Which end of the 20-40 / 10-15 credit ranges is audio: UNCONFIRMED (audio costs more, assumed).
    return VendorModel(
        required={"image_to_video": frozenset({"model", "ratio", "promptImage"}),
                  "text_to_video": frozenset({"model", "ratio", "promptText"})},
        optional=frozenset({"audio", "duration", "negativePrompt", "promptText"}),
        ratios={"image_to_video": VEO_RATIOS, "text_to_video": VEO_RATIOS},
        durations=frozenset({4, 6, 8}), positions=frozenset({"first", "last"}), credits_per_second=credits,
    )


VENDOR_MODELS = {
    "gen4_turbo": VendorModel(
        required={"image_to_video": frozenset({"model", "promptImage", "ratio"})},
        optional=frozenset({"duration", "promptText", "seed", "contentModeration"}),
        ratios={"image_to_video": GEN4_IMAGE_RATIOS},
        durations=frozenset(range(2, 11)), positions=frozenset({"first"}), credits_per_second=(5, 5),
    ),
    "gen4.5": VendorModel(
        required={"image_to_video": frozenset({"model", "duration", "promptText", "ratio", "promptImage"}),
                  "text_to_video": frozenset({"model", "duration", "promptText", "ratio"})},
        optional=frozenset({"seed", "contentModeration"}),
        ratios={"image_to_video": GEN4_IMAGE_RATIOS, "text_to_video": GEN45_TEXT_RATIOS},
        durations=frozenset(range(2, 11)), positions=frozenset({"first"}), credits_per_second=(12, 12),
    ),
    "veo3": VendorModel(
        required={"image_to_video": frozenset({"model", "duration", "ratio", "promptImage"}),
                  "text_to_video": frozenset({"model", "duration", "ratio"})},
        optional=frozenset({"promptText", "negativePrompt"}),
        ratios={"image_to_video": VEO_RATIOS, "text_to_video": VEO_RATIOS},
        durations=frozenset({8}), positions=frozenset({"first"}), credits_per_second=(40, 40),
    ),
    "veo3.1": _veo31((20, 40)),
    "veo3.1_fast": _veo31((10, 15)),
}


class RunwayEmulator(Emulator):
    family = "runway"
    routes = (
        route("POST", r"/v1/image_to_video", "submit", "image_to_video_create"),
        route("POST", r"/v1/text_to_video", "submit", "text_to_video_create"),
        route("POST", r"/v1/video_upscale", "submit", "video_upscale_create"),
        route("GET", r"/v1/tasks/(?P<task_id>[\w-]+)", "status", "task_retrieve"),
        route("DELETE", r"/v1/tasks/(?P<task_id>[\w-]+)", "cancel", "task_delete"),
    )

    def __init__(self, *, max_concurrency: int | None = None, **options):
        super().__init__(**options)
        self.max_concurrency = max_concurrency
        self._admission = threading.Lock()

    def error_response(self, fault: str) -> Response:
        status, message = ERRORS[fault]
        # Whether Runway sends Retry-After on its 429 is UNCONFIRMED; the emulator does.
        headers = {"Retry-After": "1"} if fault == "429" else {}
        return Response(status, {"error": message}, headers)

    # -- routes ---------------------------------------------------------------------------
    def image_to_video_create(self, request: Request) -> Response:
        return self._task_create(request, "image_to_video")

    def text_to_video_create(self, request: Request) -> Response:
        return self._task_create(request, "text_to_video")

    def video_upscale_create(self, request: Request) -> Response:
        refusal = header_refusal(request)
        if refusal:
            return refusal
        try:
            body = request.json()
        except ValueError:
            return Response(400, {"error": "The request body is not valid JSON."})
        problem = upscale_problem(body)
        if problem:
            return Response(400, {"error": problem})
        try:
            source = source_video_read(body["videoUri"])
        except UnreadableVideo as error:
            return Response(400, {"error": f"videoUri: {error}."})
        upscaler = UPSCALERS[body["model"]]
        with self._admission:
            job = self.job_create(
                prompt="", duration_seconds=source.duration_seconds, aspect_ratio=source.aspect_ratio, body=body,
                credits=upscaler["credits_per_second"] * source.duration_seconds, throttled=self._over_concurrency(),
                created_at_iso=datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                upscale={"source": source, "scale": upscaler["scale"], "max_long_side": upscaler["max_long_side"]},
            )
        return Response(200, {"id": job.id})

    def task_retrieve(self, request: Request, task_id: str) -> Response:
        refusal = header_refusal(request)
        job = self.jobs.get(task_id)
        if refusal or job is None:
            return refusal or Response(404, {"error": "Task not found."})
        return Response(200, self._task_body(job))

    def task_delete(self, request: Request, task_id: str) -> Response:
        refusal = header_refusal(request)
        job = self.jobs.get(task_id)
        if refusal or job is None:
            return refusal or Response(404, {"error": "Task not found."})
        if job.cancelled_at is None:
            job.cancelled_at = time.monotonic()  # running/pending/throttled: cancel; finished: delete
        return Response(204)

    # -- tasks ----------------------------------------------------------------------------
    def _task_create(self, request: Request, endpoint: str) -> Response:
        refusal = header_refusal(request)
        if refusal:
            return refusal
        try:
            body = request.json()
        except ValueError:
            return Response(400, {"error": "The request body is not valid JSON."})
        problem = validation_problem(endpoint, body)
        if problem:
            return Response(400, {"error": problem})
        return Response(200, {"id": self._job_from(body).id})

    def _job_from(self, body: dict) -> EmulatedJob:
        model = VENDOR_MODELS[body["model"]]
        duration = body.get("duration", max(model.durations))  # default duration: UNCONFIRMED
        credits = model.credits_per_second[bool(body.get("audio"))] * duration
        with self._admission:
            throttled = self._over_concurrency()
            job = self.job_create(
                prompt=body.get("promptText", ""), duration_seconds=duration, model_id=body["model"],
                seed_asked=body.get("seed"), aspect_ratio=animatic_aspect(body["ratio"]), body=body, credits=credits,
                throttled=throttled,
                created_at_iso=datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            )
        failure = FAILURE_MARKER.search(job.prompt)
        if failure:
            job.outcome, job.meta["failure_code"] = "fail", failure.group(1)
        return job

    def _over_concurrency(self) -> bool:
        if self.max_concurrency is None:
            return False
        return bool(self._waiting()) or self._active_count() >= self.max_concurrency

    def _waiting(self) -> list[EmulatedJob]:
        return [job for job in self.jobs.values() if job.meta.get("throttled") and job.cancelled_at is None]

    def _active_count(self) -> int:
        return sum(1 for job in self.jobs.values()
                   if not job.meta.get("throttled") and self.job_phase(job)[0] in ("queued", "running"))

    def _phase(self, job: EmulatedJob) -> tuple[str, int]:
        """job_phase, plus "throttled" until the job gets a concurrency slot (then its clock starts)."""
        if job.cancelled_at is None and job.meta.get("throttled"):
            with self._admission:
                waiting = self._waiting()
                if waiting[0] is not job or self._active_count() >= self.max_concurrency:
                    return "throttled", 0
                job.meta["throttled"], job.created_at = False, time.monotonic()
        return self.job_phase(job)

    def _task_body(self, job: EmulatedJob) -> dict:
        phase, percent = self._phase(job)
        task = {"id": job.id, "createdAt": job.meta["created_at_iso"], "status": TASK_STATUSES[phase]}
        if phase in ("throttled", "queued", "running"):
            task["estimatedCost"] = {"credits": job.meta["credits"]}
        if phase == "running":
            task["progress"] = round(percent / 100, 2)
        if phase == "succeeded":
            task.update(output=[self.file_url(job)], cost={"credits": job.meta["credits"]})
        if phase == "failed":
            task.update(self._failure(job), cost={"credits": 0})
        if phase == "cancelled":
            task["cost"] = {"credits": 0}
        return task

    def _failure(self, job: EmulatedJob) -> dict:
        code = job.meta.get("failure_code") or ("SAFETY.INPUT.TEXT" if job.outcome == "policy" else "INTERNAL")
        return {"failure": FAILURES.get(code, f"The task failed ({code})."), "failureCode": code}


# -- request validation ---------------------------------------------------------------------


def header_refusal(request: Request) -> Response | None:
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme != "Bearer" or not key.strip():
        return Response(401, {"error": ERRORS["auth"][1]})
    if request.headers.get("x-runway-version") != RUNWAY_VERSION:
        return Response(400, {"error": f"X-Runway-Version must be set to {RUNWAY_VERSION}."})
    return None


def upscale_problem(body) -> str | None:
    """The first thing wrong with a /v1/video_upscale body, worded like Runway's `error` member."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    if body.get("model") not in UPSCALERS:
        return f"model: Invalid model {body.get('model')!r} for /v1/video_upscale."
    unknown = sorted(body.keys() - {"model", "videoUri"})
    if unknown:
        return f"{unknown[0]}: Unrecognized key."
    uri = body.get("videoUri")
    if not isinstance(uri, str) or not uri.startswith(("https://", "runway://", "data:video/")):
        return "videoUri: Only HTTPS URLs, Runway upload URIs and data:video/ URIs are allowed."
    if len(uri) > VIDEO_URI_MAX_CHARS:
        return "videoUri: Data URIs may be at most 5 MB."
    return None


def validation_problem(endpoint: str, body) -> str | None:
    """The first thing wrong with a create body, worded like Runway's `error` member."""
    if not isinstance(body, dict):
        return "The request body must be a JSON object."
    model = VENDOR_MODELS.get(body.get("model"))
    if model is None or endpoint not in model.required:
        return f"model: Invalid model {body.get('model')!r} for /v1/{endpoint}."
    missing = sorted(model.required[endpoint] - body.keys())
    unknown = sorted(body.keys() - model.required[endpoint] - model.optional)
    if missing or unknown:
        return f"{(missing or unknown)[0]}: {'Required' if missing else 'Unrecognized key'}."
    if body["ratio"] not in model.ratios[endpoint]:
        return f"ratio: Invalid enum value {body['ratio']!r}."
    return field_problem(model, body)


def field_problem(model: VendorModel, body: dict) -> str | None:
    checks = {
        "duration": lambda value: _is_int(value) and value in model.durations,
        "promptText": lambda value: isinstance(value, str) and 0 < utf16_units(value) <= MAX_PROMPT_UTF16_UNITS,
        "negativePrompt": lambda value: isinstance(value, str),
        "seed": lambda value: _is_int(value) and 0 <= value <= MAX_SEED,
        "audio": lambda value: isinstance(value, bool),
        "contentModeration": lambda value: isinstance(value, dict)
        and value.get("publicFigureThreshold", "auto") in ("auto", "low"),
        "promptImage": lambda value: prompt_image_valid(value, model.positions),
    }
    for name, valid in checks.items():
        if name in body and not valid(body[name]):
            return f"{name}: Invalid value {body[name]!r}."[:300]
    return None


def prompt_image_valid(value, positions: frozenset[str]) -> bool:
    if isinstance(value, str):
        return image_uri_valid(value)
    if not isinstance(value, list) or not value:
        return False
    named = [item.get("position") for item in value if isinstance(item, dict) and image_uri_valid(item.get("uri"))]
    # "This model does not support generating with only a last frame."
    return len(named) == len(value) == len(set(named)) and set(named) <= positions and "first" in named


def image_uri_valid(uri) -> bool:
    return isinstance(uri, str) and uri.startswith(("https://", "runway://", "data:image/"))


def utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def animatic_aspect(ratio: str) -> str:
    """The local renderer's nearest aspect ratio for a Runway "W:H" pixel ratio."""
    width, height = (int(side) for side in ratio.split(":"))
    return min(ANIMATIC_ASPECTS, key=lambda aspect: abs(math.log(width / height) - math.log(ANIMATIC_ASPECTS[aspect])))
