"""MiniMax Hailuo video API emulator (provider_contracts.md §6).

POST /v1/video_generation, GET /v1/query/video_generation?task_id=, GET /v1/files/retrieve?file_id=.
Every answer is HTTP 200 with `base_resp`; errors set a non-zero `base_resp.status_code`.
A `callback_url` is first validated with a `{"challenge": …}` POST that must be echoed within
3 s; only then are status changes pushed (processing, success, failed), unsigned.
"""

import itertools
import random
import threading
import time
import uuid

import httpx

from providers.emulators.server import EmulatedJob, Emulator, Request, Response, route

MODELS = {
    "MiniMax-Hailuo-2.3", "MiniMax-Hailuo-2.3-Fast", "MiniMax-Hailuo-02",
    "T2V-01", "T2V-01-Director", "I2V-01", "I2V-01-Director", "I2V-01-live", "S2V-01",
}
IMAGE_ONLY_MODELS = {"MiniMax-Hailuo-2.3-Fast", "I2V-01", "I2V-01-Director", "I2V-01-live"}
RESOLUTIONS = {"512P", "720P", "768P", "1080P"}
FRAME_SIZES = {"512P": (910, 512), "720P": (1280, 720), "768P": (1366, 768), "1080P": (1920, 1080)}
MAX_PROMPT_CHARS = 2000
CHALLENGE_TIMEOUT_SECONDS = 3.0

# Fault name → (base_resp.status_code, status_msg); all answered as HTTP 200 like the vendor.
FAULT_CODES = {
    "429": (1002, "rate limit exceeded"),
    "500": (1000, "unknown error"),
    "policy": (1026, "input new_sensitive"),
    "credit": (1008, "insufficient balance"),
    "bad_request": (2013, "invalid params"),
    "auth": (1004, "login fail: Please carry the API secret key in the 'Authorization' field of the request header"),
}
CALLBACK_STATUSES = {"running": "processing", "succeeded": "success", "failed": "failed"}
POLL_STATUSES = {"running": "Processing", "succeeded": "Success", "failed": "Fail"}


def answer(code: int = 0, message: str = "success", **fields) -> Response:
    return Response(200, {**fields, "base_resp": {"status_code": code, "status_msg": message}})


class MiniMaxEmulator(Emulator):
    family = "minimax"
    routes = (
        route("POST", r"/v1/video_generation", "submit", "video_create"),
        route("GET", r"/v1/query/video_generation", "status", "video_query"),
        route("GET", r"/v1/files/retrieve", "result", "file_retrieve"),
    )

    def __init__(self, *, api_key: str | None = None, **kwargs):
        """`api_key` None accepts any bearer token; set it to refuse all others with 1004."""
        super().__init__(**kwargs)
        self.api_key = api_key
        self._ids = itertools.count(random.randrange(10**14, 10**15))
        self._files: dict[str, str] = {}  # file_id → task id

    # -- faults -----------------------------------------------------------------------------
    def error_response(self, fault: str) -> Response:
        if fault == "503":  # the gateway in front of the API, not the API itself
            return Response(503, b"<html><body>503 Service Temporarily Unavailable</body></html>",
                            content_type="text/html")
        return answer(*FAULT_CODES[fault])

    # -- endpoints --------------------------------------------------------------------------
    def video_create(self, request: Request) -> Response:
        refusal = self._auth_refusal(request)
        if refusal:
            return refusal
        try:
            body = request.json()
        except ValueError:
            return answer(2013, "invalid params, body is not JSON")
        problem = validation_problem(body) if isinstance(body, dict) else "body is not an object"
        if problem:
            return answer(2013, f"invalid params, {problem}")
        job = self.job_create(
            prompt=body.get("prompt", ""), duration_seconds=body.get("duration", 6), aspect_ratio="16:9",
            job_id=str(next(self._ids)), resolution=body.get("resolution", "768P"), model_id=body.get("model", ""),
        )
        if body.get("callback_url"):
            threading.Thread(target=self._validate_callback, args=(job, body["callback_url"]), daemon=True).start()
        return answer(task_id=job.id)

    def video_query(self, request: Request) -> Response:
        refusal = self._auth_refusal(request)
        if refusal:
            return refusal
        job = self.jobs.get(request.query.get("task_id", ""))
        if job is None:
            return answer(2013, "invalid params, task_id not found")
        return Response(200, self.task_answer(job))

    def file_retrieve(self, request: Request) -> Response:
        refusal = self._auth_refusal(request)
        if refusal:
            return refusal
        file_id = request.query.get("file_id", "")
        job = self.jobs.get(self._files.get(file_id, ""))
        if job is None:
            return answer(2013, "invalid params, file_id not found")
        file = {"file_id": int(file_id), "created_at": int(time.time()), "filename": "output.mp4",
                "purpose": "video_generation", "download_url": self.file_url(job)}
        return answer(file=file)

    # -- the task ---------------------------------------------------------------------------
    def task_answer(self, job: EmulatedJob) -> dict:
        """The poll answer. Where a failed task's reason goes is UNCONFIRMED: base_resp here."""
        phase, _ = self.job_phase(job)
        status = self._poll_status(job, phase)
        if phase == "succeeded":
            width, height = FRAME_SIZES[job.meta["resolution"]]
            return answer(task_id=job.id, status=status, file_id=self._file_id(job),
                          video_width=width, video_height=height).body
        if phase == "failed":
            return answer(*self._failure(job), task_id=job.id, status=status, file_id="").body
        return answer(task_id=job.id, status=status, file_id="").body

    def _poll_status(self, job: EmulatedJob, phase: str) -> str:
        if phase != "queued":
            return POLL_STATUSES[phase]
        elapsed = time.monotonic() - job.created_at
        return "Preparing" if elapsed < self.latency_seconds * 0.1 else "Queueing"

    def _failure(self, job: EmulatedJob) -> tuple[int, str]:
        if job.outcome == "policy":
            return 1027, "output video sensitive"
        return 0, "success"  # the query succeeded; the task itself failed without a code

    def _file_id(self, job: EmulatedJob) -> str:
        with self._lock:
            file_id = job.meta.get("file_id")
            if file_id is None:
                file_id = job.meta["file_id"] = str(next(self._ids))
                self._files[file_id] = job.id
            return file_id

    def _auth_refusal(self, request: Request) -> Response | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme != "Bearer" or not token or (self.api_key is not None and token != self.api_key):
            return answer(*FAULT_CODES["auth"])
        return None

    # -- callbacks --------------------------------------------------------------------------
    def callback_phases(self) -> tuple[str, ...]:
        return tuple(CALLBACK_STATUSES)

    def callback_request(self, job: EmulatedJob, phase: str) -> tuple[bytes, dict[str, str]]:
        push = {"task_id": job.id, "status": CALLBACK_STATUSES[phase]}
        if phase == "succeeded":
            push["file_id"] = self._file_id(job)
        code, message = self._failure(job) if phase == "failed" else (0, "success")
        return answer(code, message, **push).encoded(), {"Content-Type": "application/json"}

    def _validate_callback(self, job: EmulatedJob, url: str) -> None:
        """The challenge handshake; status pushes start only once it is echoed in time."""
        challenge = uuid.uuid4().hex
        try:
            response = httpx.post(url, json={"challenge": challenge}, timeout=CHALLENGE_TIMEOUT_SECONDS)
            echoed = response.json().get("challenge") == challenge
            status = response.status_code
        except (httpx.HTTPError, ValueError, AttributeError) as error:
            echoed, status = False, f"error: {error}"
        self.callbacks_sent.append({"job_id": job.id, "phase": "challenge", "status": status, "validated": echoed})
        if echoed:
            job.callback_url = url  # the base class's callback loop pushes from here on


def validation_problem(body: dict) -> str | None:
    """What is wrong with a create body, in the vendor's 2013 terms; None when it is valid."""
    model, duration, resolution = body.get("model"), body.get("duration", 6), body.get("resolution", "768P")
    prompt = body.get("prompt", "")
    checks = {
        f"model {model!r} is not supported": model not in MODELS,
        "prompt must be a string": not isinstance(prompt, str),
        f"prompt is longer than {MAX_PROMPT_CHARS} characters": len(str(prompt)) > MAX_PROMPT_CHARS,
        "prompt or first_frame_image is required": not prompt and not body.get("first_frame_image"),
        f"{model} requires first_frame_image": model in IMAGE_ONLY_MODELS and not body.get("first_frame_image"),
        "duration must be the integer 6 or 10": type(duration) is not int or duration not in (6, 10),
        f"resolution {resolution!r} is not supported": resolution not in RESOLUTIONS,
        "1080P supports a duration of 6 only": resolution == "1080P" and duration != 6,
        "prompt_optimizer must be a boolean": not isinstance(body.get("prompt_optimizer", True), bool),
    }
    return next((problem for problem, applies in checks.items() if applies), None)
