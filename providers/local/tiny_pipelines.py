"""Tiny, randomly initialised video pipelines for tests and demos of the self-hosted runner.

Each builder assembles a real diffusers pipeline (the same classes as Wan 2.x, CogVideoX,
LTX-Video, HunyuanVideo and Stable Video Diffusion) from components a few kilobytes in size,
with tokenizers made here from a fixed vocabulary, and `save_pretrained`s it into a directory
that `render_with_diffusers` then loads exactly as it loads a real model. Nothing is downloaded:
every component is constructed from a config, never fetched.

Their output is noise, but it is noise that went through the real text encoder, transformer,
scheduler and VAE code paths.

    python -m providers.local.tiny_pipelines var/tiny-models          # every kind
    python -m providers.local.tiny_pipelines var/tiny-models --render # and one take each
"""

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # before the imports below read it

import argparse  # noqa: E402
import json  # noqa: E402
import string  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import diffusers  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from diffusers import (  # noqa: E402
    AutoencoderKLCogVideoX,
    AutoencoderKLHunyuanVideo,
    AutoencoderKLLTXVideo,
    AutoencoderKLTemporalDecoder,
    AutoencoderKLWan,
    CogVideoXDDIMScheduler,
    CogVideoXPipeline,
    CogVideoXTransformer3DModel,
    DiffusionPipeline,
    EulerDiscreteScheduler,
    FlowMatchEulerDiscreteScheduler,
    HunyuanVideoPipeline,
    HunyuanVideoTransformer3DModel,
    LTXPipeline,
    LTXVideoTransformer3DModel,
    StableVideoDiffusionPipeline,
    UNetSpatioTemporalConditionModel,
    WanPipeline,
    WanTransformer3DModel,
)
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers  # noqa: E402
from transformers import (  # noqa: E402
    CLIPImageProcessorPil,
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTokenizer,
    CLIPVisionConfig,
    CLIPVisionModelWithProjection,
    LlamaConfig,
    LlamaModel,
    LlamaTokenizer,
    T5Config,
    T5EncoderModel,
    T5Tokenizer,
    UMT5Config,
    UMT5EncoderModel,
)

# Text the T5 tokenizers are trained on: enough shot language that prompts do not all become <unk>.
CORPUS = [
    "a cat walks on the grass at sunset, golden light, shallow depth of field",
    "slow dolly in on a lighthouse in a storm, waves crash against the rocks",
    "a woman in a red coat crosses a busy street at night, neon reflections in the rain",
    "aerial shot of a forest river in autumn, mist over the water",
    "close up of hands kneading bread dough on a wooden table, flour in the air",
    "blurry, low quality, distorted faces, watermark, text, jitter, overexposed",
    "the camera pans left across a desert canyon as the sun rises",
    "children run along a beach with kites, handheld camera, warm colours",
    "0123456789 ABCDEFGHIJKLMNOPQRSTUVWXYZ abcdefghijklmnopqrstuvwxyz .,;:!?'\"-()",
]
T5_VOCAB_SIZE = 256
TEXT_WIDTH = 32  # the hidden size of every tiny text encoder

# The options each kind's checks in the tests use: sizes and frame counts its tiny VAE accepts.
TINY_RENDER_SIZE = {"width": 32, "height": 32, "num_frames": 9}


# --- Tokenizers ------------------------------------------------------------------------------


def t5_tokenizer_build(corpus: list[str] = CORPUS, vocab_size: int = T5_VOCAB_SIZE) -> T5Tokenizer:
    """A SentencePiece-style Unigram tokenizer trained here, as transformers 5's T5Tokenizer.

    `T5Tokenizer(vocab_file=...)` silently ignores the file in transformers 5 and yields a
    4-token vocabulary; passing the scored pieces as `vocab` is what works.
    """
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    trainer = trainers.UnigramTrainer(
        vocab_size=vocab_size, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>"
    )
    tokenizer.train_from_iterator(corpus, trainer)
    vocab = [tuple(piece) for piece in json.loads(tokenizer.to_str())["model"]["vocab"]]  # pad 0, eos 1, unk 2
    return T5Tokenizer(vocab=vocab, extra_ids=0)


def llama_tokenizer_build() -> LlamaTokenizer:
    """Character-level with byte fallback: every text encodes, no merges to learn."""
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "<pad>": 3}
    vocab.update({f"<0x{byte:02X}>": 4 + byte for byte in range(256)})
    for char in "▁" + string.ascii_letters + string.digits + string.punctuation:
        vocab.setdefault(char, len(vocab))
    return LlamaTokenizer(vocab=vocab, merges=[], pad_token="<pad>")


def clip_tokenizer_build() -> CLIPTokenizer:
    """Byte-level characters, alone and word-final, so every text encodes without merges."""
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    vocab.update({char: len(vocab) + index for index, char in enumerate(alphabet)})
    vocab.update({f"{char}</w>": len(vocab) + index for index, char in enumerate(alphabet)})
    return CLIPTokenizer(vocab=vocab, merges=[])


def _t5_encoder(vocab_size: int, config_class=T5Config, model_class=T5EncoderModel):
    torch.manual_seed(0)
    config = config_class(vocab_size=vocab_size, d_model=TEXT_WIDTH, d_kv=8, d_ff=64, num_layers=2, num_heads=4)
    return model_class(config)


# --- Pipelines -------------------------------------------------------------------------------


def wan_tiny_build() -> WanPipeline:
    tokenizer = t5_tokenizer_build()
    text_encoder = _t5_encoder(len(tokenizer), UMT5Config, UMT5EncoderModel)
    torch.manual_seed(0)
    transformer = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
        text_dim=TEXT_WIDTH, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
        qk_norm="rms_norm_across_heads",  # rope_max_seq_len stays 1024: a short one caps the frame size
    )
    torch.manual_seed(0)
    vae = AutoencoderKLWan(
        base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1, temperal_downsample=[False, True, True]
    )
    scheduler = FlowMatchEulerDiscreteScheduler(shift=7.0)
    return WanPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, transformer=transformer, vae=vae, scheduler=scheduler
    )


def cogvideox_tiny_build() -> CogVideoXPipeline:
    tokenizer = t5_tokenizer_build()
    text_encoder = _t5_encoder(len(tokenizer))
    torch.manual_seed(0)
    # max_text_seq_length stays at its default (226), the pipeline's default prompt length.
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=4, attention_head_dim=8, in_channels=4, out_channels=4, time_embed_dim=2,
        text_embed_dim=TEXT_WIDTH, num_layers=1, sample_width=4, sample_height=4, sample_frames=9,
        patch_size=2, temporal_compression_ratio=4,
    )
    torch.manual_seed(0)
    vae = AutoencoderKLCogVideoX(
        down_block_types=("CogVideoXDownBlock3D",) * 4, up_block_types=("CogVideoXUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8), latent_channels=4, layers_per_block=1, norm_num_groups=2,
        temporal_compression_ratio=4,
    )
    return CogVideoXPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, transformer=transformer, vae=vae,
        scheduler=CogVideoXDDIMScheduler(),
    )


def ltx_tiny_build() -> LTXPipeline:
    tokenizer = t5_tokenizer_build()
    text_encoder = _t5_encoder(len(tokenizer))
    torch.manual_seed(0)
    transformer = LTXVideoTransformer3DModel(
        in_channels=8, out_channels=8, patch_size=1, patch_size_t=1, num_attention_heads=4, attention_head_dim=8,
        cross_attention_dim=32, num_layers=1, caption_channels=TEXT_WIDTH,
    )
    torch.manual_seed(0)
    vae = AutoencoderKLLTXVideo(
        latent_channels=8, block_out_channels=(8, 8, 8, 8), decoder_block_out_channels=(8, 8, 8, 8),
        spatio_temporal_scaling=(True, True, False, False), decoder_spatio_temporal_scaling=(True, True, False, False),
        layers_per_block=(1, 1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1, 1), patch_size=1, patch_size_t=1,
        encoder_causal=True, decoder_causal=False,
    )  # the decoder's own arguments must match, or it keeps its full-size defaults
    return LTXPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, transformer=transformer, vae=vae,
        scheduler=FlowMatchEulerDiscreteScheduler(),
    )


def hunyuan_tiny_build() -> HunyuanVideoPipeline:
    tokenizer = llama_tokenizer_build()
    tokenizer_2 = clip_tokenizer_build()
    torch.manual_seed(0)
    text_encoder = LlamaModel(LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=37, num_attention_heads=4,
        num_hidden_layers=2, bos_token_id=1, eos_token_id=2, pad_token_id=3,
    ))
    torch.manual_seed(0)
    text_encoder_2 = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer_2), hidden_size=8, intermediate_size=37, num_attention_heads=4,
        num_hidden_layers=2, projection_dim=32, bos_token_id=0, eos_token_id=1, pad_token_id=1,
    ))
    torch.manual_seed(0)
    transformer = HunyuanVideoTransformer3DModel(
        in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=10, num_layers=1,
        num_single_layers=1, num_refiner_layers=1, patch_size=1, patch_size_t=1, guidance_embeds=True,
        text_embed_dim=16, pooled_projection_dim=8, rope_axes_dim=(2, 4, 4),
    )
    torch.manual_seed(0)
    vae = AutoencoderKLHunyuanVideo(
        latent_channels=4, down_block_types=("HunyuanVideoDownBlock3D",) * 4,
        up_block_types=("HunyuanVideoUpBlock3D",) * 4, block_out_channels=(8, 8, 8, 8), layers_per_block=1,
        norm_num_groups=4, scaling_factor=0.476986, spatial_compression_ratio=8, temporal_compression_ratio=4,
    )
    return HunyuanVideoPipeline(
        tokenizer=tokenizer, text_encoder=text_encoder, tokenizer_2=tokenizer_2, text_encoder_2=text_encoder_2,
        transformer=transformer, vae=vae, scheduler=FlowMatchEulerDiscreteScheduler(shift=7.0),
    )


def svd_tiny_build() -> StableVideoDiffusionPipeline:
    torch.manual_seed(0)
    unet = UNetSpatioTemporalConditionModel(
        block_out_channels=(32, 64), layers_per_block=2, sample_size=32, in_channels=8, out_channels=4,
        down_block_types=("CrossAttnDownBlockSpatioTemporal", "DownBlockSpatioTemporal"),
        up_block_types=("UpBlockSpatioTemporal", "CrossAttnUpBlockSpatioTemporal"), cross_attention_dim=32,
        num_attention_heads=8, projection_class_embeddings_input_dim=96, addition_time_embed_dim=32,
    )
    torch.manual_seed(0)
    vae = AutoencoderKLTemporalDecoder(
        block_out_channels=[32, 64], in_channels=3, out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"], latent_channels=4,
    )
    torch.manual_seed(0)
    image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, projection_dim=32, num_hidden_layers=2, num_attention_heads=4,
        image_size=224, patch_size=32, intermediate_size=37,  # the pipeline resizes its input to 224
    ))
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", interpolation_type="linear",
        num_train_timesteps=1000, prediction_type="v_prediction", sigma_max=700.0, sigma_min=0.002,
        steps_offset=1, timestep_spacing="leading", timestep_type="continuous", use_karras_sigmas=True,
    )
    # The PIL processor: the default one needs torchvision, which must stay out of this venv.
    feature_extractor = CLIPImageProcessorPil(crop_size=224, size=224)
    return StableVideoDiffusionPipeline(
        unet=unet, vae=vae, image_encoder=image_encoder, scheduler=scheduler, feature_extractor=feature_extractor
    )


TINY_BUILDERS: dict[str, Callable[[], DiffusionPipeline]] = {
    "wan": wan_tiny_build,
    "cogvideox": cogvideox_tiny_build,
    "ltx": ltx_tiny_build,
    "hunyuan": hunyuan_tiny_build,
    "svd": svd_tiny_build,
}
TINY_KINDS = tuple(TINY_BUILDERS)


def tiny_pipeline_save(kind: str, directory: Path) -> Path:
    """Build the tiny pipeline of `kind` and save it into `directory` (a model dir for the runner)."""
    try:
        builder = TINY_BUILDERS[kind]
    except KeyError:
        raise ValueError(f"No tiny pipeline for {kind!r}; known: {', '.join(TINY_KINDS)}") from None
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    diffusers.utils.logging.disable_progress_bar()
    transformers.utils.logging.disable_progress_bar()
    builder().save_pretrained(directory)
    return directory


def tiny_pipelines_save(root: Path, kinds: tuple[str, ...] = TINY_KINDS) -> dict[str, Path]:
    """One model dir per kind under `root` (root/wan, root/cogvideox, ...)."""
    return {kind: tiny_pipeline_save(kind, Path(root) / kind) for kind in kinds}


# --- Demo ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="where to write one model directory per kind")
    parser.add_argument("--kind", action="append", choices=TINY_KINDS, help="only these kinds (repeatable)")
    parser.add_argument("--render", action="store_true", help="render a take with each model")
    args = parser.parse_args(argv)
    for kind in args.kind or TINY_KINDS:
        started = time.perf_counter()
        model_dir = tiny_pipeline_save(kind, args.root / kind)
        print(f"{kind}: saved to {model_dir} in {time.perf_counter() - started:.2f} s")
        if args.render:
            _demo_render(kind, model_dir)


def _demo_render(kind: str, model_dir: Path) -> None:
    from PIL import Image

    from providers.base import RenderRequest
    from providers.local.diffusers_runner import render_with_diffusers

    references: tuple[Path, ...] = ()
    if kind == "svd":
        still = model_dir.parent / "svd-start-frame.png"
        Image.new("RGB", (32, 32), (200, 120, 40)).save(still)
        references = (still,)
    request = RenderRequest(
        prompt="a cat walks on the grass at sunset", negative_prompt="blurry", duration_seconds=1,
        aspect_ratio="1:1", camera="static", seed=7, reference_images=references,
    )
    started = time.perf_counter()
    video = render_with_diffusers(
        request, model_dir=model_dir, pipeline_kind=kind, output_dir=model_dir.parent / f"{kind}-take",
        num_inference_steps=2, **TINY_RENDER_SIZE,
    )
    print(f"{kind}: rendered {video.video_path} ({video.width}x{video.height}, {video.frame_count} frames) "
          f"in {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
