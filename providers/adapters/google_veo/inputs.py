"""The predictLongRunning body on the Gemini API, and which Veo models take what."""

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

import httpx

from providers.adapters.http import transport_error
from providers.base import BadRequest, GenerationRequest

MAX_INLINE_IMAGE_BYTES = 20 * 1024 * 1024  # the Gemini API's inline request limit


@dataclass(frozen=True)
class VeoModel:
    """What one Veo model accepts on the Gemini API (provider_contracts.md §4; UNCONFIRMED-official)."""

    model_id: str
    durations: tuple[int, ...]
    resolutions: tuple[str, ...] = ("720p", "1080p")
    references: bool = False  # instances[0].referenceImages and lastFrame (Veo 3.1)
    audio: bool = True  # Veo 3 always renders sound; `generateAudio` is refused on the Gemini API


VEO_31 = dict(durations=(4, 6, 8), references=True)
MODELS = {
    spec.model_id: spec
    for spec in (
        VeoModel("veo-3.1-generate-preview", **VEO_31),
        VeoModel("veo-3.1-fast-generate-preview", **VEO_31),
        VeoModel("veo-3.0-generate-001", (4, 6, 8)),
        VeoModel("veo-3.0-fast-generate-001", (4, 6, 8)),
        VeoModel("veo-2.0-generate-001", (5, 6, 8), resolutions=("720p",), audio=False),
    )
}
ASPECT_RATIOS = ("16:9", "9:16")


def predict_body(request: GenerationRequest, client: httpx.Client) -> dict:
    """Gemini API wire names (SDK mldev mapping). `seed` and `generateAudio` are Vertex-only: not sent."""
    spec = _model(request.model_id)
    _refuse_unsupported(spec, request)
    instance: dict = {"prompt": request.prompt}
    if request.image_url:
        instance["image"] = inline_image(request.image_url, client)
    if request.end_image_url:
        instance["lastFrame"] = inline_image(request.end_image_url, client)
    if request.reference_image_urls:
        instance["referenceImages"] = [{"image": inline_image(url, client), "referenceType": "ASSET"}
                                       for url in request.reference_image_urls]
    parameters: dict = {"aspectRatio": request.aspect_ratio, "durationSeconds": request.duration_seconds}
    if request.resolution:
        parameters["resolution"] = request.resolution
    if request.negative_prompt:
        parameters["negativePrompt"] = request.negative_prompt
    body = {"instances": [instance], "parameters": parameters}
    if request.callback_url:
        body["webhookConfig"] = {"uris": [request.callback_url]}
    return body


def _model(model_id: str) -> VeoModel:
    try:
        return MODELS[model_id]
    except KeyError:
        raise BadRequest(f"Veo model {model_id!r} is not supported by this adapter.") from None


def _refuse_unsupported(spec: VeoModel, request: GenerationRequest) -> None:
    refusals = {
        f"renders {', '.join(map(str, spec.durations))} seconds, not {request.duration_seconds}":
            request.duration_seconds not in spec.durations,
        f"renders 16:9 or 9:16, not {request.aspect_ratio}": request.aspect_ratio not in ASPECT_RATIOS,
        f"cannot render at {request.resolution}": request.resolution not in ("", *spec.resolutions),
        "cannot generate audio": request.with_audio and not spec.audio,
        "cannot take an end frame or reference images": (
            bool(request.end_image_url or request.reference_image_urls) and not spec.references),
        "cannot render multi-shot prompts": bool(request.multi_shot),
    }
    for refusal, applies in refusals.items():
        if applies:
            raise BadRequest(f"Veo {spec.model_id} {refusal}.")


def inline_image(url: str, client: httpx.Client) -> dict:
    """The Gemini API takes images inline only (`bytesBase64Encoded`, no gcsUri)."""
    if url.startswith("data:"):
        mime_type, data = _data_url(url)
    else:
        mime_type, data = _fetched_image(url, client)
    if len(data) > MAX_INLINE_IMAGE_BYTES:
        raise BadRequest("An input image is too large to send to Veo inline.")
    return {"bytesBase64Encoded": base64.b64encode(data).decode("ascii"), "mimeType": mime_type}


def _data_url(url: str) -> tuple[str, bytes]:
    header, _, payload = url[len("data:"):].partition(",")
    mime_type = header.split(";")[0] or "image/png"
    try:
        data = base64.b64decode(payload, validate=True) if header.endswith(";base64") else unquote_to_bytes(payload)
    except binascii.Error:
        raise BadRequest("An input image data: URL is not valid base64.") from None
    return mime_type, data


def _fetched_image(url: str, client: httpx.Client) -> tuple[str, bytes]:
    try:
        response = client.get(url)
    except httpx.HTTPError as error:
        raise transport_error(error) from None
    if response.status_code != 200:
        raise BadRequest(f"Could not fetch an input image for Veo (HTTP {response.status_code}).")
    return response.headers.get("content-type", "image/png").split(";")[0], response.content

