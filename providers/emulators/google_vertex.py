"""Veo on Vertex AI as provider_contracts.md §4 "Vertex AI REST" documents it.

POST /v1/projects/{p}/locations/{l}/publishers/google/models/{m}:predictLongRunning
  → {"name": "projects/{p}/locations/{l}/publishers/google/models/{m}/operations/{uuid}"};
POST /v1/projects/{p}/locations/{l}/publishers/google/models/{m}:fetchPredictOperation {"operationName"}
  → {"name"} while running (proto3 JSON leaves out `done: false`), then {"name", "done": true,
  "response": {"videos": [{"bytesBase64Encoded", "mimeType"}]}} — or `gcsUri` when the request named a
  `storageUri` — or a safety-filtered response, or an `error` carrying only the gRPC code.
Every call needs `Authorization: Bearer <token>` (401 UNAUTHENTICATED otherwise). Errors are
google.rpc.Status bodies. No callbacks: Vertex announces only to Pub/Sub.
"""

import base64
import binascii
import re
import uuid

from providers.emulators.google_veo import rpc_response
from providers.emulators.server import EmulatedJob, Emulator, Request, Response, route

MODELS_PATH = r"/v1/projects/(?P<project>[\w-]+)/locations/(?P<location>[\w-]+)/publishers/google/models"
FETCH_PATH = re.compile(rf"^{MODELS_PATH}/(?P<model>[\w.-]+):fetchPredictOperation$")
OPERATION_NAME = re.compile(r"^projects/([\w-]+)/locations/([\w-]+)/publishers/google/models/([\w.-]+)"
                            r"/operations/([\w-]+)$")
MODELS = ("veo-3.1-generate-001", "veo-3.1-fast-generate-001")
DURATIONS = (4, 6, 8)
RESOLUTIONS = ("720p", "1080p")
ASPECT_RATIOS = ("16:9", "9:16")
PARAMETERS = {"sampleCount", "durationSeconds", "aspectRatio", "resolution", "negativePrompt", "seed",
              "generateAudio", "personGeneration", "storageUri", "enhancePrompt", "fps", "pubsubTopic",
              "compressionQuality", "resizeMode"}
INSTANCE_FIELDS = {"prompt", "image", "lastFrame", "referenceImages", "video", "mask"}
RESPONSE_TYPE = "type.googleapis.com/cloud.ai.large_models.vision.GenerateVideoResponse"
RAI_REASON = ("Unable to show generated videos. All videos were filtered out because they violated Vertex AI's "
              "usage guidelines. You will not be charged for blocked videos. Support codes: 58061214")
SERVICE = "aiplatform.googleapis.com"
NO_CREDENTIALS = ("Request is missing required authentication credential. Expected OAuth 2 access token, login "
                  "cookie or other valid authentication credential. See "
                  "https://developers.google.com/identity/sign-in/web/devconsole-project.")
BAD_CREDENTIALS = ("Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
                   "or other valid authentication credential. See "
                   "https://developers.google.com/identity/sign-in/web/devconsole-project.")


def error_info(reason: str, **metadata) -> dict:
    return {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason, "domain": "googleapis.com",
            "metadata": {"service": SERVICE, **metadata}}


def filtered_operation(name: str) -> dict:
    response = {"@type": RESPONSE_TYPE, "raiMediaFilteredCount": 1, "raiMediaFilteredReasons": [RAI_REASON]}
    return {"name": name, "done": True, "response": response}


class GoogleVertexEmulator(Emulator):
    family = "google_vertex"
    routes = (
        route("POST", rf"{MODELS_PATH}/(?P<model>[\w.-]+):predictLongRunning", "submit", "create"),
        route("POST", rf"{MODELS_PATH}/(?P<model>[\w.-]+):fetchPredictOperation", "status", "fetch"),
    )

    def __init__(self, *, access_token: str | None = None, **options):
        """`access_token`: when set, only that bearer token is accepted (any non-empty one otherwise)."""
        super().__init__(**options)
        self.access_token = access_token

    # -- faults -------------------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        """A "policy" fault on a poll is what Veo really reports: a finished, safety-filtered operation."""
        if FETCH_PATH.match(request.path) and request.method == "POST" and self._next_fault("status") == "policy":
            self._take_fault("status")
            self.requests_seen.append(request)
            return Response(200, filtered_operation(_operation_name_in(request)))
        return super().dispatch(request)

    def _next_fault(self, operation: str) -> str | None:
        with self._lock:
            return next((fault for op, fault in self.faults if op == operation), None)

    def error_response(self, fault: str) -> Response:
        if fault == "429":  # RetryInfo on a quota error: the google.rpc convention (UNCONFIRMED for Vertex)
            retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}
            return rpc_response(429, "RESOURCE_EXHAUSTED", "Quota exceeded for aiplatform.googleapis.com/"
                                "online_prediction_requests_per_base_model with base model: veo-3.1-generate. "
                                "Please submit a quota increase request.", retry)
        if fault == "auth":
            return rpc_response(401, "UNAUTHENTICATED", BAD_CREDENTIALS, error_info("ACCESS_TOKEN_EXPIRED"))
        if fault == "credit":
            return rpc_response(403, "PERMISSION_DENIED", "This API method requires billing to be enabled. Please "
                                "enable billing on project #123456789012 then retry.",
                                error_info("BILLING_DISABLED", consumer="projects/123456789012"))
        canned = {
            "500": (500, "INTERNAL", "Internal error encountered."),
            "503": (503, "UNAVAILABLE", "The service is currently unavailable."),
            "bad_request": (400, "INVALID_ARGUMENT", "Request contains an invalid argument."),
            "policy": (400, "INVALID_ARGUMENT", "The prompt could not be submitted. This prompt contains sensitive "
                                                "words that violate Google's Responsible AI practices. Try "
                                                "rephrasing the prompt. Support codes: 29310472"),
        }
        return rpc_response(*canned[fault])

    # -- endpoints ----------------------------------------------------------------------------
    def create(self, request: Request, project: str, location: str, model: str) -> Response:
        refusal = self._token_refusal(request)
        if refusal:
            return refusal
        try:
            body = request.json()
        except ValueError:
            return rpc_response(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        if model not in MODELS:
            return rpc_response(404, "NOT_FOUND", f"Publisher Model `projects/{project}/locations/{location}/"
                                                  f"publishers/google/models/{model}` not found.")
        problem = body_problem(body)
        if problem:
            return rpc_response(400, "INVALID_ARGUMENT", problem)
        parameters = body.get("parameters", {})
        job = self.job_create(prompt=body["instances"][0].get("prompt", ""), job_id=str(uuid.uuid4()),
                              duration_seconds=parameters.get("durationSeconds", 8),
                              aspect_ratio=parameters.get("aspectRatio", "16:9"), model=model, model_id=model,
                              seed_asked=parameters.get("seed"),
                              project=project, location=location, storage_uri=parameters.get("storageUri"))
        if job.outcome == "succeed" and not job.meta["storage_uri"]:  # render while the job "runs":
            # the finished poll carries the bytes inline
            self.output_prerender(job)
        return Response(200, {"name": self.operation_name(job)})

    def fetch(self, request: Request, project: str, location: str, model: str) -> Response:
        refusal = self._token_refusal(request)
        if refusal:
            return refusal
        name = _operation_name_in(request)
        parts = OPERATION_NAME.match(name)
        if not parts:
            return rpc_response(400, "INVALID_ARGUMENT", f"Invalid operation name: {name!r}.")
        job = self.jobs.get(parts.group(4))
        if job is None or parts.groups()[:3] != (project, location, model) or self.operation_name(job) != name:
            return rpc_response(404, "NOT_FOUND", f"Operation {name} not found.")
        return Response(200, self.operation_body(job))

    # -- state --------------------------------------------------------------------------------
    def operation_name(self, job: EmulatedJob) -> str:
        meta = job.meta
        return (f"projects/{meta['project']}/locations/{meta['location']}/publishers/google/models/"
                f"{meta['model']}/operations/{job.id}")

    def operation_body(self, job: EmulatedJob) -> dict:
        name = self.operation_name(job)
        if self.job_phase(job)[0] not in ("succeeded", "failed"):
            return {"name": name}
        if job.outcome == "policy":
            return filtered_operation(name)
        if job.outcome == "fail":  # an operation's error carries the gRPC code (13 INTERNAL), no status name
            return {"name": name, "done": True, "error": {"code": 13, "message": "Video generation failed."}}
        return {"name": name, "done": True, "response": {"@type": RESPONSE_TYPE, "videos": [self.video(job)]}}

    def video(self, job: EmulatedJob) -> dict:
        storage = job.meta.get("storage_uri")
        if storage:
            return {"gcsUri": f"{storage.rstrip('/')}/{job.id}/sample_0.mp4", "mimeType": "video/mp4"}
        encoded = base64.b64encode(self.output_path(job).read_bytes()).decode("ascii")
        return {"bytesBase64Encoded": encoded, "mimeType": "video/mp4"}

    def _token_refusal(self, request: Request) -> Response | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return rpc_response(401, "UNAUTHENTICATED", NO_CREDENTIALS, error_info("CREDENTIALS_MISSING"))
        if self.access_token is not None and token.strip() != self.access_token:
            return rpc_response(401, "UNAUTHENTICATED", BAD_CREDENTIALS, error_info("ACCESS_TOKEN_EXPIRED"))
        return None

    def callback_phases(self) -> tuple[str, ...]:
        return ()  # Pub/Sub only


def _operation_name_in(request: Request) -> str:
    try:
        body = request.json()
    except ValueError:
        return ""
    name = body.get("operationName") if isinstance(body, dict) else None
    return name if isinstance(name, str) else ""


# -- validation -------------------------------------------------------------------------------


def body_problem(body) -> str | None:
    """What Vertex would refuse in a predictLongRunning body, in its own words."""
    if not isinstance(body, dict):
        return "Invalid JSON payload received. Expected an object."
    instances = body.get("instances")
    if not isinstance(instances, list) or len(instances) != 1 or not isinstance(instances[0], dict):
        return "instances must hold exactly one instance."
    parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
    unknown = (set(body) - {"instances", "parameters", "labels"}) | (set(parameters) - PARAMETERS)
    unknown |= set(instances[0]) - INSTANCE_FIELDS
    if unknown:
        return f'Invalid JSON payload received. Unknown name "{sorted(unknown)[0]}": Cannot find field.'
    return _instance_problem(instances[0]) or _parameter_problem(parameters)


def _instance_problem(instance: dict) -> str | None:
    if not instance.get("prompt") and not instance.get("image"):
        return "A prompt or an image is required."
    for image in filter(None, [instance.get("image"), instance.get("lastFrame")]):
        if not isinstance(image, dict) or ("gcsUri" in image) == ("bytesBase64Encoded" in image):
            return "An image needs exactly one of gcsUri and bytesBase64Encoded."
        if "gcsUri" in image and not str(image["gcsUri"]).startswith("gs://"):
            return "gcsUri must be a gs:// URI."
        if "bytesBase64Encoded" in image and not image.get("mimeType"):
            return "mimeType is required with bytesBase64Encoded."
        try:
            base64.b64decode(image.get("bytesBase64Encoded", ""), validate=True)
        except binascii.Error:
            return "bytesBase64Encoded is not valid base64."
    return None


def _parameter_problem(parameters: dict) -> str | None:
    duration = parameters.get("durationSeconds", 8)
    checks = {
        f"durationSeconds must be one of {', '.join(map(str, DURATIONS))}.":
            duration not in DURATIONS or isinstance(duration, bool),
        f"aspectRatio must be one of {', '.join(ASPECT_RATIOS)}.":
            parameters.get("aspectRatio", "16:9") not in ASPECT_RATIOS,
        f"resolution must be one of {', '.join(RESOLUTIONS)}.":
            parameters.get("resolution", "720p") not in RESOLUTIONS,
        "sampleCount must be between 1 and 4.": parameters.get("sampleCount", 1) not in range(1, 5),
        "seed must be an integer between 0 and 4294967295.": parameters.get("seed", 0) not in range(0, 2**32),
        # Vertex's reference lists generateAudio as required for Veo 3 models (UNCONFIRMED that it still is).
        "generateAudio is required for Veo 3 models and must be a boolean.":
            not isinstance(parameters.get("generateAudio"), bool),
        "storageUri must be a gs:// URI.": not str(parameters.get("storageUri", "gs://")).startswith("gs://"),
    }
    return next((problem for problem, applies in checks.items() if applies), None)
