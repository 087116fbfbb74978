"""What each fal endpoint expects as its model input: one formatter per endpoint family, as data.

fal hosts many vendors' models behind one queue API, but every model has its own input schema
(shared/provider_contracts.md §2 "Model endpoint schemas", §9 Pika). Adding an endpoint is one
entry in ENDPOINT_FORMATTERS; the longest matching id prefix wins.
"""

from collections.abc import Callable

from providers.base import BadRequest, GenerationRequest

Formatter = Callable[[GenerationRequest], dict]


def _optional(**fields) -> dict:
    """The fields that carry a value: fal applies its own default to anything left out."""
    return {name: value for name, value in fields.items() if value not in (None, "")}


def kling_v3_input(request: GenerationRequest) -> dict:
    """Kling 3.0 / O3 (DOC): duration is a string "3"…"15"; multi-shot goes in `multi_prompt`."""
    model_input = {"duration": str(request.duration_seconds), "aspect_ratio": request.aspect_ratio,
                   # Sent explicitly: fal's default is audio on, which is billed at a higher rate.
                   "generate_audio": request.with_audio}
    if request.multi_shot:
        # Segment shape {prompt, duration-as-string} with shot_type "customize": 3P examples,
        # UNCONFIRMED in fal's own reference.
        model_input["multi_prompt"] = [{"prompt": segment.prompt, "duration": str(segment.duration_seconds)}
                                       for segment in request.multi_shot]
        model_input["shot_type"] = "customize"
    else:
        model_input["prompt"] = request.prompt
    return model_input | _optional(negative_prompt=request.negative_prompt, start_image_url=request.image_url,
                                   end_image_url=request.end_image_url)


def kling_v2_input(request: GenerationRequest) -> dict:
    """Kling 2.x (3P, UNCONFIRMED ids): duration "5"|"10"; image-to-video takes `image_url`/`tail_image_url`."""
    return {"prompt": request.prompt, "duration": str(request.duration_seconds),
            "aspect_ratio": request.aspect_ratio} | _optional(
        negative_prompt=request.negative_prompt, image_url=request.image_url, tail_image_url=request.end_image_url)


def kling_v4_input(request: GenerationRequest) -> dict:
    """Kling v4 (DOC llms.txt): duration is an integer 3–30; other inputs beyond these UNCONFIRMED."""
    return {"prompt": request.prompt, "duration": request.duration_seconds,
            "aspect_ratio": request.aspect_ratio} | _optional(resolution=request.resolution, image_url=request.image_url)


def veo_input(request: GenerationRequest) -> dict:
    """Veo 3 / 3.1 on fal (3P, UNCONFIRMED official): duration "4s"|"6s"|"8s"."""
    return {"prompt": request.prompt, "duration": f"{request.duration_seconds}s",
            "aspect_ratio": request.aspect_ratio, "generate_audio": request.with_audio} | _optional(
        resolution=request.resolution, negative_prompt=request.negative_prompt, seed=request.seed,
        image_url=request.image_url)


def hailuo_input(request: GenerationRequest) -> dict:
    """MiniMax Hailuo on fal (DOC for hailuo-02-fast): duration "6"|"10", `image_url` required."""
    # prompt_optimizer off: our compiler already wrote the prompt in Hailuo's terms, and the
    # take's stored compiled prompt should be what the model actually rendered.
    return {"prompt": request.prompt, "duration": str(request.duration_seconds),
            "prompt_optimizer": False} | _optional(image_url=request.image_url)


def generic_input(request: GenerationRequest) -> dict:
    """UNCONFIRMED schemas (Wan, Pika, PixVerse, unknown endpoints): the fields fal video models share.

    Duration as a digit string, as on every confirmed fal video schema except Kling v4.
    """
    return {"prompt": request.prompt, "duration": str(request.duration_seconds),
            "aspect_ratio": request.aspect_ratio} | _optional(
        resolution=request.resolution, negative_prompt=request.negative_prompt, seed=request.seed,
        image_url=request.image_url)


def generic_audio_input(request: GenerationRequest) -> dict:
    """UNCONFIRMED schemas of models with native audio (Seedance, LTX-2): generic plus `generate_audio`."""
    return generic_input(request) | {"generate_audio": request.with_audio}


UPSCALE_FACTOR = 2  # fal's default for video-upscaler (range 1–8): 720p becomes 1440p


def video_upscaler_input(request: GenerationRequest) -> dict:
    """fal-ai/video-upscaler (DOC, fal.ai/models/fal-ai/video-upscaler/llms.txt): `video_url`
    required, `scale` a float 1–8 (default 2). No prompt: it enlarges the video it is given."""
    if not request.video_url:
        raise BadRequest("fal's video upscaler needs the video to upscale.")
    return {"video_url": request.video_url, "scale": UPSCALE_FACTOR}


ENDPOINT_FORMATTERS: dict[str, Formatter] = {
    "fal-ai/video-upscaler": video_upscaler_input,
    "fal-ai/kling-video/v3/": kling_v3_input,
    "fal-ai/kling-video/o3/": kling_v3_input,
    "fal-ai/kling-video/v2": kling_v2_input,  # v2.1 master, v2.5-turbo, v2.6
    "fal-ai/kling-video/v4/": kling_v4_input,
    "fal-ai/veo3": veo_input,  # veo3, veo3/fast, veo3.1, veo3.1/fast and their image-to-video
    "fal-ai/minimax/": hailuo_input,
    "fal-ai/wan/": generic_input,
    "bytedance/seedance": generic_audio_input,
    "fal-ai/bytedance/seedance": generic_audio_input,
    "fal-ai/ltx-2": generic_audio_input,
    "fal-ai/pika/": generic_input,
    "fal-ai/pixverse/": generic_input,
}


def model_input(request: GenerationRequest) -> dict:
    matches = [prefix for prefix in ENDPOINT_FORMATTERS if request.model_id.startswith(prefix)]
    formatter = ENDPOINT_FORMATTERS[max(matches, key=len)] if matches else generic_input
    return formatter(request)


def endpoint_for(request: GenerationRequest) -> str:
    """The endpoint to call: a start frame moves a text-to-video id to its image-to-video sibling."""
    endpoint = request.model_id.strip("/")
    if not request.image_url or endpoint.endswith("image-to-video"):
        return endpoint
    if "text-to-video" in endpoint:
        return endpoint.replace("text-to-video", "image-to-video")
    return f"{endpoint}/image-to-video"  # e.g. fal-ai/veo3.1/fast → fal-ai/veo3.1/fast/image-to-video


def queue_app(endpoint: str) -> str:
    """`owner/alias` of an endpoint: fal's status, result and cancel paths drop the sub-path."""
    parts = endpoint.strip("/").split("/")
    return "/".join(parts[:3] if parts[0] in ("workflows", "comfy") else parts[:2])
