"""The self-hosted runner on real diffusers pipelines: tiny, random, built here, never downloaded.

Each kind's pipeline is built once per session and saved like a real model directory; every test
runs the real runner on it and decodes what it wrote with PyAV.
"""

import json
import os
import socket
import sys
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from providers.base import BadRequest, ProviderError, RenderRequest
from providers.local import diffusers_runner
from providers.local.diffusers_runner import pipelines_forget, render_with_diffusers, self_hosted_available
from providers.local.tiny_pipelines import TINY_KINDS, TINY_RENDER_SIZE, tiny_pipelines_save

STEPS = 2
TEXT_KINDS = ("wan", "cogvideox", "ltx", "hunyuan")
# Kinds whose default guidance runs an unconditional branch, where the negative prompt goes.
GUIDED_KINDS = ("wan", "cogvideox", "ltx")


@pytest.fixture(scope="session")
def model_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("self-hosted-models")
    tiny_pipelines_save(root)
    Image.new("RGB", (48, 40), (200, 120, 40)).save(root / "start-frame.png")
    return root


def shot_request(model_root: Path, kind: str, **overrides) -> RenderRequest:
    request = RenderRequest(
        prompt="A lighthouse keeper climbs the spiral stairs at dusk",
        negative_prompt="",
        duration_seconds=1,
        aspect_ratio="1:1",
        camera="static",
        seed=11,
        reference_images=(model_root / "start-frame.png",) if kind == "svd" else (),
    )
    return replace(request, **overrides)


def render(model_root: Path, kind: str, output_dir: Path, *, on_progress=None, **overrides):
    return render_with_diffusers(
        shot_request(model_root, kind, **overrides),
        model_dir=model_root / kind,
        pipeline_kind=kind,
        output_dir=output_dir,
        num_inference_steps=STEPS,
        on_progress=on_progress,
        **TINY_RENDER_SIZE,
    )


def decoded_frames(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


@pytest.mark.parametrize("kind", TINY_KINDS)
def test_renders_a_decodable_take_with_progress(model_root, kind, tmp_path):
    progress: list[int] = []

    video = render(model_root, kind, tmp_path, on_progress=progress.append)

    frames = decoded_frames(video.video_path)
    assert video.video_path == tmp_path / "take.mp4"
    assert len(frames) == video.frame_count == TINY_RENDER_SIZE["num_frames"]
    assert frames[0].shape == (video.height, video.width, 3) == (32, 32, 3)
    assert video.fps == 8
    assert progress[-1] == 100 and progress[:-1] and max(progress[:-1]) <= 95
    assert progress == sorted(set(progress)), "progress must only rise"
    with Image.open(video.poster_path) as poster, Image.open(video.thumbnail_path) as thumbnail:
        assert poster.format == thumbnail.format == "JPEG"
        assert poster.size == thumbnail.size == (32, 32)  # a thumbnail is never upscaled
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize("kind", TINY_KINDS)
def test_a_seed_renders_the_same_take_again(model_root, kind, tmp_path):
    first, again = render(model_root, kind, tmp_path / "a"), render(model_root, kind, tmp_path / "b")
    other_seed = render(model_root, kind, tmp_path / "c", seed=12)

    # The poster is the middle frame as the model painted it. The videos are compared no further:
    # x264's encoding of these near-grey frames is not bit-exact from run to run.
    assert first.poster_path.read_bytes() == again.poster_path.read_bytes()
    assert first.poster_path.read_bytes() != other_seed.poster_path.read_bytes()


@pytest.mark.parametrize("kind", TEXT_KINDS)
def test_negative_prompt_is_accepted(model_root, kind, tmp_path):
    plain = render(model_root, kind, tmp_path / "plain")
    negative = render(model_root, kind, tmp_path / "negative", negative_prompt="blurry, watermark, text")

    assert negative.frame_count == plain.frame_count
    if kind in GUIDED_KINDS:  # it reached the model: the unguided branch changed the picture
        assert not np.array_equal(
            np.stack(decoded_frames(plain.video_path)), np.stack(decoded_frames(negative.video_path))
        )


def test_a_loaded_pipeline_is_reused_between_takes(model_root, tmp_path):
    pipelines_forget()
    render(model_root, "wan", tmp_path / "a")
    (loaded,) = diffusers_runner._pipelines.values()
    render(model_root, "wan", tmp_path / "b")

    assert list(diffusers_runner._pipelines.values()) == [loaded]


def test_loading_and_rendering_make_no_network_connection(model_root, tmp_path, monkeypatch):
    def refuse(self, address):
        raise AssertionError(f"the self-hosted runner tried to connect to {address}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    pipelines_forget()

    video = render(model_root, "ltx", tmp_path)

    assert video.video_path.exists()
    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_a_missing_model_dir_is_a_bad_request(model_root, tmp_path):
    with pytest.raises(BadRequest, match="No model found at"):
        render_with_diffusers(
            shot_request(model_root, "wan"),
            model_dir=tmp_path / "nowhere",
            pipeline_kind="wan",
            output_dir=tmp_path / "out",
            num_inference_steps=STEPS,
        )
    assert not (tmp_path / "out" / "take.mp4").exists()


def test_a_model_of_another_kind_is_a_bad_request(model_root, tmp_path):
    with pytest.raises(BadRequest, match="is a CogVideoXPipeline, not the WanPipeline"):
        render_with_diffusers(
            shot_request(model_root, "wan"),
            model_dir=model_root / "cogvideox",
            pipeline_kind="wan",
            output_dir=tmp_path,
            num_inference_steps=STEPS,
        )


def test_a_broken_model_dir_is_a_bad_request(model_root, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    index = {"_class_name": "WanPipeline", "vae": ["diffusers", "AutoencoderKLWan"]}  # no vae/ folder
    (broken / "model_index.json").write_text(json.dumps(index))

    with pytest.raises(BadRequest, match="could not be loaded"):
        render_with_diffusers(
            shot_request(model_root, "wan"),
            model_dir=broken,
            pipeline_kind="wan",
            output_dir=tmp_path / "out",
            num_inference_steps=STEPS,
        )


def test_svd_without_a_start_frame_is_a_bad_request(model_root, tmp_path):
    with pytest.raises(BadRequest, match="reference image"):
        render(model_root, "svd", tmp_path, reference_images=())


def test_svd_with_an_unreadable_start_frame_is_a_bad_request(model_root, tmp_path):
    not_a_picture = tmp_path / "notes.png"
    not_a_picture.write_text("not a picture")

    with pytest.raises(BadRequest, match="notes.png could not be opened"):
        render(model_root, "svd", tmp_path / "out", reference_images=(not_a_picture,))


def test_an_unknown_kind_is_a_bad_request(model_root, tmp_path):
    with pytest.raises(BadRequest, match="Unknown self-hosted model kind 'sora'"):
        render_with_diffusers(
            shot_request(model_root, "wan"),
            model_dir=model_root / "wan",
            pipeline_kind="sora",
            output_dir=tmp_path,
            num_inference_steps=STEPS,
        )


def test_a_size_the_model_refuses_is_a_bad_request(model_root, tmp_path):
    with pytest.raises(BadRequest, match="wan model refused the request"):
        render_with_diffusers(
            shot_request(model_root, "wan"),
            model_dir=model_root / "wan",
            pipeline_kind="wan",
            output_dir=tmp_path,
            num_inference_steps=STEPS,
            width=40,  # Wan needs multiples of 16
            height=32,
            num_frames=9,
        )


def test_without_diffusers_the_feature_reads_as_not_installed(model_root, tmp_path, monkeypatch):
    assert self_hosted_available()
    monkeypatch.setitem(sys.modules, "diffusers", None)  # `import diffusers` now fails

    with pytest.raises(ProviderError, match="not installed") as caught:
        render(model_root, "wan", tmp_path)
    assert not caught.value.retryable


@pytest.mark.parametrize(
    ("kind", "aspect_ratio", "size"),
    [
        ("wan", "16:9", (848, 480)),
        ("wan", "9:16", (480, 848)),
        ("ltx", "16:9", (864, 480)),
        ("hunyuan", "1:1", (544, 544)),
        ("svd", "16:9", (1024, 576)),
        ("cogvideox", "4:3", (640, 480)),
    ],
)
def test_default_frame_sizes_follow_the_aspect_ratio(kind, aspect_ratio, size):
    assert diffusers_runner._frame_size(diffusers_runner.PIPELINE_KINDS[kind], aspect_ratio) == size


@pytest.mark.parametrize(
    ("kind", "wanted", "count"),
    [("wan", 40, 41), ("wan", 200, 81), ("ltx", 24, 25), ("ltx", 1, 9), ("svd", 14, 14), ("cogvideox", 48, 49)],
)
def test_default_frame_counts_are_ones_the_model_accepts(kind, wanted, count):
    assert diffusers_runner._frame_count(diffusers_runner.PIPELINE_KINDS[kind], wanted) == count
