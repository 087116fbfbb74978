"""Emulator of Replicate's predictions API (provider_contracts.md §7).

Endpoints: `POST /v1/models/{owner}/{name}/predictions`, `POST /v1/predictions` (with `version`),
`GET /v1/predictions/{id}`, `POST /v1/predictions/{id}/cancel`, `GET /v1/webhooks/default/secret`.
Predictions go starting → processing (tqdm progress lines in `logs`) → succeeded (output: one URI)
| failed (`error` string) | canceled. Errors are RFC 7807 problem details. With a `webhook`, the
prediction is POSTed on start and on completion, signed with Standard Webhooks.
"""

import base64
import json
import re
import time
import uuid
from datetime import datetime, timezone

from providers.adapters import standard_webhooks
from providers.emulators.server import EmulatedJob, Emulator, Request, Response, route

PHASE_STATUS = {"queued": "starting", "running": "processing", "succeeded": "succeeded", "failed": "failed",
                "cancelled": "canceled"}
WEBHOOK_EVENTS = {"start", "output", "logs", "completed"}
KLING_INPUTS = {"durations": (5, 10), "aspect_ratios": ("16:9", "9:16", "1:1")}
MODEL_INPUTS = {name: KLING_INPUTS for name in (
    "kwaivgi/kling-v2.0", "kwaivgi/kling-v2.1", "kwaivgi/kling-v2.1-master", "kwaivgi/kling-v2.5-turbo-pro")}
VERSION = re.compile(r"^(?:[\w.-]+/[\w.-]+:)?[0-9a-f]{64}$|^[\w.-]+/[\w.-]+$")
# Model-run errors; the moderation wording and code are UNCONFIRMED (§7), E1000 is the documented "unknown".
JOB_ERRORS = {
    "policy": "The input or output was flagged as sensitive. Please try again with different inputs. (E005)",
    "fail": "Prediction failed for an unknown reason. It might have run out of memory? (E1000)",
}


def problem(status: int, title: str, detail: str, *, headers: dict | None = None, **extra) -> Response:
    body = {"type": f"https://replicate.com/docs/reference/http#{status}", "title": title, "status": status,
            "detail": detail, **extra}
    return Response(status, body, headers or {}, content_type="application/problem+json")


FAULT_RESPONSES = {
    "429": lambda: problem(429, "Too Many Requests", "Request was throttled. Your rate limit resets in ~1s.",
                           headers={"Retry-After": "1"}),
    "500": lambda: problem(500, "Internal Server Error", "An unexpected error occurred."),
    "503": lambda: problem(503, "Service Unavailable", "Replicate is temporarily unavailable. Please try again."),
    # UNCONFIRMED (§7): how an input refused by moderation looks at the HTTP level.
    "policy": lambda: problem(422, "Input flagged", JOB_ERRORS["policy"]),
    # UNCONFIRMED (§7): insufficient credit as 402 Payment Required.
    "credit": lambda: problem(402, "Insufficient credit", "You have insufficient credit to run this model. Go to "
                              "https://replicate.com/account/billing#billing to purchase credit."),
    "bad_request": lambda: problem(422, "Input validation failed", "- input.duration: duration must be one of the "
                                   "following: 5, 10", invalid_fields=[{"type": "enum", "field": "input.duration",
                                   "description": "duration must be one of the following: 5, 10"}]),
    "auth": lambda: problem(401, "Unauthenticated", "You did not pass a valid authentication token"),
}


class ReplicateEmulator(Emulator):
    family = "replicate"
    routes = (
        route("POST", r"/v1/models/(?P<owner>[\w.-]+)/(?P<name>[\w.-]+)/predictions", "submit",
              "model_prediction_create"),
        route("POST", "/v1/predictions", "submit", "prediction_create"),
        route("GET", r"/v1/predictions/(?P<prediction_id>[\w-]+)", "status", "prediction_get"),
        route("POST", r"/v1/predictions/(?P<prediction_id>[\w-]+)/cancel", "cancel", "prediction_cancel"),
        route("GET", "/v1/webhooks/default/secret", "secret", "webhook_secret_get"),
    )

    def __init__(self, *, webhook_secret: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.webhook_secret = webhook_secret or standard_webhooks.new_secret()

    def error_response(self, fault: str) -> Response:
        return FAULT_RESPONSES[fault]()

    # -- endpoints --------------------------------------------------------------------------
    def model_prediction_create(self, request: Request, owner: str, name: str) -> Response:
        return self._create(request, model=f"{owner}/{name}", version=None)

    def prediction_create(self, request: Request) -> Response:
        body = _json_object(request)
        version = body.get("version") if body else None
        if not isinstance(version, str) or not VERSION.match(version):
            return problem(422, "Input validation failed", "- version: a model version id is required")
        model = version.split(":")[0] if "/" in version else "replicate/emulated-model"
        return self._create(request, model=model, version=version.split(":")[-1])

    def prediction_get(self, request: Request, prediction_id: str) -> Response:
        job = self.jobs.get(prediction_id)
        if not self._authorized(request):
            return FAULT_RESPONSES["auth"]()
        if job is None:
            return problem(404, "Not found", "The requested resource could not be found.")
        return Response(200, self.prediction(job))

    def prediction_cancel(self, request: Request, prediction_id: str) -> Response:
        job = self.jobs.get(prediction_id)
        if not self._authorized(request):
            return FAULT_RESPONSES["auth"]()
        if job is None:
            return problem(404, "Not found", "The requested resource could not be found.")
        if self.job_phase(job)[0] in ("queued", "running"):
            job.cancelled_at = time.monotonic()
        return Response(200, self.prediction(job))

    def webhook_secret_get(self, request: Request) -> Response:
        if not self._authorized(request):
            return FAULT_RESPONSES["auth"]()
        return Response(200, {"key": self.webhook_secret})

    def _create(self, request: Request, *, model: str, version: str | None) -> Response:
        if not self._authorized(request):
            return FAULT_RESPONSES["auth"]()
        body = _json_object(request)
        invalid = _invalid_body(body, model)
        if invalid:
            return invalid
        given = body["input"]
        job = self.job_create(
            prompt=given["prompt"], duration_seconds=int(given.get("duration", 5)),
            aspect_ratio=given.get("aspect_ratio", "16:9"), callback_url=body.get("webhook"),
            job_id=_prediction_id(), model=model, version=version or "", input=given, model_id=model,
            seed_asked=given.get("seed"),
            events=body.get("webhook_events_filter") or sorted(WEBHOOK_EVENTS), created=_now_iso(),
        )
        return Response(201, self.prediction(job))

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("authorization", "").startswith(("Bearer ", "Token "))

    # -- the prediction object ---------------------------------------------------------------
    def prediction(self, job: EmulatedJob, phase: str | None = None) -> dict:
        current, progress = self.job_phase(job)
        phase = phase or current
        status = PHASE_STATUS[phase]
        return {
            "id": job.id, "model": job.meta["model"], "version": job.meta["version"], "input": job.meta["input"],
            "logs": _logs(phase, progress), "output": self.file_url(job) if phase == "succeeded" else None,
            "data_removed": False, "error": JOB_ERRORS[job.outcome] if phase == "failed" else None,
            "status": status, "created_at": job.meta["created"],
            "started_at": job.meta["created"] if phase != "queued" else None,
            "completed_at": _now_iso() if status in ("succeeded", "failed", "canceled") else None,
            "urls": {"get": f"{self.url}/v1/predictions/{job.id}",
                     "cancel": f"{self.url}/v1/predictions/{job.id}/cancel",
                     "web": f"https://replicate.com/p/{job.id}"},
            "metrics": {"predict_time": self.latency_seconds} if status == "succeeded" else {},
        }

    # -- webhooks ---------------------------------------------------------------------------
    def job_phase(self, job: EmulatedJob) -> tuple[str, int]:
        """Replicate sends `start` before anything else: with a webhook, a prediction stays
        `starting` until that delivery has gone out (the callback loop may wake late)."""
        phase, progress = super().job_phase(job)
        if job.callback_url and phase != "cancelled" and "queued" not in job.phases_announced:
            return "queued", 0
        return phase, progress

    def callback_phases(self) -> tuple[str, ...]:
        # `start` is the starting prediction; `completed` any terminal one (both always sent).
        return ("queued", "succeeded", "failed", "cancelled")

    def callback_request(self, job: EmulatedJob, phase: str) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(self.prediction(job, phase), separators=(",", ":")).encode()
        return body, {"Content-Type": "application/json", **standard_webhooks.sign(body, self.webhook_secret)}


def _invalid_body(body: dict | None, model: str) -> Response | None:
    if body is None or not isinstance(body.get("input"), dict):
        return problem(422, "Input validation failed", "- input: input is required")
    given, rules = body["input"], MODEL_INPUTS.get(model, {})
    if not isinstance(given.get("prompt"), str) or not given["prompt"]:
        return _invalid("input.prompt", "prompt is required")
    if "duration" in given and (not isinstance(given["duration"], int) or
                                given["duration"] not in rules.get("durations", (given["duration"],))):
        allowed = ", ".join(map(str, rules.get("durations", ())))
        return _invalid("input.duration", f"duration must be one of the following: {allowed}")
    if "aspect_ratio" in given and given["aspect_ratio"] not in rules.get("aspect_ratios", (given["aspect_ratio"],)):
        return _invalid("input.aspect_ratio", "aspect_ratio must be one of the following: 16:9, 9:16, 1:1")
    events = body.get("webhook_events_filter") or []
    if not isinstance(events, list) or not set(events) <= WEBHOOK_EVENTS:
        return _invalid("webhook_events_filter", "must be a list of start, output, logs, completed")
    return None


def _invalid(field_name: str, description: str) -> Response:
    return problem(422, "Input validation failed", f"- {field_name}: {description}",
                   invalid_fields=[{"type": "invalid", "field": field_name, "description": description}])


def _logs(phase: str, progress: int) -> str:
    if phase == "queued":
        return ""
    percent = 100 if phase == "succeeded" else progress
    bar = ("█" * (percent // 10)).ljust(10)
    return f"Using seed: 7\n{percent:3d}%|{bar}| {percent}/100 [00:01<00:01, 42.00it/s]\n"


def _json_object(request: Request) -> dict | None:
    try:
        body = request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _prediction_id() -> str:
    return base64.b32encode(uuid.uuid4().bytes).decode().lower().rstrip("=")[:26]


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
