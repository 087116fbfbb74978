"""Emulator of OpenAI's Sora 2 Videos API (provider_contracts.md §3).

Endpoints: `POST /v1/videos` (multipart/form-data only, as the spec declares), `GET /v1/videos/{id}`
(with an `openai-poll-after-ms` header), `GET /v1/videos/{id}/content` (raw MP4 bytes),
`DELETE /v1/videos/{id}`. There is no cancel. Errors use OpenAI's body
`{"error": {"message", "type", "param", "code"}}`.

Webhooks are configured in the OpenAI dashboard rather than per request, so the emulator takes the
endpoint as `webhook_url` (or `POST /_emulator/webhook_endpoint {"url": ...}`; set it before
submitting) and signs `video.completed` / `video.failed` events in OpenAI's standard envelope with
Standard Webhooks and `webhook_secret`.
"""

import email.parser
import email.policy
import json
import time
import uuid

from providers.adapters import standard_webhooks
from providers.emulators.server import EmulatedJob, Emulator, Request, Response, route

SECONDS = ("4", "8", "12")
SIZES = {"720x1280": "9:16", "1280x720": "16:9", "1024x1792": "9:16", "1792x1024": "16:9"}
PHASE_STATUS = {"queued": "queued", "running": "in_progress", "succeeded": "completed", "failed": "failed"}
POLL_AFTER_MS = "250"
ASSET_LIFETIME_SECONDS = 3600
# Failed-job codes are UNCONFIRMED (§3): `moderation_blocked` is OpenAI's moderation code elsewhere.
JOB_ERRORS = {
    "policy": {"code": "moderation_blocked", "message": "Your request was blocked by our moderation system."},
    "fail": {"code": "video_generation_failed", "message": "Video generation failed. Please try again."},
}


def openai_error(status: int, message: str, *, kind: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None, headers: dict | None = None) -> Response:
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return Response(status, body, headers or {})


FAULT_RESPONSES = {
    "429": lambda: openai_error(429, "Rate limit reached for sora-2 on requests per min (RPM): Limit 10, Used 10.",
                                kind="requests", code="rate_limit_exceeded", headers={"Retry-After": "1"}),
    "500": lambda: openai_error(500, "The server had an error while processing your request. Sorry about that!",
                                kind="server_error"),
    "503": lambda: openai_error(503, "The engine is currently overloaded, please try again later.",
                                kind="server_error"),
    "policy": lambda: openai_error(400, "Your request was blocked by our moderation system.",
                                   code="moderation_blocked"),
    "credit": lambda: openai_error(429, "You exceeded your current quota, please check your plan and billing details.",
                                   kind="insufficient_quota", code="insufficient_quota"),
    "bad_request": lambda: openai_error(400, "Invalid value: '5'. Supported values are: '4', '8', and '12'.",
                                        code="invalid_value", param="seconds"),
    "auth": lambda: openai_error(401, "Incorrect API key provided. You can find your API key at "
                                 "https://platform.openai.com/account/api-keys.", code="invalid_api_key"),
}


class OpenAIVideosEmulator(Emulator):
    family = "openai_videos"
    routes = (
        route("POST", "/v1/videos", "submit", "video_create"),
        route("GET", r"/v1/videos/(?P<video_id>[\w-]+)", "status", "video_retrieve"),
        route("GET", r"/v1/videos/(?P<video_id>[\w-]+)/content", "download", "video_content"),
        route("DELETE", r"/v1/videos/(?P<video_id>[\w-]+)", "delete", "video_delete"),
        route("POST", "/_emulator/webhook_endpoint", "configure", "webhook_endpoint_set"),
    )

    def __init__(self, *, webhook_url: str | None = None, webhook_secret: str | None = None, **kwargs):
        super().__init__(**kwargs)
        self.webhook_url = webhook_url  # the endpoint "configured in the dashboard"
        self.webhook_secret = webhook_secret or standard_webhooks.new_secret()
        self.deleted: set[str] = set()

    def error_response(self, fault: str) -> Response:
        return FAULT_RESPONSES[fault]()

    # -- endpoints --------------------------------------------------------------------------
    def video_create(self, request: Request) -> Response:
        if not request.headers.get("authorization", "").startswith("Bearer "):
            return FAULT_RESPONSES["auth"]()
        fields, files = _multipart_fields(request)
        if fields is None:
            return openai_error(400, "This endpoint expects multipart/form-data.", code="invalid_content_type")
        invalid = _invalid_field(fields)
        if invalid:
            return invalid
        job = self.job_create(
            prompt=fields["prompt"], duration_seconds=int(fields.get("seconds", "4")),
            aspect_ratio=SIZES[fields.get("size", "720x1280")], callback_url=self.webhook_url,
            job_id=f"video_{uuid.uuid4().hex}", model=fields.get("model", "sora-2"), model_id=fields.get("model", "sora-2"),
            seconds=fields.get("seconds", "4"), size=fields.get("size", "720x1280"),
            input_reference=_reference_of(fields, files), created_unix=int(time.time()),
        )
        return Response(200, self.video_object(job))

    def video_retrieve(self, request: Request, video_id: str) -> Response:
        job = self._job(video_id)
        if job is None:
            return _not_found(video_id)
        return Response(200, self.video_object(job), {"openai-poll-after-ms": POLL_AFTER_MS})

    def video_content(self, request: Request, video_id: str) -> Response:
        job = self._job(video_id)
        if job is None:
            return _not_found(video_id)
        if request.query.get("variant", "video") != "video":
            return openai_error(400, "The emulator serves only the `video` variant.", param="variant")
        if self.job_phase(job)[0] != "succeeded":
            return openai_error(400, f"Video {video_id} is not ready: its status is not completed.",
                                code="video_not_ready")
        return Response(200, self.output_path(job).read_bytes(), content_type="video/mp4")

    def video_delete(self, request: Request, video_id: str) -> Response:
        if self._job(video_id) is None:
            return _not_found(video_id)
        self.deleted.add(video_id)
        return Response(200, {"id": video_id, "object": "video.deleted", "deleted": True})

    def webhook_endpoint_set(self, request: Request) -> Response:
        """The dashboard's webhook settings, for sandbox mode: `{"url": "https://…"}` or `{"url": null}`."""
        self.webhook_url = (request.json() or {}).get("url")
        return Response(204)

    # -- the video object -------------------------------------------------------------------
    def video_object(self, job: EmulatedJob, phase: str | None = None) -> dict:
        current, progress = self.job_phase(job)
        phase = phase or current
        finished = phase in ("succeeded", "failed")
        created = job.meta["created_unix"]
        return {
            "id": job.id, "object": "video", "model": job.meta["model"], "status": PHASE_STATUS[phase],
            "progress": 100 if finished else progress, "created_at": created,
            "completed_at": created + int(self.latency_seconds) if finished else None,
            "expires_at": created + ASSET_LIFETIME_SECONDS if phase == "succeeded" else None,
            "prompt": job.prompt, "size": job.meta["size"], "seconds": job.meta["seconds"],
            "remixed_from_video_id": None,
            "error": JOB_ERRORS[job.outcome] if phase == "failed" else None,
        }

    def _job(self, video_id: str) -> EmulatedJob | None:
        return None if video_id in self.deleted else self.jobs.get(video_id)

    # -- webhooks ---------------------------------------------------------------------------
    def callback_phases(self) -> tuple[str, ...]:
        return ("succeeded", "failed")

    def callback_request(self, job: EmulatedJob, phase: str) -> tuple[bytes, dict[str, str]]:
        event = {
            "id": f"evt_{uuid.uuid4().hex}", "object": "event", "created_at": int(time.time()),
            "type": "video.completed" if phase == "succeeded" else "video.failed", "data": {"id": job.id},
        }
        body = _json_bytes(event)
        headers = standard_webhooks.sign(body, self.webhook_secret, webhook_id=f"wh_{uuid.uuid4().hex}")
        return body, {"Content-Type": "application/json", **headers}


def _invalid_field(fields: dict[str, str]) -> Response | None:
    prompt = fields.get("prompt", "")
    if not 1 <= len(prompt) <= 32000:
        return openai_error(400, "Missing required parameter: 'prompt'." if not prompt else
                            "Invalid 'prompt': string too long.", code="invalid_value", param="prompt")
    if fields.get("seconds", "4") not in SECONDS:
        return openai_error(400, f"Invalid value: '{fields['seconds']}'. Supported values are: '4', '8', and '12'.",
                            code="invalid_value", param="seconds")
    if fields.get("size", "720x1280") not in SIZES:
        return openai_error(400, f"Invalid value: '{fields['size']}'. Supported values are: '720x1280', '1280x720', "
                            "'1024x1792', and '1792x1024'.", code="invalid_value", param="size")
    return None


def _multipart_fields(request: Request) -> tuple[dict[str, str] | None, dict[str, dict]]:
    """Text fields and file parts of a multipart/form-data body (None when it isn't one)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return None, {}
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + request.body)
    fields, files = {}, {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True) or b""
        if part.get_filename():
            files[name] = {"filename": part.get_filename(), "content_type": part.get_content_type(),
                           "size": len(payload)}
        else:
            fields[name] = payload.decode("utf-8")
    return fields, files


def _reference_of(fields: dict[str, str], files: dict[str, dict]) -> dict | None:
    if "input_reference" in files:
        return {"file": files["input_reference"]}
    for key in ("image_url", "file_id"):
        if f"input_reference[{key}]" in fields:
            return {key: fields[f"input_reference[{key}]"]}
    return None


def _not_found(video_id: str) -> Response:
    return openai_error(404, f"Video with id '{video_id}' not found.", param="video_id")


def _json_bytes(value: dict) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
