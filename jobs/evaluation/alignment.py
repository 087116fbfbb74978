"""Prompt alignment and character consistency with one CLIP model (transformers' CLIPModel).

The model and its processor load from a local directory (never a hub download). Without a
directory, or when it does not load, both metrics are unavailable with the reason: never invented.
Scores map cosine similarities linearly between two anchors chosen for OpenAI CLIP ViT-B-class
models (a matching caption scores ~0.30, an unrelated one ~0.15; two photos of the same character
~0.85, of unrelated people ~0.5); other models may need other anchors.
"""

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from jobs.evaluation.metric import Metric, metric_unavailable, unit_clip

TEXT_ZERO, TEXT_FULL = 0.15, 0.35  # prompt/frame cosine scoring 0 and 1
IMAGE_ZERO, IMAGE_FULL = 0.5, 0.9  # reference/frame cosine scoring 0 and 1
ALIGNMENT_UNIT = CHARACTER_UNIT = "cosine similarity"
ALIGNMENT_EXPLANATION = (
    "Mean CLIP cosine similarity between the prompt and each sampled frame. "
    f"Score = (value - {TEXT_ZERO:g}) / ({TEXT_FULL:g} - {TEXT_ZERO:g}), clipped to 0-1."
)
CHARACTER_EXPLANATION = (
    "For each sampled frame, the best CLIP image-embedding cosine against the reference images; mean over frames. "
    f"Score = (value - {IMAGE_ZERO:g}) / ({IMAGE_FULL:g} - {IMAGE_ZERO:g}), clipped to 0-1."
)


class ClipUnavailable(Exception):
    pass


@dataclass(frozen=True)
class ClipEmbedder:
    model: object
    processor: object

    def images_embed(self, images: list) -> np.ndarray:
        import torch

        with torch.no_grad():
            features = self.model.get_image_features(**self.processor(images=images, return_tensors="pt"))
        return _normalised(features)

    def texts_embed(self, texts: list[str]) -> np.ndarray:
        import torch

        inputs = self.processor(text=texts, return_tensors="pt", padding=True, truncation=True, max_length=77)
        with torch.no_grad():
            features = self.model.get_text_features(**inputs)
        return _normalised(features)


def _normalised(features) -> np.ndarray:
    tensor = getattr(features, "pooler_output", features)  # transformers 5 returns an output object
    array = tensor.detach().float().numpy()
    return array / np.maximum(np.linalg.norm(array, axis=1, keepdims=True), 1e-12)


@lru_cache(maxsize=2)
def clip_embedder_load(model_dir: str) -> ClipEmbedder:
    if not Path(model_dir).is_dir():
        raise ClipUnavailable("the configured CLIP model directory does not exist")
    try:
        from transformers import CLIPModel, CLIPProcessor

        model = CLIPModel.from_pretrained(model_dir, local_files_only=True).eval()
        processor = CLIPProcessor.from_pretrained(model_dir, local_files_only=True)
    except Exception as error:  # noqa: BLE001 - any failure to load means "unavailable", with the reason
        raise ClipUnavailable(f"the CLIP model could not be loaded ({type(error).__name__})") from error
    return ClipEmbedder(model, processor)


def alignment_measure(embedder: ClipEmbedder, frame_embeddings: np.ndarray, prompt: str) -> Metric:
    if not prompt.strip():
        reason = "the take has no prompt"
        return metric_unavailable(unit=ALIGNMENT_UNIT, explanation=ALIGNMENT_EXPLANATION, reason=reason)
    similarities = frame_embeddings @ embedder.texts_embed([prompt])[0]
    value = float(similarities.mean())
    return Metric(value=round(value, 4), unit=ALIGNMENT_UNIT, explanation=ALIGNMENT_EXPLANATION,
                  score=unit_clip((value - TEXT_ZERO) / (TEXT_FULL - TEXT_ZERO)),
                  detail={"per_frame": [round(float(s), 4) for s in similarities]})  # fmt: skip


def character_measure(
    embedder: ClipEmbedder, frame_embeddings: np.ndarray, reference_images: tuple[Path, ...]
) -> Metric:
    try:
        references = _references_open(reference_images)
    except ClipUnavailable as unreadable:
        return metric_unavailable(unit=CHARACTER_UNIT, explanation=CHARACTER_EXPLANATION, reason=str(unreadable))
    if not references:
        return metric_unavailable(unit=CHARACTER_UNIT, explanation=CHARACTER_EXPLANATION,
                                  reason="the shot has no character reference images")  # fmt: skip
    best = (frame_embeddings @ embedder.images_embed(references).T).max(axis=1)
    value = float(best.mean())
    return Metric(value=round(value, 4), unit=CHARACTER_UNIT, explanation=CHARACTER_EXPLANATION,
                  score=unit_clip((value - IMAGE_ZERO) / (IMAGE_FULL - IMAGE_ZERO)),
                  detail={"references": len(references)})  # fmt: skip


def clip_metrics_measure(
    stills: list[np.ndarray], *, prompt: str, reference_images: tuple[Path, ...], clip_model_dir: str | None
) -> dict[str, Metric]:
    """prompt_alignment and character_consistency; both unavailable, with the reason, without a model."""
    from PIL import Image

    try:
        if not clip_model_dir:
            raise ClipUnavailable("no CLIP model is configured")
        embedder = clip_embedder_load(str(clip_model_dir))
    except ClipUnavailable as missing:
        return _both_unavailable(str(missing))
    frame_embeddings = embedder.images_embed([Image.fromarray(still) for still in stills])
    return {
        "prompt_alignment": alignment_measure(embedder, frame_embeddings, prompt),
        "character_consistency": character_measure(embedder, frame_embeddings, reference_images),
    }


def _references_open(paths: tuple[Path, ...]) -> list:
    from PIL import Image, UnidentifiedImageError

    images = []
    for path in paths:
        try:
            with Image.open(path) as image:
                images.append(image.convert("RGB"))
        except (OSError, UnidentifiedImageError) as error:
            raise ClipUnavailable(f"a reference image could not be read ({type(error).__name__})") from error
    return images


def _both_unavailable(reason: str) -> dict[str, Metric]:
    return {
        "prompt_alignment": metric_unavailable(unit=ALIGNMENT_UNIT, explanation=ALIGNMENT_EXPLANATION, reason=reason),
        "character_consistency": metric_unavailable(unit=CHARACTER_UNIT, explanation=CHARACTER_EXPLANATION,
                                                    reason=reason),  # fmt: skip
    }
