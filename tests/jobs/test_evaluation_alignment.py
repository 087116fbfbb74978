"""Prompt alignment and character consistency through transformers' CLIPModel.

A tiny random CLIP and a BPE tokenizer trained on the spot are saved to a directory, so the real
loading and embedding code runs offline. Random weights say nothing about meaning: the tests check
the plumbing, the identities that hold for any model, and the unavailable paths.
"""

import json

import numpy as np
import pytest
from PIL import Image

from jobs.evaluation import evaluate_take_video
from tests.jobs.test_evaluation import HEIGHT, WIDTH, frozen_clip, moving_clip

CAPTIONS = ["a red car driving on a road", "a woman walking in the rain", "rain on a tin roof at night"]


def tiny_clip_save(directory) -> None:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    bpe = Tokenizer(models.BPE(unk_token="<|endoftext|>", end_of_word_suffix="</w>"))
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.train_from_iterator(CAPTIONS * 5, trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|startoftext|>", "<|endoftext|>"], end_of_word_suffix="</w>",
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    ))  # fmt: skip
    state = json.loads(bpe.to_str())["model"]
    merges = [tuple(merge.split(" ")) if isinstance(merge, str) else tuple(merge) for merge in state["merges"]]
    tokenizer = CLIPTokenizer(vocab=state["vocab"], merges=merges)
    config = CLIPConfig(
        text_config={"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                     "num_attention_heads": 4, "max_position_embeddings": 77, "bos_token_id": tokenizer.bos_token_id,
                     "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id},
        vision_config={"image_size": 64, "patch_size": 16, "hidden_size": 32, "intermediate_size": 64,
                       "num_hidden_layers": 2, "num_attention_heads": 4},
        projection_dim=16,
    )  # fmt: skip
    torch.manual_seed(0)
    CLIPModel(config).eval().save_pretrained(directory)
    image_processor = CLIPImageProcessor(size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64})
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(directory)


@pytest.fixture(scope="module")
def clip_dir(tmp_path_factory) -> str:
    pytest.importorskip("transformers", reason="CLIP metrics need the selfhosted extra (torch, transformers)")
    directory = tmp_path_factory.mktemp("tiny_clip")
    tiny_clip_save(directory)
    return str(directory)


@pytest.fixture(scope="module")
def moving(tmp_path_factory):
    return moving_clip(tmp_path_factory.mktemp("moving"))


def evaluate(path, **options):
    return evaluate_take_video(path, expected_duration_seconds=2, expected_width=WIDTH, expected_height=HEIGHT,
                               **options)  # fmt: skip


def test_prompt_alignment_runs_the_model_and_joins_the_aggregate(moving, clip_dir):
    evaluation = evaluate(moving, prompt=CAPTIONS[0], clip_model_dir=clip_dir)

    alignment = evaluation.metrics["prompt_alignment"]
    assert alignment.available, alignment.reason
    assert -1 <= alignment.value <= 1 and 0 <= alignment.score <= 1
    assert len(alignment.detail["per_frame"]) == 8
    assert alignment.value == pytest.approx(np.mean(alignment.detail["per_frame"]), abs=1e-3)
    assert "prompt_alignment" in evaluation.weights
    assert evaluation.passed


def test_prompt_alignment_is_deterministic_and_depends_on_the_prompt(moving, clip_dir):
    first = evaluate(moving, prompt=CAPTIONS[0], clip_model_dir=clip_dir).metrics["prompt_alignment"].value
    again = evaluate(moving, prompt=CAPTIONS[0], clip_model_dir=clip_dir).metrics["prompt_alignment"].value
    other = evaluate(moving, prompt=CAPTIONS[1], clip_model_dir=clip_dir).metrics["prompt_alignment"].value

    assert first == again
    assert first != other


def test_character_consistency_of_a_frame_with_itself_is_one(tmp_path, clip_dir):
    clip = frozen_clip(tmp_path)  # every frame the same picture
    from jobs.evaluation.frames import video_frames_read

    Image.fromarray(video_frames_read(clip).stills[0]).save(tmp_path / "reference.png")

    evaluation = evaluate(clip, prompt="x", reference_images=(tmp_path / "reference.png",), clip_model_dir=clip_dir)

    character = evaluation.metrics["character_consistency"]
    assert character.available and character.detail == {"references": 1}
    assert character.value == pytest.approx(1.0, abs=0.01)
    assert character.score == pytest.approx(1.0, abs=0.01)


def test_character_consistency_takes_the_best_reference(moving, tmp_path, clip_dir):
    Image.fromarray(np.full((64, 64, 3), 10, np.uint8)).save(tmp_path / "dark.png")
    from jobs.evaluation.frames import video_frames_read

    Image.fromarray(video_frames_read(moving).stills[0]).save(tmp_path / "frame.png")

    dark_only = evaluate(moving, reference_images=(tmp_path / "dark.png",), clip_model_dir=clip_dir)
    both = evaluate(moving, reference_images=(tmp_path / "dark.png", tmp_path / "frame.png"), clip_model_dir=clip_dir)

    assert both.metrics["character_consistency"].value > dark_only.metrics["character_consistency"].value


def test_without_a_model_both_metrics_are_unavailable_and_the_aggregate_reweights(moving, tmp_path):
    evaluation = evaluate(moving, prompt=CAPTIONS[0], reference_images=(tmp_path / "any.png",))

    for name in ["prompt_alignment", "character_consistency"]:
        metric = evaluation.metrics[name]
        assert (metric.available, metric.value, metric.score) == (False, None, None)
        assert metric.reason == "no CLIP model is configured"
        assert name not in evaluation.weights
    assert sum(evaluation.weights.values()) == pytest.approx(1.0, abs=1e-3)
    assert evaluation.passed


@pytest.mark.parametrize("broken", ["missing", "empty", "garbage"])
def test_a_model_directory_that_does_not_load_is_reported_unavailable(moving, tmp_path, broken):
    directory = tmp_path / "model"
    if broken != "missing":
        directory.mkdir()
    if broken == "garbage":
        (directory / "config.json").write_text("{not json")

    metric = evaluate(moving, prompt=CAPTIONS[0], clip_model_dir=str(directory)).metrics["prompt_alignment"]

    assert not metric.available and metric.value is None
    assert "CLIP model" in metric.reason and str(tmp_path) not in metric.reason


def test_no_prompt_or_no_references_makes_only_that_metric_unavailable(moving, tmp_path, clip_dir):
    (tmp_path / "not_an_image.png").write_text("nope")

    no_prompt = evaluate(moving, prompt="  ", clip_model_dir=clip_dir).metrics
    unreadable = evaluate(moving, prompt="rain", reference_images=(tmp_path / "not_an_image.png",),
                          clip_model_dir=clip_dir).metrics  # fmt: skip

    assert no_prompt["prompt_alignment"].reason == "the take has no prompt"
    assert no_prompt["character_consistency"].reason == "the shot has no character reference images"
    assert unreadable["prompt_alignment"].available
    assert "could not be read" in unreadable["character_consistency"].reason
