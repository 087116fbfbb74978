"""A local fal.ai queue API (shared/provider_contracts.md §2; Pika on fal, §9).

Serves `POST /{endpoint_id}[?fal_webhook=]`, then `/{owner}/{alias}/requests/{id}` (result),
`…/status?logs=1` and `PUT …/cancel` — the owner/alias-only path rule is enforced, so a client
that builds status URLs from the full endpoint id gets 404 like on fal. Callbacks are signed
with an Ed25519 key whose JWKS is served at /.well-known/jwks.json.

Where the contract is UNCONFIRMED the emulator picks: input validation answers 422 at submit;
a cancelled request reads COMPLETED with error "Request cancelled by the client."; 429 carries
Retry-After; the status of a failed request carries `error`/`error_type` unless
`errors_in_status` is off, in which case (as live fal is reported to do) only the result says why.
"""

import base64
import hashlib
import json
import time
import uuid
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from providers.emulators.server import EmulatedJob, Emulator, Request, Response, route
from providers.emulators.upscale import SourceVideo, UnreadableVideo, source_video_read

APP = r"(?P<app>(?:(?:workflows|comfy)/)?[\w.-]+/[\w.-]+)"
REQUEST = "/" + APP + r"/requests/(?P<request_id>[\w-]+)"
KLING_V3 = {"durations": frozenset(str(n) for n in range(3, 16)), "multi_prompt": True, "image_field": "start_image_url"}
COMMON_ASPECTS = frozenset({"16:9", "9:16", "1:1"})
RENDERABLE_ASPECTS = ("16:9", "9:16", "1:1", "4:3")
UPSCALERS = frozenset({"fal-ai/video-upscaler"})  # video in, the same video larger out: no prompt
POLICY_MESSAGE = "The content could not be processed because it contained material flagged by a content checker."
CANCELLED_MESSAGE = "Request cancelled by the client."


@dataclass(frozen=True)
class InputSchema:
    durations: frozenset[str | int] = frozenset(str(n) for n in range(1, 21))
    aspect_ratios: frozenset[str] | None = frozenset(RENDERABLE_ASPECTS)
    image_field: str = "image_url"
    multi_prompt: bool = False


SCHEMAS = {
    "fal-ai/kling-video/v3/": InputSchema(aspect_ratios=COMMON_ASPECTS, **KLING_V3),
    "fal-ai/kling-video/o3/": InputSchema(aspect_ratios=COMMON_ASPECTS, **KLING_V3),
    "fal-ai/kling-video/v2": InputSchema(durations=frozenset({"5", "10"}), aspect_ratios=COMMON_ASPECTS),
    "fal-ai/kling-video/v4/": InputSchema(durations=frozenset(range(3, 31)), aspect_ratios=COMMON_ASPECTS | {"auto"}),
    "fal-ai/veo3": InputSchema(durations=frozenset({"4s", "6s", "8s"}), aspect_ratios=frozenset({"16:9", "9:16"})),
    "fal-ai/minimax/": InputSchema(durations=frozenset({"6", "10"}), aspect_ratios=None),
}


def schema_for(endpoint: str) -> InputSchema:
    matches = [prefix for prefix in SCHEMAS if endpoint.startswith(prefix)]
    return SCHEMAS[max(matches, key=len)] if matches else InputSchema()


def validation_error(field: str, message: str, error_type: str, value=None) -> Response:
    """fal's documented error body (fal.ai/docs/errors), as pydantic would word it."""
    item = {"loc": ["body", field], "msg": message, "type": error_type,
            "url": f"https://docs.fal.ai/errors#{error_type}", "input": value, "ctx": {}}
    return Response(422, {"detail": [item]}, {"X-Fal-Retryable": "false"})


def policy_error() -> Response:
    return validation_error("prompt", POLICY_MESSAGE, "content_policy_violation")


class FalEmulator(Emulator):
    family = "fal"
    routes = (
        route("GET", r"/\.well-known/jwks\.json", "jwks", "jwks"),
        route("GET", REQUEST + "/status", "status", "queue_status"),
        route("PUT", REQUEST + "/cancel", "cancel", "queue_cancel"),
        route("GET", REQUEST, "result", "queue_result"),
        route("POST", r"/(?P<endpoint>[\w.-]+(?:/[\w.-]+)+)", "submit", "queue_submit"),
    )

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.user_id = "emulated-fal-user"
        self.errors_in_status = True
        self.rotate_key()

    # -- signing --------------------------------------------------------------------------
    def rotate_key(self) -> None:
        """A new signing key; the JWKS serves only it from now on (as after a rotation at fal)."""
        self.signing_key = Ed25519PrivateKey.generate()
        self.key_id = uuid.uuid4().hex[:16]

    def signed_headers(self, body: bytes, request_id: str, *, timestamp: int | None = None) -> dict[str, str]:
        timestamp = int(time.time()) if timestamp is None else timestamp
        message = "\n".join((request_id, self.user_id, str(timestamp), hashlib.sha256(body).hexdigest()))
        return {"Content-Type": "application/json", "X-Fal-Webhook-Request-Id": request_id,
                "X-Fal-Webhook-User-Id": self.user_id, "X-Fal-Webhook-Timestamp": str(timestamp),
                "X-Fal-Webhook-Signature": self.signing_key.sign(message.encode()).hex()}

    def jwks(self, request: Request) -> Response:
        raw = self.signing_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        x = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
        return Response(200, {"keys": [{"kty": "OKP", "crv": "Ed25519", "x": x, "kid": self.key_id,
                                        "use": "sig", "alg": "EdDSA"}]})

    # -- errors ---------------------------------------------------------------------------
    def error_response(self, fault: str) -> Response:
        if fault == "policy":
            return policy_error()
        if fault == "bad_request":
            return validation_error("duration", "Input should be '5' or '10'", "literal_error", "7")
        answers = {
            "429": Response(429, {"detail": "Too many concurrent requests."}, {"Retry-After": "2", "X-Fal-Retryable": "true"}),
            "500": Response(500, {"detail": "Internal server error"}),
            "503": Response(503, {"detail": "Service temporarily unavailable"}, {"X-Fal-Retryable": "true"}),
            "credit": Response(403, {"detail": "User is locked. Reason: Exhausted balance. "
                                               "Top up your balance at fal.ai/dashboard/billing."}),
            "auth": Response(401, {"detail": "No user found for Key ID and Secret"}),
        }
        return answers[fault]

    def _unauthorised(self, request: Request) -> Response | None:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme != "Key" or not key.strip():
            return Response(401, {"detail": "Authentication is required to access this application."})
        return None

    # -- submit ---------------------------------------------------------------------------
    def queue_submit(self, request: Request, endpoint: str) -> Response:
        refused = self._unauthorised(request)
        if refused:
            return refused
        try:
            body = request.json()
        except ValueError:
            return validation_error("", "Invalid JSON body", "json_invalid")
        if not isinstance(body, dict):
            return validation_error("", "Input should be an object", "model_type")
        if endpoint in UPSCALERS:
            source, invalid = self._upscale_input(body)
        else:
            source, invalid = None, self._invalid_input(endpoint, body, schema_for(endpoint))
        if invalid:
            return invalid
        job = self._job_from(endpoint, body, request.query.get("fal_webhook"), source=source)
        return Response(200, {"request_id": job.id, "gateway_request_id": job.meta["gateway_request_id"],
                              "status": "IN_QUEUE", "queue_position": 0, **self._urls(job)})

    def _invalid_input(self, endpoint: str, body: dict, schema: InputSchema) -> Response | None:
        segments = body.get("multi_prompt") if schema.multi_prompt else None
        if segments is not None and not (isinstance(segments, list) and segments
                                         and all(isinstance(s, dict) and s.get("prompt") for s in segments)):
            return validation_error("multi_prompt", "Each shot needs a prompt", "value_error", segments)
        if not segments and not (isinstance(body.get("prompt"), str) and body["prompt"].strip()):
            return validation_error("prompt", "Field required", "missing")
        duration = body.get("duration")
        if duration is not None and duration not in schema.durations:
            allowed = " or ".join(f"{value!r}" for value in sorted(schema.durations, key=lambda v: (len(str(v)), str(v))))
            return validation_error("duration", f"Input should be {allowed}", "literal_error", duration)
        aspect = body.get("aspect_ratio")
        if aspect is not None and schema.aspect_ratios is not None and aspect not in schema.aspect_ratios:
            return validation_error("aspect_ratio", "Input should be one of " + ", ".join(sorted(schema.aspect_ratios)),
                                    "literal_error", aspect)
        if endpoint.endswith("image-to-video") and not body.get(schema.image_field):
            return validation_error(schema.image_field, "Field required", "missing")
        return None

    def _upscale_input(self, body: dict) -> tuple[SourceVideo | None, Response | None]:
        """video-upscaler's schema (DOC): `video_url` required, `scale` a number from 1 to 8."""
        scale = body.get("scale", 2)
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not 1 <= scale <= 8:
            return None, validation_error("scale", "Input should be between 1 and 8", "value_error", scale)
        if not body.get("video_url"):
            return None, validation_error("video_url", "Field required", "missing")
        try:
            return source_video_read(body["video_url"]), None
        except UnreadableVideo as error:
            # fal's type for an input file it cannot use (UNCONFIRMED which one it sends for videos).
            return None, validation_error("video_url", f"Could not use the video: {error}", "file_download_error")

    def _job_from(self, endpoint: str, body: dict, webhook: str | None, *, source: SourceVideo | None = None) -> EmulatedJob:
        prompt = body.get("prompt") or " ".join(str(s.get("prompt")) for s in body.get("multi_prompt") or [])
        aspect = body.get("aspect_ratio") if body.get("aspect_ratio") in RENDERABLE_ASPECTS else "16:9"
        duration = int(str(body.get("duration") or "5").rstrip("s"))
        parts = endpoint.split("/")
        app = "/".join(parts[:3] if parts[0] in ("workflows", "comfy") else parts[:2])
        upscale = {"upscale": {"source": source, "scale": body.get("scale", 2)}} if source else {}
        if source:
            duration, aspect = source.duration_seconds, source.aspect_ratio
        job = self.job_create(prompt=prompt, duration_seconds=duration, aspect_ratio=aspect, callback_url=webhook,
                              app=app, endpoint=endpoint, input=body, seed=body.get("seed", 42),
                              model_id=endpoint, seed_asked=body.get("seed"),
                              gateway_request_id=str(uuid.uuid4()), **upscale)
        # "Generate" while the job waits, so the result answers at once when it completes.
        self.output_prerender(job)
        return job

    def _urls(self, job: EmulatedJob) -> dict[str, str]:
        base = f"{self.url}/{job.meta['app']}/requests/{job.id}"
        return {"response_url": base, "status_url": f"{base}/status", "cancel_url": f"{base}/cancel"}

    # -- status, result, cancel -------------------------------------------------------------
    def _job(self, request: Request, app: str, request_id: str) -> tuple[EmulatedJob | None, Response | None]:
        """The job, or fal's refusal: 401 without a key, 404 unless addressed by its owner/alias."""
        refused = self._unauthorised(request)
        if refused:
            return None, refused
        job = self.jobs.get(request_id)
        if job is None or job.meta.get("app") != app:
            return None, Response(404, {"detail": "Request not found"})
        return job, None

    def queue_status(self, request: Request, app: str, request_id: str) -> Response:
        job, refused = self._job(request, app, request_id)
        if refused:
            return refused
        phase, progress = self.job_phase(job)
        logs = self._logs(phase, progress) if request.query.get("logs") in ("1", "true", "True") else None
        answer = {"response_url": self._urls(job)["response_url"]}
        if phase == "queued":
            position = 1 if time.monotonic() - job.created_at < 0.1 * self.latency_seconds else 0
            return Response(200, answer | {"status": "IN_QUEUE", "queue_position": position})
        if phase == "running":
            return Response(200, answer | {"status": "IN_PROGRESS", "logs": logs})
        answer |= {"status": "COMPLETED", "logs": logs, "metrics": {"inference_time": self.latency_seconds * 0.8}}
        return Response(200, answer | self._status_error(job, phase))

    def _status_error(self, job: EmulatedJob, phase: str) -> dict:
        if phase == "cancelled":
            return {"error": CANCELLED_MESSAGE, "error_type": "request_cancelled"}
        if phase != "failed" or not self.errors_in_status:
            return {}
        if job.outcome == "policy":
            return {"error": POLICY_MESSAGE, "error_type": "content_policy_violation"}
        return {"error": "Internal server error", "error_type": "internal_server_error"}

    def _logs(self, phase: str, progress: int) -> list[dict]:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        lines = [] if phase == "queued" else ["Loading model weights"]
        if phase != "queued":  # tqdm-style, as many fal runners print
            done = 100 if phase == "succeeded" else progress
            lines.append(f"{done:3d}%|{'#' * (done // 10):<10}| {done // 2}/50")
        return [{"message": line, "level": "INFO", "source": "user", "timestamp": stamp} for line in lines]

    def queue_result(self, request: Request, app: str, request_id: str) -> Response:
        job, refused = self._job(request, app, request_id)
        if refused:
            return refused
        phase, _ = self.job_phase(job)
        if phase in ("queued", "running"):
            return Response(400, {"detail": "Request is still in progress"})
        if phase == "cancelled":
            return Response(400, {"detail": CANCELLED_MESSAGE}, {"X-Fal-Retryable": "false"})
        if phase == "failed":
            return self._failure_response(job)
        return Response(200, self._result(job))

    def _failure_response(self, job: EmulatedJob) -> Response:
        if job.outcome == "policy":
            return policy_error()
        return Response(500, {"detail": "Internal server error"}, {"X-Fal-Retryable": "false"})

    def _result(self, job: EmulatedJob) -> dict:
        size = self.output_path(job).stat().st_size
        return {"video": {"url": self.file_url(job), "content_type": "video/mp4", "file_name": "output.mp4",
                          "file_size": size}, "seed": job.meta["seed"], "prompt": job.prompt}

    def queue_cancel(self, request: Request, app: str, request_id: str) -> Response:
        job, refused = self._job(request, app, request_id)
        if refused:
            return Response(404, {"status": "NOT_FOUND"}) if refused.status == 404 else refused
        if self.job_phase(job)[0] not in ("queued", "running"):
            return Response(400, {"status": "ALREADY_COMPLETED"})
        job.cancelled_at = time.monotonic()
        return Response(202, {"status": "CANCELLATION_REQUESTED"})

    # -- callbacks ------------------------------------------------------------------------
    def callback_phases(self) -> tuple[str, ...]:
        return ("succeeded", "failed")

    def callback_request(self, job: EmulatedJob, phase: str) -> tuple[bytes, dict[str, str]]:
        payload = {"request_id": job.id, "gateway_request_id": job.meta["gateway_request_id"]}
        if phase == "succeeded":
            payload |= {"status": "OK", "payload": self._result(job)}
        else:
            failure = self._failure_response(job)
            payload |= {"status": "ERROR", "error": f"Invalid status code: {failure.status}", "payload": failure.body}
        body = json.dumps(payload).encode()
        return body, self.signed_headers(body, job.id)
