"""Self-hosted open video models run through diffusers from a model directory on this machine.

Wan 2.x, CogVideoX, LTX-Video and HunyuanVideo turn the prompt into video; Stable Video
Diffusion animates the shot's first reference image. Weights are never downloaded: a model
directory is a `save_pretrained` layout (model_index.json plus one folder per component) that ops
put on the worker, loaded with `local_files_only=True` while the Hub is switched off for the
process. The output contract is the animatic's: take.mp4 (H.264), poster.jpg and thumbnail.jpg.

torch and diffusers are an optional install (the `selfhosted` extra), imported only when a take
renders, so the web app and the other workers import this module without them.
"""

import importlib.util
import inspect
import json
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from PIL import Image, ImageOps

from providers.base import BadRequest, ProgressCallback, ProviderError, RenderedVideo, RenderRequest


def _hub_offline() -> None:
    """No weights from the Hub, ever: huggingface_hub reads these when it is first imported."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"


_hub_offline()


@dataclass(frozen=True)
class PipelineKind:
    class_name: str  # the diffusers pipeline class, as model_index.json names it
    short_side: int  # the default frame's short side, in pixels
    size_multiple: int  # default widths and heights are rounded to this
    frame_step: int  # the model's valid frame counts are frame_step * k + 1
    max_frames: int  # the longest clip it was trained for
    image_to_video: bool = False


PIPELINE_KINDS = {
    "wan": PipelineKind("WanPipeline", short_side=480, size_multiple=16, frame_step=4, max_frames=81),
    "cogvideox": PipelineKind("CogVideoXPipeline", short_side=480, size_multiple=16, frame_step=4, max_frames=49),
    "ltx": PipelineKind("LTXPipeline", short_side=480, size_multiple=32, frame_step=8, max_frames=257),
    "hunyuan": PipelineKind("HunyuanVideoPipeline", short_side=544, size_multiple=16, frame_step=4, max_frames=129),
    "svd": PipelineKind(
        "StableVideoDiffusionPipeline", short_side=576, size_multiple=64, frame_step=1, max_frames=25,
        image_to_video=True,
    ),
}
ASPECT_RATIOS = {"16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1), "4:3": (4, 3)}
DENOISE_PROGRESS = 95  # the steps report up to here; encoding the files takes the rest
THUMBNAIL_WIDTH = 320
POSTER_QUALITY = 88
# Real models take 10–80 GB of memory each: a worker keeps only the last one it used.
PIPELINE_CACHE_SIZE = 1
NOT_INSTALLED = (
    "Self-hosted models are not installed on this worker: install Shotcraft's 'selfhosted' extra "
    "(torch, diffusers, transformers)."
)

_pipelines: "OrderedDict[tuple[str, str], Any]" = OrderedDict()
# A pipeline holds scheduler state while it runs, so one render at a time per process.
_render_lock = threading.Lock()


def self_hosted_available() -> bool:
    """Are torch, diffusers and transformers installed? Cheap: imports none of them."""
    return all(importlib.util.find_spec(name) is not None for name in ("torch", "diffusers", "transformers"))


def render_with_diffusers(
    request: RenderRequest,
    *,
    model_dir: Path,
    pipeline_kind: str,
    output_dir: Path,
    num_inference_steps: int,
    fps: int = 8,
    on_progress: ProgressCallback | None = None,
    width: int | None = None,
    height: int | None = None,
    num_frames: int | None = None,
) -> RenderedVideo:
    kind = _kind_for(pipeline_kind)
    _request_check(request, kind, num_inference_steps=num_inference_steps, fps=fps)
    default_width, default_height = _frame_size(kind, request.aspect_ratio)
    size = (width or default_width, height or default_height)
    frame_count = num_frames or _frame_count(kind, request.duration_seconds * fps)
    torch = _torch()
    with _render_lock:
        pipe = _pipeline_for(pipeline_kind, kind, Path(model_dir), torch)
        arguments = _call_arguments(pipe, kind, request, size=size, num_frames=frame_count, fps=fps, torch=torch)
        arguments.update(num_inference_steps=num_inference_steps, callback_on_step_end=_step_reporter(on_progress))
        frames = _frames_generate(pipe, arguments, pipeline_kind, torch)
    video = _files_write(frames, Path(output_dir), fps=fps)
    if on_progress:
        on_progress(100)
    return video


def pipelines_forget() -> None:
    """Drop the cached pipelines (tests, or a worker told to free memory)."""
    with _render_lock:
        _pipelines.clear()


# --- Request -------------------------------------------------------------------------------


def _kind_for(pipeline_kind: str) -> PipelineKind:
    try:
        return PIPELINE_KINDS[pipeline_kind]
    except KeyError:
        known = ", ".join(PIPELINE_KINDS)
        raise BadRequest(f"Unknown self-hosted model kind {pipeline_kind!r} (known: {known}).") from None


def _request_check(request: RenderRequest, kind: PipelineKind, *, num_inference_steps: int, fps: int) -> None:
    if num_inference_steps < 1 or fps < 1:
        raise ValueError(f"num_inference_steps and fps must be positive, not {num_inference_steps} and {fps}")
    if request.duration_seconds < 1:
        raise BadRequest(f"A take runs at least one second, not {request.duration_seconds}.")
    if kind.image_to_video and not request.reference_images:
        raise BadRequest("Stable Video Diffusion animates a start frame: add a reference image to the shot.")


def _frame_size(kind: PipelineKind, aspect_ratio: str) -> tuple[int, int]:
    try:
        across, down = ASPECT_RATIOS[aspect_ratio]
    except KeyError:
        raise BadRequest(f"Self-hosted models cannot render the aspect ratio {aspect_ratio!r}.") from None
    long_side = round(kind.short_side * max(across, down) / min(across, down) / kind.size_multiple)
    long_side *= kind.size_multiple
    return (long_side, kind.short_side) if across >= down else (kind.short_side, long_side)


def _frame_count(kind: PipelineKind, wanted: int) -> int:
    """The nearest count the model accepts (frame_step * k + 1), within what it was trained for."""
    steps = max(1, round((min(wanted, kind.max_frames) - 1) / kind.frame_step))
    return steps * kind.frame_step + 1


# --- Model ---------------------------------------------------------------------------------


def _torch():
    try:
        import diffusers  # noqa: F401  (fails here, not halfway through a load)
        import torch
    except (ImportError, RuntimeError) as error:
        raise ProviderError(NOT_INSTALLED) from error
    return torch


def _pipeline_for(pipeline_kind: str, kind: PipelineKind, model_dir: Path, torch) -> Any:
    key = (pipeline_kind, str(model_dir.resolve()))
    if key in _pipelines:
        _pipelines.move_to_end(key)
        return _pipelines[key]
    while len(_pipelines) >= PIPELINE_CACHE_SIZE:
        _pipelines.popitem(last=False)  # before loading, so two models never share the memory
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    _pipelines[key] = _pipeline_load(kind, model_dir, torch)
    return _pipelines[key]


def _pipeline_load(kind: PipelineKind, model_dir: Path, torch) -> Any:
    _model_dir_check(kind, model_dir)
    import diffusers
    import transformers

    diffusers.utils.logging.disable_progress_bar()  # a worker's log is no terminal
    transformers.utils.logging.disable_progress_bar()
    cuda = torch.cuda.is_available()
    pipeline_class = getattr(diffusers, kind.class_name)
    try:
        pipe = pipeline_class.from_pretrained(
            model_dir, local_files_only=True, dtype=torch.bfloat16 if cuda else torch.float32
        )
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
        raise BadRequest(f"The model at {model_dir} could not be loaded: {error}") from error
    pipe.set_progress_bar_config(disable=True)
    return pipe.to("cuda" if cuda else "cpu")


def _model_dir_check(kind: PipelineKind, model_dir: Path) -> None:
    index = model_dir / "model_index.json"
    if not index.is_file():
        raise BadRequest(
            f"No model found at {model_dir}: expected a diffusers model directory with a model_index.json "
            f"for a {kind.class_name}."
        )
    try:
        class_name = json.loads(index.read_text()).get("_class_name")
    except (OSError, ValueError, AttributeError) as error:
        raise BadRequest(f"The model at {model_dir} has an unreadable model_index.json: {error}") from error
    if class_name != kind.class_name:
        raise BadRequest(f"The model at {model_dir} is a {class_name}, not the {kind.class_name} this kind needs.")


# --- Generation ----------------------------------------------------------------------------


def _call_arguments(
    pipe, kind: PipelineKind, request: RenderRequest, *, size: tuple[int, int], num_frames: int, fps: int, torch
) -> dict[str, Any]:
    accepts = inspect.signature(pipe.__call__).parameters
    width, height = size
    arguments: dict[str, Any] = {
        "width": width,
        "height": height,
        "num_frames": num_frames,
        # Seeded on the CPU so a seed gives the same noise on any device.
        "generator": torch.Generator(device="cpu").manual_seed(request.seed % 2**63),
        "output_type": "np",
    }
    if kind.image_to_video:
        arguments["image"] = _start_frame(request.reference_images[0], size)
    else:
        arguments["prompt"] = request.prompt
    if request.negative_prompt and "negative_prompt" in accepts:
        arguments["negative_prompt"] = request.negative_prompt
    for name in ("frame_rate", "fps"):  # LTX conditions on the frame rate, SVD on fps
        if name in accepts:
            arguments[name] = fps
    return arguments


def _start_frame(path: Path, size: tuple[int, int]) -> Image.Image:
    try:
        with Image.open(path) as image:
            picture = ImageOps.exif_transpose(image).convert("RGB")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise BadRequest(f"The reference image {Path(path).name} could not be opened as a picture.") from error
    return ImageOps.fit(picture, size, method=Image.Resampling.LANCZOS)


def _step_reporter(on_progress: ProgressCallback | None):
    """A diffusers `callback_on_step_end` that maps finished steps onto 0–DENOISE_PROGRESS."""
    last_reported = -1

    def step_done(pipe, step: int, timestep, callback_kwargs: dict) -> dict:
        nonlocal last_reported
        total = getattr(pipe, "num_timesteps", 0) or step + 1
        percent = min(DENOISE_PROGRESS, (step + 1) * DENOISE_PROGRESS // total)
        if on_progress and percent > last_reported:
            last_reported = percent
            on_progress(percent)
        return callback_kwargs

    return step_done


def _frames_generate(pipe, arguments: dict[str, Any], pipeline_kind: str, torch) -> np.ndarray:
    try:
        output = pipe(**arguments)
    except torch.OutOfMemoryError as error:
        message = f"The {pipeline_kind} model ran out of memory on this worker: try a shorter or smaller take."
        raise ProviderError(message) from error
    except ValueError as error:  # the pipelines' own input checks (sizes, frame counts)
        raise BadRequest(f"The {pipeline_kind} model refused the request: {error}") from error
    except RuntimeError as error:  # torch itself: shapes the weights cannot take, CPU memory
        raise ProviderError(f"The {pipeline_kind} model failed to render this take: {error}") from error
    frames = np.asarray(output.frames[0], dtype=np.float32)  # (frames, height, width, RGB) in 0–1
    frames = np.clip(np.rint(frames * 255), 0, 255).astype(np.uint8)
    even_height, even_width = frames.shape[1] // 2 * 2, frames.shape[2] // 2 * 2  # H.264 4:2:0 needs even
    return np.ascontiguousarray(frames[:, :even_height, :even_width])


# --- Output --------------------------------------------------------------------------------


def _files_write(frames: np.ndarray, output_dir: Path, *, fps: int) -> RenderedVideo:
    output_dir.mkdir(parents=True, exist_ok=True)
    video_path = output_dir / "take.mp4"
    _video_write(frames, video_path, fps=fps)
    poster_path, thumbnail_path = _stills_save(Image.fromarray(frames[len(frames) // 2]), output_dir)
    count, height, width = frames.shape[:3]
    return RenderedVideo(video_path, poster_path, thumbnail_path, width, height, fps, count)


def _video_write(frames: np.ndarray, path: Path, *, fps: int) -> None:
    # Written aside and renamed, so a failed encode never leaves a half file under the take's name.
    partial = path.with_name(path.name + ".partial")
    try:
        with av.open(str(partial), mode="w", format="mp4", options={"movflags": "+faststart"}) as container:
            # One encoder thread, so the same seed encodes to the same pictures (see the animatic).
            options = {"crf": "18", "preset": "veryfast", "threads": "1"}
            stream = container.add_stream("libx264", rate=fps, options=options)
            stream.height, stream.width = frames.shape[1:3]
            stream.pix_fmt = "yuv420p"
            stream.codec_context.time_base = Fraction(1, fps)
            for index, pixels in enumerate(frames):
                frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
                frame.pts, frame.time_base = index, Fraction(1, fps)
                container.mux(stream.encode(frame))
            container.mux(stream.encode())
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def _stills_save(poster: Image.Image, output_dir: Path) -> tuple[Path, Path]:
    poster_path = output_dir / "poster.jpg"
    thumbnail_path = output_dir / "thumbnail.jpg"
    poster.save(poster_path, "JPEG", quality=POSTER_QUALITY)
    width = min(THUMBNAIL_WIDTH, poster.width)  # never upscaled
    thumbnail = poster.resize((width, max(1, round(poster.height * width / poster.width))), Image.Resampling.LANCZOS)
    thumbnail.save(thumbnail_path, "JPEG", quality=POSTER_QUALITY)
    return poster_path, thumbnail_path
