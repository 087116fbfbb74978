"""Google Veo on Vertex AI ({location}-aiplatform.googleapis.com, `Authorization: Bearer <OAuth token>`).

Submit POST /v1/projects/{project}/locations/{location}/publishers/google/models/{model}:predictLongRunning
→ {"name": "projects/…/locations/…/publishers/google/models/{model}/operations/{id}"}; the operation
name is our job id (it names the model, which polling needs). Poll POST …/models/{model}:fetchPredictOperation
with {"operationName": name} (provider_contracts.md §4 "Vertex AI REST"; google-genai `operations.py`
derives the same resource from the name): `done` false or absent → running (Veo reports no progress);
done with `response.videos` → succeeded; done with `raiMediaFilteredCount` and no videos → content-policy
rejection; `error` (google.rpc.Status, often only the gRPC code) → classified like the Gemini API adapter.

Outputs: without `parameters.storageUri` Vertex returns the MP4 inline as `bytesBase64Encoded`, which is
what this adapter asks for; GCS outputs (`gcsUri`) would need a GCS download this installation does not
have. No cancel, no idempotency key (the Vertex request has no request-id field; a retried submit can
start a second operation), no callbacks (Vertex announces only to a Pub/Sub topic).

Plain httpx rather than google-genai: the SDK's Vertex mode wants google-auth credentials and a project
it resolves itself, while we are handed a bearer token; the wire shape is the SDK's Vertex mapping
(`_GenerateVideosConfig_to_vertex`, `_Video_from_vertex`).
"""

import base64
import binascii
import mimetypes
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx

from providers.adapters.google_veo.errors import http_error, rpc_error
from providers.adapters.google_veo.inputs import inline_image
from providers.adapters.http import DEFAULT_TIMEOUT, download_to, json_body, transport_error
from providers.adapters.safe_download import NotAVideo, looks_like_video
from providers.base import (
    AuthenticationFailed,
    BadRequest,
    ContentPolicyRejected,
    GenerationRequest,
    JobState,
    JobStatus,
    ProviderError,
    TransientProviderError,
    VideoAdapter,
)

API_VERSION = "v1"  # the documented REST version; the SDK itself uses v1beta1
OPERATION_NAME = re.compile(
    r"^projects/[^/]+/locations/[^/]+/publishers/google/models/(?P<model>[\w.-]+)/operations/[\w-]+$")
SEED_RANGE = range(0, 2**32)  # Vertex: uint32
INLINE_VIDEOS_KEPT = 2  # base64 videos of a few MB each, held from a poll to the download after it
GCS_NOT_CONFIGURED = ("Vertex stored this video in Google Cloud Storage ({uri}); downloading GCS outputs "
                      "(parameters.storageUri) needs GCS credentials and download support that this "
                      "installation does not configure, so the video cannot be fetched.")


@dataclass(frozen=True)
class VertexVeoModel:
    """What one Veo model accepts on Vertex AI (provider_contracts.md §4; figures UNCONFIRMED-official)."""

    model_id: str
    durations: tuple[int, ...] = (4, 6, 8)
    aspect_ratios: tuple[str, ...] = ("16:9", "9:16")
    resolutions: tuple[str, ...] = ("720p", "1080p")


MODELS = {spec.model_id: spec for spec in (VertexVeoModel("veo-3.1-generate-001"),
                                           VertexVeoModel("veo-3.1-fast-generate-001"))}


class GoogleVertexAdapter(VideoAdapter):
    family = "google_vertex"
    supports_cancel = False  # no cancel for Veo operations (UNCONFIRMED in REST): never called
    supports_callbacks = False  # Pub/Sub `pubsubTopic` only: parse_webhook keeps the base refusal

    def __init__(self, *, access_token: str, project: str, location: str, base_url: str | None = None,
                 timeout: float = 30.0):
        """`access_token`: an OAuth 2 token for the project (e.g. `gcloud auth print-access-token`)."""
        if not (access_token and project and location):
            raise ValueError("Vertex AI needs an access token, a project and a location.")
        self.base_url = (base_url or f"https://{location}-aiplatform.googleapis.com").rstrip("/")
        self._models_path = (f"{self.base_url}/{API_VERSION}/projects/{quote(project, safe='')}"
                             f"/locations/{quote(location, safe='')}/publishers/google/models")
        self._http = _bearer_client(access_token, httpx.URL(self.base_url), timeout)
        # The poll that finds an operation done already holds its inline video; the download that
        # follows in the same task takes it from here instead of fetching the operation again.
        self._inline_videos: OrderedDict[str, str] = OrderedDict()

    def submit(self, request: GenerationRequest) -> JobStatus:
        body = predict_body(request, self._http)
        answer = self._post(self._model_url(request.model_id, "predictLongRunning"), body)
        name = answer.get("name")
        if not isinstance(name, str) or not OPERATION_NAME.match(name):
            raise TransientProviderError("Vertex accepted the job but sent no usable operation name.")
        return JobStatus(job_id=name, state=JobState.QUEUED, raw_status="submitted")

    def status(self, job_id: str) -> JobStatus:
        operation = self._operation(job_id)
        status = operation_status(job_id, operation)
        video = finished_video(operation) if status.state == JobState.SUCCEEDED else None
        if video is not None and isinstance(video.get("bytesBase64Encoded"), str):
            self._inline_videos[job_id] = video["bytesBase64Encoded"]
            while len(self._inline_videos) > INLINE_VIDEOS_KEPT:
                self._inline_videos.popitem(last=False)
        return status

    def fetch_output(self, status: JobStatus, destination: Path, *, max_bytes: int) -> Path:
        url = status.output_url
        kept = self._inline_videos.pop(status.job_id, None)
        if not url and kept is not None:
            return write_inline_video(kept, destination, max_bytes=max_bytes)
        if not url:  # inline bytes are not carried in JobStatus: fetch the finished operation again
            video = finished_video(self._operation(status.job_id))
            if video is None:
                raise BadRequest(f"Vertex operation {status.job_id} has no video to download.")
            if isinstance(video.get("bytesBase64Encoded"), str):
                return write_inline_video(video["bytesBase64Encoded"], destination, max_bytes=max_bytes)
            url = video.get("gcsUri") or ""
        if url.startswith("gs://"):
            raise BadRequest(GCS_NOT_CONFIGURED.format(uri=url))
        if url.startswith("https://") or url.startswith("http://"):
            return download_to(url, destination, max_bytes=max_bytes, client=self._http)
        raise BadRequest(f"Vertex operation {status.job_id} gave no downloadable video location.")

    # -- HTTP ---------------------------------------------------------------------------------
    def _operation(self, job_id: str) -> dict:
        match = OPERATION_NAME.match(job_id or "")
        if not match:
            raise BadRequest(f"{job_id!r} is not a Vertex Veo operation name.")
        return self._post(self._model_url(match["model"], "fetchPredictOperation"), {"operationName": job_id})

    def _model_url(self, model_id: str, method: str) -> str:
        return f"{self._models_path}/{quote(model_id, safe='')}:{method}"

    def _post(self, url: str, body: dict) -> dict:
        try:
            response = self._http.post(url, json=body)
        except httpx.HTTPError as error:
            raise transport_error(error) from None
        if response.status_code != 200:
            raise vertex_error(http_error(response.status_code, _json_or_none(response), response.headers))
        answer = json_body(response)
        if not isinstance(answer, dict):
            raise TransientProviderError("Vertex sent a malformed answer (not a JSON object).")
        return answer


def _bearer_client(access_token: str, api_origin: httpx.URL, timeout: float) -> httpx.Client:
    """An httpx client that sends our token to the Vertex origin only (image fetches, redirects)."""

    def token_for_api_origin_only(request: httpx.Request) -> None:
        same_origin = (request.url.scheme, request.url.host, request.url.port) == (
            api_origin.scheme, api_origin.host, api_origin.port)
        if same_origin:
            request.headers["Authorization"] = f"Bearer {access_token}"
        else:
            request.headers.pop("Authorization", None)

    return httpx.Client(timeout=httpx.Timeout(timeout, connect=DEFAULT_TIMEOUT.connect), follow_redirects=True,
                        event_hooks={"request": [token_for_api_origin_only]})


def _json_or_none(response: httpx.Response):
    try:
        return response.json()
    except ValueError:
        return None


def vertex_error(error: ProviderError) -> ProviderError:
    """The Gemini classification, with an ops hint where Vertex differs: tokens expire (about an hour)."""
    if isinstance(error, AuthenticationFailed):
        return AuthenticationFailed(f"Vertex AI refused our access token (expired, or lacking "
                                    f"aiplatform permission on the project?): {error.reason}")
    return error


# -- the request ------------------------------------------------------------------------------


def predict_body(request: GenerationRequest, client: httpx.Client) -> dict:
    """Vertex wire names (SDK `_GenerateVideosConfig_to_vertex`). No storageUri: outputs come back inline."""
    spec = _model(request.model_id)
    _refuse_unsupported(spec, request)
    instance: dict = {"prompt": request.prompt}
    if request.image_url:
        instance["image"] = vertex_image(request.image_url, client)
    if request.end_image_url:
        instance["lastFrame"] = vertex_image(request.end_image_url, client)
    parameters: dict = {"sampleCount": 1, "durationSeconds": request.duration_seconds,
                        "aspectRatio": request.aspect_ratio, "generateAudio": request.with_audio}
    if request.resolution:
        parameters["resolution"] = request.resolution
    if request.negative_prompt:
        parameters["negativePrompt"] = request.negative_prompt
    if request.seed is not None:
        parameters["seed"] = request.seed
    return {"instances": [instance], "parameters": parameters}


def vertex_image(url: str, client: httpx.Client) -> dict:
    """A `gs://` image goes by reference (`gcsUri`); data: and https images inline, as on the Gemini API."""
    if url.startswith("gs://"):
        return {"gcsUri": url, "mimeType": mimetypes.guess_type(url)[0] or "image/png"}
    return inline_image(url, client)


def _model(model_id: str) -> VertexVeoModel:
    try:
        return MODELS[model_id]
    except KeyError:
        raise BadRequest(f"Vertex Veo model {model_id!r} is not supported by this adapter.") from None


def _refuse_unsupported(spec: VertexVeoModel, request: GenerationRequest) -> None:
    refusals = {
        f"renders {', '.join(map(str, spec.durations))} seconds, not {request.duration_seconds}":
            request.duration_seconds not in spec.durations,
        f"renders {' or '.join(spec.aspect_ratios)}, not {request.aspect_ratio}":
            request.aspect_ratio not in spec.aspect_ratios,
        f"cannot render at {request.resolution}": request.resolution not in ("", *spec.resolutions),
        "takes no reference images here": bool(request.reference_image_urls),
        "cannot render multi-shot prompts": bool(request.multi_shot),
        f"takes a seed between 0 and {SEED_RANGE.stop - 1}":
            request.seed is not None and request.seed not in SEED_RANGE,
    }
    for refusal, applies in refusals.items():
        if applies:
            raise BadRequest(f"Veo {spec.model_id} {refusal}.")


# -- the operation ----------------------------------------------------------------------------


def operation_status(job_id: str, operation: dict) -> JobStatus:
    """Map a fetchPredictOperation answer onto JobStatus (proto3 JSON may omit `done` while false)."""
    if not operation.get("done"):
        return JobStatus(job_id, JobState.RUNNING, "running")
    error = operation.get("error")
    if isinstance(error, dict):
        raw = f"error:{error.get('status') or error.get('code')}"
        return JobStatus(job_id, JobState.FAILED, raw, error=vertex_error(rpc_error(error)))
    video = finished_video(operation)
    if video is not None:
        inline = isinstance(video.get("bytesBase64Encoded"), str)
        return JobStatus(job_id, JobState.SUCCEEDED, "done", progress=100,
                         output_url=None if inline else video.get("gcsUri"))
    response = operation.get("response") if isinstance(operation.get("response"), dict) else {}
    if response.get("raiMediaFilteredCount"):
        reasons = "; ".join(map(str, response.get("raiMediaFilteredReasons") or [])) or "no reason given"
        return JobStatus(job_id, JobState.FAILED, "rai_filtered",
                         error=ContentPolicyRejected(f"Google's safety filters blocked this take: {reasons}"))
    return JobStatus(job_id, JobState.FAILED, "done_without_video",
                     error=TransientProviderError("Vertex finished the operation without a video or a reason."))


def finished_video(operation: dict) -> dict | None:
    """The first of `response.videos[]` that carries bytes or a GCS URI (we ask for one sample)."""
    response = operation.get("response") if operation.get("done") else None
    videos = response.get("videos") if isinstance(response, dict) else None
    for video in videos if isinstance(videos, list) else []:
        if isinstance(video, dict) and (video.get("bytesBase64Encoded") or video.get("gcsUri")):
            return video
    return None


def write_inline_video(encoded: str, destination: Path, *, max_bytes: int) -> Path:
    """Decode `bytesBase64Encoded` to disk, refusing anything over `max_bytes` or not a video."""
    if (len(encoded) // 4) * 3 > max_bytes + 2:  # checked before decoding: base64 is 4 chars per 3 bytes
        raise BadRequest(f"Vertex's video is over our {max_bytes} byte limit.")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise TransientProviderError("Vertex sent a garbled inline video (not base64).") from None
    if len(data) > max_bytes:
        raise BadRequest(f"Vertex's video is {len(data)} bytes, over our {max_bytes} byte limit.")
    if not looks_like_video(data[:16]):
        raise NotAVideo("Vertex's inline file is not a video (no MP4 or WebM header).")
    destination.write_bytes(data)
    return destination
