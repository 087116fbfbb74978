"""The Gemini API's Veo endpoints as provider_contracts.md §4 documents them.

POST /v1beta/models/{model}:predictLongRunning → {"name": "models/{model}/operations/{id}"};
GET /v1beta/models/{model}/operations/{id} → {"name", "done", "error"? | "response"?};
GET /v1beta/files/{id}:download?alt=media → the MP4 (needs the API key, like the real URI).
Every call needs `x-goog-api-key`. Errors are google.rpc.Status bodies. Callbacks go to
`webhookConfig.uris` unsigned, in the documented-most-likely thin shape (UNCONFIRMED).
"""

import base64
import binascii
import re
import time
import uuid
from datetime import datetime, timezone

from providers.emulators.server import EmulatedJob, Emulator, Request, Response, route

API = "/v1beta"
MODEL_DURATIONS = {
    "veo-3.1-generate-preview": (4, 6, 8),
    "veo-3.1-fast-generate-preview": (4, 6, 8),
    "veo-3.0-generate-001": (4, 6, 8),
    "veo-3.0-fast-generate-001": (4, 6, 8),
    "veo-2.0-generate-001": (5, 6, 8),
}
RESOLUTIONS = ("720p", "1080p")
ASPECT_RATIOS = ("16:9", "9:16")
# Gemini API parameters (SDK mldev mapping); seed, fps, generateAudio, storageUri… are Vertex-only.
PARAMETERS = {"sampleCount", "durationSeconds", "aspectRatio", "resolution", "personGeneration", "negativePrompt",
              "enhancePrompt"}
INSTANCE_FIELDS = {"prompt", "image", "lastFrame", "referenceImages", "video"}
OPERATION_PATH = re.compile(rf"^{API}/(models/[\w.-]+/operations/[\w-]+)$")
RAI_REASON = ("Veo could not generate videos because the input prompt may violate Google's usage guidelines. "
              "Please rephrase the prompt and try again.")
UNREGISTERED = ("Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API consumer identity to call this API.")


def rpc_response(http_status: int, status: str, message: str, *details: dict, headers=None) -> Response:
    body = {"error": {"code": http_status, "message": message, "status": status}}
    if details:
        body["error"]["details"] = list(details)
    return Response(http_status, body, headers or {})


def filtered_operation(name: str) -> dict:
    response = {"raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [RAI_REASON]}
    return {"name": name, "done": True, "response": {"@type": _RESPONSE_TYPE, "generateVideoResponse": response}}


_RESPONSE_TYPE = "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"


class GoogleVeoEmulator(Emulator):
    family = "google_veo"
    routes = (
        route("POST", rf"{API}/models/(?P<model>[\w.-]+):predictLongRunning", "submit", "create"),
        route("GET", rf"{API}/models/(?P<model>[\w.-]+)/operations/(?P<op_id>[\w-]+)", "status", "operation"),
        route("GET", rf"{API}/files/(?P<file_id>[\w-]+):download", "download", "download"),
    )

    # -- faults -------------------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        """A "policy" fault on a poll is what Veo really reports: a finished, safety-filtered operation."""
        poll = OPERATION_PATH.match(request.path)
        if poll and request.method == "GET" and self._next_fault("status") == "policy":
            self._take_fault("status")
            self.requests_seen.append(request)
            return Response(200, filtered_operation(poll.group(1)))
        return super().dispatch(request)

    def _next_fault(self, operation: str) -> str | None:
        with self._lock:
            return next((fault for op, fault in self.faults if op == operation), None)

    def error_response(self, fault: str) -> Response:
        if fault == "429":
            retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}
            return rpc_response(429, "RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).", retry)
        if fault in ("auth", "credit"):  # Google answers a wrong key with a 400, not a 401
            reason = "API_KEY_INVALID" if fault == "auth" else "BILLING_DISABLED"
            info = {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com"}
            if fault == "auth":
                return rpc_response(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", info)
            return rpc_response(403, "PERMISSION_DENIED", "Billing is disabled for this project.", info)
        canned = {
            "500": (500, "INTERNAL", "An internal error has occurred. Please retry or report the issue."),
            "503": (503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
            "bad_request": (400, "INVALID_ARGUMENT", "Request contains an invalid argument."),
            "policy": (400, "INVALID_ARGUMENT", "The prompt could not be submitted. This prompt contains sensitive "
                                                "words that violate Google's Responsible AI practices."),
        }
        return rpc_response(*canned[fault])

    # -- endpoints ----------------------------------------------------------------------------
    def create(self, request: Request, model: str) -> Response:
        refusal = self._key_refusal(request)
        if refusal:
            return refusal
        try:
            body = request.json()
        except ValueError:
            return rpc_response(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        if model not in MODEL_DURATIONS:
            return rpc_response(404, "NOT_FOUND", f"models/{model} is not found for API version v1beta, "
                                                  "or is not supported for predictLongRunning.")
        problem = body_problem(model, body)
        if problem:
            return rpc_response(400, "INVALID_ARGUMENT", problem)
        parameters = body.get("parameters", {})
        uris = body.get("webhookConfig", {}).get("uris") or [None]
        job = self.job_create(prompt=body["instances"][0].get("prompt", ""), job_id=uuid.uuid4().hex[:16],
                              duration_seconds=parameters.get("durationSeconds", 8),
                              aspect_ratio=parameters.get("aspectRatio", "16:9"), callback_url=uris[0], model=model,
                              model_id=model)
        return Response(200, {"name": self.operation_name(job)})

    def operation(self, request: Request, model: str, op_id: str) -> Response:
        refusal = self._key_refusal(request)
        if refusal:
            return refusal
        job = self.jobs.get(op_id)
        if job is None or job.meta.get("model") != model:
            return rpc_response(404, "NOT_FOUND", f"Operation models/{model}/operations/{op_id} not found.")
        return Response(200, self.operation_body(job))

    def download(self, request: Request, file_id: str) -> Response:
        refusal = self._key_refusal(request)
        if refusal:
            return refusal
        job = self.jobs.get(file_id)
        if job is None or self.job_phase(job)[0] != "succeeded" or job.outcome != "succeed":
            return rpc_response(404, "NOT_FOUND", f"File {file_id} not found.")
        return Response(200, self.output_path(job).read_bytes(), content_type="video/mp4")

    # -- state --------------------------------------------------------------------------------
    def operation_name(self, job: EmulatedJob) -> str:
        return f"models/{job.meta['model']}/operations/{job.id}"

    def download_url(self, job: EmulatedJob) -> str:
        return f"{self.url}{API}/files/{job.id}:download?alt=media"

    def operation_body(self, job: EmulatedJob) -> dict:
        name = self.operation_name(job)
        phase, _ = self.job_phase(job)
        if phase not in ("succeeded", "failed"):
            return {"name": name, "done": False}
        if job.outcome == "policy":
            return filtered_operation(name)
        if job.outcome == "fail":  # an operation's error carries the gRPC code (13 INTERNAL), no HTTP status
            return {"name": name, "done": True, "error": {"code": 13, "message": "Video generation failed."}}
        samples = [{"video": {"uri": self.download_url(job)}}]
        return {"name": name, "done": True,
                "response": {"@type": _RESPONSE_TYPE, "generateVideoResponse": {"generatedSamples": samples}}}

    def _key_refusal(self, request: Request) -> Response | None:
        if request.headers.get("x-goog-api-key") or request.query.get("key"):
            return None
        return rpc_response(403, "PERMISSION_DENIED", UNREGISTERED)

    # -- callbacks ----------------------------------------------------------------------------
    def callback_phases(self) -> tuple[str, ...]:
        return ("succeeded", "failed")

    def callback_request(self, job: EmulatedJob, phase: str) -> tuple[bytes, dict[str, str]]:
        data: dict = {"id": self.operation_name(job)}
        if phase == "succeeded" and job.outcome == "succeed":
            data["video_uri"] = self.download_url(job)
        else:
            data.update(error_code="FAILED", error_message="Video generation did not produce a video.")
        event = {"type": "video.generated", "version": "v1",
                 "timestamp": datetime.now(timezone.utc).isoformat(), "data": data}
        headers = {"Content-Type": "application/json", "webhook-id": f"msg_{uuid.uuid4().hex}",
                   "webhook-timestamp": str(int(time.time()))}
        return Response(body=event).encoded(), headers


def body_problem(model: str, body) -> str | None:
    """What the Gemini API would refuse in a predictLongRunning body, in its own words."""
    if not isinstance(body, dict):
        return "Invalid JSON payload received. Expected an object."
    unknown = set(body) - {"instances", "parameters", "webhookConfig"}
    unknown |= set(body.get("parameters") or {}) - PARAMETERS
    instances = body.get("instances")
    if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
        return "instances must hold exactly one instance."
    unknown |= set(instances[0]) - INSTANCE_FIELDS
    if unknown:
        return f'Invalid JSON payload received. Unknown name "{sorted(unknown)[0]}": Cannot find field.'
    return _instance_problem(instances[0]) or _parameter_problem(model, body.get("parameters") or {}) \
        or _webhook_problem(body.get("webhookConfig"))


def _instance_problem(instance: dict) -> str | None:
    if not instance.get("prompt") and not instance.get("image"):
        return "A prompt or an image is required."
    images = [instance.get("image"), instance.get("lastFrame")]
    images += [reference.get("image") if isinstance(reference, dict) else reference
               for reference in instance.get("referenceImages") or []]
    for image in filter(None, images):
        if not isinstance(image, dict) or "gcsUri" in image or not image.get("mimeType"):
            return "Images need bytesBase64Encoded and mimeType (gcsUri isn't supported by this API)."
        try:
            base64.b64decode(image.get("bytesBase64Encoded", ""), validate=True)
        except binascii.Error:
            return "bytesBase64Encoded is not valid base64."
    return None


def _parameter_problem(model: str, parameters: dict) -> str | None:
    duration = parameters.get("durationSeconds", 8)
    if not isinstance(duration, int) or duration not in MODEL_DURATIONS[model]:
        allowed = ", ".join(map(str, MODEL_DURATIONS[model]))
        return f"The value of durationSeconds ({duration!r}) must be one of {allowed} for {model}."
    if parameters.get("aspectRatio", "16:9") not in ASPECT_RATIOS:
        return f"aspectRatio must be one of {', '.join(ASPECT_RATIOS)}."
    if parameters.get("resolution", "720p") not in RESOLUTIONS:
        return f"resolution must be one of {', '.join(RESOLUTIONS)}."
    return None


def _webhook_problem(config) -> str | None:
    if config is None:
        return None
    uris = config.get("uris") if isinstance(config, dict) else None
    if not isinstance(uris, list) or not all(isinstance(uri, str) and uri for uri in uris):
        return "webhookConfig.uris must be a list of URIs."
    return None
