"""Luma's Dream Machine API as provider_contracts.md §5 documents it.

POST /dream-machine/v1/generations/video → a Generation {id, state: "queued", …};
GET /dream-machine/v1/generations/{id} → queued, dreaming, completed (assets.video) or failed
(failure_reason); DELETE /dream-machine/v1/generations/{id} deletes (there is no cancel).
The paths are also served without the /dream-machine/v1 prefix, so a base URL of either the
emulator's root or its /dream-machine/v1 works. Bearer auth. Callbacks POST the Generation
object, unsigned, on dreaming, completed and failed. Error bodies are FastAPI-shaped
`{"detail": …}` (UNCONFIRMED: Luma documents none).
"""

from datetime import datetime, timezone

from providers.emulators.server import EmulatedJob, Emulator, Request, Response, route

PREFIX = r"(?:/dream-machine/v1)?"
MODELS = ("ray-2", "ray-flash-2", "ray-1-6")
ENUMS = {
    "aspect_ratio": ("1:1", "16:9", "9:16", "4:3", "3:4", "21:9", "9:21"),
    "duration": ("5s", "9s"),
    "resolution": ("540p", "720p", "1080p", "4k"),
}
FIELDS = {"model", "prompt", "aspect_ratio", "duration", "resolution", "loop", "keyframes", "concepts",
          "generation_type", "callback_url"}
STATE_FOR_PHASE = {"queued": "queued", "running": "dreaming", "succeeded": "completed", "failed": "failed"}
MODERATION_FAILURE = "400: prompt not allowed because advanced moderation failed"
GENERIC_FAILURE = "Generation failed"


def detail_response(status: int, detail, headers=None) -> Response:
    return Response(status, {"detail": detail}, headers or {})


class LumaEmulator(Emulator):
    family = "luma"
    routes = (
        route("POST", rf"{PREFIX}/generations/video", "submit", "create"),
        route("GET", rf"{PREFIX}/generations/(?P<generation_id>[\w-]+)", "status", "generation"),
        route("DELETE", rf"{PREFIX}/generations/(?P<generation_id>[\w-]+)", "delete", "delete"),
    )

    # -- faults -------------------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        """A "policy" fault on a poll is what Luma really reports: a failed generation, moderation reason."""
        job = self._polled_job(request)
        if job is not None and self._next_fault("status") == "policy":
            self._take_fault("status")
            self.requests_seen.append(request)
            return Response(200, self.generation_body(job, "failed", MODERATION_FAILURE))
        return super().dispatch(request)

    def _polled_job(self, request: Request) -> EmulatedJob | None:
        if request.method != "GET" or "/generations/" not in request.path:
            return None
        return self.jobs.get(request.path.rsplit("/", 1)[1])

    def _next_fault(self, operation: str) -> str | None:
        with self._lock:
            return next((fault for op, fault in self.faults if op == operation), None)

    def error_response(self, fault: str) -> Response:
        canned = {
            "429": (429, "Too many requests, please slow down"),
            "500": (500, "Internal Server Error"),
            "503": (503, "Service Unavailable"),
            "policy": (400, MODERATION_FAILURE),
            "credit": (400, "Insufficient credits. Please add credits to your account."),
            "bad_request": (400, "400: invalid request"),
            "auth": (401, "Invalid API key"),
        }
        status, detail = canned[fault]
        return detail_response(status, detail, {"Retry-After": "1"} if fault == "429" else None)

    # -- endpoints ----------------------------------------------------------------------------
    def create(self, request: Request) -> Response:
        refusal = self._auth_refusal(request)
        if refusal:
            return refusal
        try:
            body = request.json()
        except ValueError:
            return detail_response(400, "Invalid JSON body")
        problems = request_problems(body)
        if problems:
            return detail_response(422, problems)
        job = self.job_create(prompt=body.get("prompt", ""), duration_seconds=int(body.get("duration", "5s")[:-1]),
                              aspect_ratio=body.get("aspect_ratio", "16:9"), callback_url=body.get("callback_url"),
                              model_id=body.get("model", ""),
                              created=datetime.now(timezone.utc).isoformat(), request=body)
        return Response(201, self.generation_body(job))

    def generation(self, request: Request, generation_id: str) -> Response:
        refusal = self._auth_refusal(request)
        if refusal:
            return refusal
        job = self.jobs.get(generation_id)
        if job is None:
            return detail_response(404, "Generation not found")
        return Response(200, self.generation_body(job))

    def delete(self, request: Request, generation_id: str) -> Response:
        refusal = self._auth_refusal(request)
        if refusal:
            return refusal
        with self._lock:
            found = self.jobs.pop(generation_id, None)
        return Response(204) if found else detail_response(404, "Generation not found")

    def _auth_refusal(self, request: Request) -> Response | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme == "Bearer" and token:
            return None
        return detail_response(401, "Invalid API key")

    # -- state --------------------------------------------------------------------------------
    def generation_body(self, job: EmulatedJob, state: str | None = None, failure_reason: str | None = None) -> dict:
        state = state or STATE_FOR_PHASE[self.job_phase(job)[0]]
        if state == "failed" and failure_reason is None:
            failure_reason = MODERATION_FAILURE if job.outcome == "policy" else GENERIC_FAILURE
        video = self.file_url(job) if state == "completed" else None
        return {
            "id": job.id, "generation_type": "video", "state": state, "failure_reason": failure_reason,
            "created_at": job.meta["created"], "model": job.meta["request"].get("model"),
            "assets": {"video": video, "image": None, "progress_video": None}, "request": job.meta["request"],
        }

    # -- callbacks ----------------------------------------------------------------------------
    def callback_phases(self) -> tuple[str, ...]:
        return ("running", "succeeded", "failed")

    def callback_request(self, job: EmulatedJob, phase: str) -> tuple[bytes, dict[str, str]]:
        body = self.generation_body(job, STATE_FOR_PHASE[phase])
        return Response(body=body).encoded(), {"Content-Type": "application/json"}


def request_problems(body) -> list[dict]:
    """FastAPI-style validation errors for a POST /generations/video body."""
    if not isinstance(body, dict):
        return [_problem((), "Input should be a valid dictionary", "dict_type")]
    problems = [_problem((name,), "Extra inputs are not permitted", "extra_forbidden") for name in set(body) - FIELDS]
    if body.get("model") not in MODELS:
        problems.append(_problem(("model",), f"Input should be {', '.join(map(repr, MODELS))}", "enum"))
    for name, allowed in ENUMS.items():
        if name in body and body[name] not in allowed:
            problems.append(_problem((name,), f"Input should be {', '.join(map(repr, allowed))}", "enum"))
    keyframes = body.get("keyframes") or {}
    for frame_name, frame in (keyframes.items() if isinstance(keyframes, dict) else [("keyframes", None)]):
        if not _valid_keyframe(frame_name, frame):
            problems.append(_problem(("keyframes", frame_name), "Invalid keyframe", "value_error"))
    if not body.get("prompt") and not keyframes:
        problems.append(_problem(("prompt",), "Field required", "missing"))
    return problems


def _valid_keyframe(name: str, frame) -> bool:
    if name not in ("frame0", "frame1") or not isinstance(frame, dict):
        return False
    if frame.get("type") == "image":
        return str(frame.get("url", "")).startswith(("http://", "https://"))
    return frame.get("type") == "generation" and bool(frame.get("id"))


def _problem(location: tuple, message: str, kind: str) -> dict:
    return {"type": kind, "loc": ["body", *location], "msg": message}
