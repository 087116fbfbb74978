"""Kling official API emulator (provider_contracts.md §8).

POST /v1/videos/{text2video|image2video}, GET /v1/videos/{kind}/{task_id or external_task_id}.
Every request must carry `Authorization: Bearer <HS256 JWT>` (iss = access key) signed with the
secret key; a bad or expired token is a 401 with codes 1000-1004. Errors are an HTTP status plus
`{code, message, request_id}`.

A duplicate `external_task_id` ("must be unique per account") is refused with 400 / 1201 — our
reading of the docs; the vendor's exact answer is UNCONFIRMED. Callbacks POST the wrapped task
envelope `{code, message, request_id, data: task}` on each status change, unsigned.
"""

import base64
import io
import itertools
import random
import threading
import time
import uuid

import jwt
from PIL import Image

from providers.emulators.server import EmulatedJob, Emulator, Request, Response, route

MODELS = {"kling-v1", "kling-v1-5", "kling-v1-6", "kling-v2-master", "kling-v2-1", "kling-v2-1-master",
          "kling-v2-5-turbo", "kling-v2-6", "kling-v3"}
SOUND_MODELS = {"kling-v2-6", "kling-v3"}
MAX_PROMPT_CHARS = 2500
STATUSES = {"queued": "submitted", "running": "processing", "succeeded": "succeed", "failed": "failed"}
FAILURE_MESSAGES = {
    "policy": "Failure to pass the risk control system",  # as seen from Kling (UNCONFIRMED wording)
    "fail": "Video generation failed, internal error",
}

# Fault name → (HTTP status, code, message) from Kling's error table.
FAULT_ERRORS = {
    "429": (429, 1302, "The API request rate exceeds the limit"),
    "500": (500, 5000, "Server internal error"),
    "503": (503, 5001, "Server temporarily unavailable, usually due to maintenance"),
    "policy": (400, 1301, "Trigger the content security policy of the platform"),
    "credit": (429, 1102, "Resource pack exhausted or expired"),
    "bad_request": (400, 1201, "Invalid request parameters"),
    "auth": (401, 1002, "Authorization is invalid"),
}


def refusal(status: int, code: int, message: str, headers: dict | None = None) -> Response:
    return Response(status, {"code": code, "message": message, "request_id": str(uuid.uuid4())}, headers or {})


def envelope(task: dict) -> dict:
    return {"code": 0, "message": "SUCCEED", "request_id": str(uuid.uuid4()), "data": task}


class KlingEmulator(Emulator):
    family = "kling"
    routes = (
        route("POST", r"/v1/videos/(?P<kind>text2video|image2video)", "submit", "task_create"),
        route("GET", r"/v1/videos/(?P<kind>text2video|image2video)/(?P<ref>[^/]+)", "status", "task_query"),
    )

    def __init__(self, *, access_key: str = "sandbox-kling-access-key",
                 secret_key: str = "sandbox-kling-secret-key-000000000000", **kwargs):
        super().__init__(**kwargs)
        self.access_key = access_key
        self.secret_key = secret_key
        self._ids = itertools.count(random.randrange(8 * 10**17, 9 * 10**17))
        self._external_ids: dict[str, str] = {}  # external_task_id → task id
        self._create_lock = threading.Lock()

    # -- faults -----------------------------------------------------------------------------
    def error_response(self, fault: str) -> Response:
        status, code, message = FAULT_ERRORS[fault]
        # Retry-After is not in Kling's docs (UNCONFIRMED); sent so the adapter's use of it is exercised.
        return refusal(status, code, message, {"Retry-After": "1"} if fault == "429" else None)

    # -- endpoints --------------------------------------------------------------------------
    def task_create(self, request: Request, kind: str) -> Response:
        refused = self.token_refusal(request)
        if refused:
            return refused
        try:
            body = request.json()
        except ValueError:
            return refusal(400, 1200, "Invalid request parameters: body is not JSON")
        problem = validation_problem(kind, body) if isinstance(body, dict) else "body is not an object"
        if problem:
            return refusal(400, 1201, f"Invalid request parameters: {problem}")
        with self._create_lock:
            external = body.get("external_task_id") or None
            if external in self._external_ids:
                return refusal(400, 1201, f"external_task_id {external} already exists")
            job = self._job_for(kind, body)
            if external:
                self._external_ids[external] = job.id
        return Response(200, envelope(self.task(job)))

    def task_query(self, request: Request, kind: str, ref: str) -> Response:
        refused = self.token_refusal(request)
        if refused:
            return refused
        job = self.jobs.get(ref) or self.jobs.get(self._external_ids.get(ref, ""))
        if job is None or job.meta["kind"] != kind:
            return refusal(404, 1203, "Resource not found: task does not exist")
        return Response(200, envelope(self.task(job)))

    def _job_for(self, kind: str, body: dict) -> EmulatedJob:
        return self.job_create(
            prompt=body.get("prompt", ""), duration_seconds=int(body.get("duration", "5")),
            model_id=body.get("model_name", "kling-v1"),
            aspect_ratio=_framing(kind, body), callback_url=body.get("callback_url") or None,
            job_id=str(next(self._ids)), kind=kind, external_task_id=body.get("external_task_id") or "",
            created_ms=int(time.time() * 1000),
        )

    # -- the task ---------------------------------------------------------------------------
    def task(self, job: EmulatedJob, phase: str | None = None) -> dict:
        phase = phase or self.job_phase(job)[0]
        task = {
            "task_id": job.id, "task_status": STATUSES[phase], "task_status_msg": "",
            "task_info": {"external_task_id": job.meta["external_task_id"]},
            "created_at": job.meta["created_ms"], "updated_at": int(time.time() * 1000),
        }
        if phase == "succeeded":
            video = {"id": f"{job.id}-0", "url": self.file_url(job), "duration": str(job.duration_seconds)}
            task["task_result"] = {"videos": [video]}
        if phase == "failed":
            task["task_status_msg"] = FAILURE_MESSAGES[job.outcome]
        return task

    def token_refusal(self, request: Request) -> Response | None:
        """Check the bearer JWT the way Kling's 401 codes describe."""
        header = request.headers.get("authorization", "")
        if not header:
            return refusal(401, 1001, "Authorization is empty")
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or not token:
            return refusal(401, 1002, "Authorization is invalid")
        try:
            claims = jwt.decode(token, self.secret_key, algorithms=["HS256"],
                                options={"require": ["iss", "exp", "nbf"]})
        except jwt.ExpiredSignatureError:
            return refusal(401, 1004, "Authorization is expired")
        except jwt.ImmatureSignatureError:
            return refusal(401, 1003, "Authorization is not yet valid")
        except jwt.InvalidTokenError:
            return refusal(401, 1002, "Authorization is invalid")
        if claims["iss"] != self.access_key:
            return refusal(401, 1000, "Authentication failed")
        return None

    # -- callbacks --------------------------------------------------------------------------
    def callback_phases(self) -> tuple[str, ...]:
        return ("running", "succeeded", "failed")

    def callback_request(self, job: EmulatedJob, phase: str) -> tuple[bytes, dict[str, str]]:
        body = Response(body=envelope(self.task(job, phase))).encoded()
        return body, {"Content-Type": "application/json"}


def validation_problem(kind: str, body: dict) -> str | None:
    """What is wrong with a create body; None when it is valid."""
    model, prompt = body.get("model_name", "kling-v1"), body.get("prompt", "")
    image = body.get("image") or ""
    checks = {
        f"model_name {model!r} is not supported": model not in MODELS,
        "prompt is required": kind == "text2video" and not prompt,
        "prompt must be a string": not isinstance(prompt, str),
        f"prompt is longer than {MAX_PROMPT_CHARS} characters": len(str(prompt)) > MAX_PROMPT_CHARS,
        "negative_prompt is too long": len(str(body.get("negative_prompt", ""))) > MAX_PROMPT_CHARS,
        "mode must be std or pro": body.get("mode", "std") not in ("std", "pro"),
        "aspect_ratio must be 16:9, 9:16 or 1:1": body.get("aspect_ratio", "16:9") not in ("16:9", "9:16", "1:1"),
        'duration must be the string "5" or "10"': body.get("duration", "5") not in ("5", "10"),
        "sound must be on or off": body.get("sound", "off") not in ("on", "off"),
        "sound is supported by kling-v2-6 and later only": body.get("sound") == "on" and model not in SOUND_MODELS,
        "image is required": kind == "image2video" and not image and not body.get("image_tail"),
        "image must be a URL or raw base64 without the data: prefix": str(image).startswith("data:"),
        "image_tail requires image": bool(body.get("image_tail")) and not image,
    }
    return next((problem for problem, applies in checks.items() if applies), None)


def _framing(kind: str, body: dict) -> str:
    """text2video takes aspect_ratio; image2video has none: the start frame sets the framing, as
    Kling's documentation says, so the output takes the image's shape (the nearest it makes)."""
    if kind == "text2video" or not body.get("image"):
        return body.get("aspect_ratio", "16:9")
    image = body["image"]
    data = base64.b64decode(image) if not image.startswith("http") else None
    if data is None:
        return "16:9"
    with Image.open(io.BytesIO(data)) as picture:
        shape = picture.width / picture.height
    return min(("16:9", "9:16", "1:1"), key=lambda ratio: abs(shape - _ratio(ratio)))


def _ratio(aspect_ratio: str) -> float:
    width, height = (int(part) for part in aspect_ratio.split(":"))
    return width / height
