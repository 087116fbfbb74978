"""Sandbox vendors with realistic quality (issue #14 item 5): the emulators' takes fail and look
like the model asked for, by its catalog quality, decided by the request's seed.

The gate here is the real evaluator, on short low-resolution clips (the family's clip, shrunk).
"""

import pytest

from jobs.evaluation import evaluate_take_video
from providers.emulators.realism import (
    DEFECT_KINDS,
    DefectRateInvalid,
    TakeLook,
    defect_share,
    look_render,
    take_look_plan,
)
from providers.emulators.sandbox import emulator_create
from providers.emulators.server import rendered_output
from providers.emulators.upscale import SourceVideo, upscaled_output

SECONDS, SIDE = 2, 192
# The gate's name for each injected defect.
GATE_KIND = {"frozen": "frozen", "black": "black", "cut": "cut", "noise": "noise"}


@pytest.fixture(scope="module")
def small_clip():
    """The runway emulator's clean 2 s clip, shrunk to 192 px (an "upscale" by 0.4) so the gate runs fast."""
    clip = rendered_output("runway", SECONDS, "1:1")
    return upscaled_output(SourceVideo(clip.read_bytes(), 480, 480, SECONDS), scale=SIDE / 480)


def evaluated(path):
    return evaluate_take_video(path, expected_duration_seconds=SECONDS, expected_width=SIDE, expected_height=SIDE)


def test_defects_get_rarer_as_catalog_quality_rises_and_scale_zero_is_always_clean():
    shares = []
    for quality in (62, 75, 92):
        looks = [take_look_plan(quality=quality, seed=seed, scale=1) for seed in range(1500)]
        shares.append(sum(look.defect is not None for look in looks) / len(looks))
        assert abs(shares[-1] - defect_share(quality, 1)) < 0.04
        assert {look.defect for look in looks} == {None, *DEFECT_KINDS}
    assert shares[0] > shares[1] > shares[2] > 0
    assert not any(take_look_plan(quality=40, seed=seed, scale=0).defect for seed in range(500))
    assert take_look_plan(quality=70, seed=9, scale=2) == take_look_plan(quality=70, seed=9, scale=2)


def test_the_emulator_looks_up_the_models_quality_and_seeds_each_request(monkeypatch):
    monkeypatch.setenv("SANDBOX_DEFECT_RATE", "1.5")
    with emulator_create("runway") as runway, emulator_create("kling") as kling:
        assert runway.defect_rate_scale == 1.5
        shape = {"prompt": "a harbour at dawn", "duration_seconds": 2, "aspect_ratio": "1:1"}
        turbo = runway.job_create(**shape, model_id="gen4_turbo", seed_asked=11)
        assert turbo.look == runway.job_create(**shape, model_id="gen4_turbo", seed_asked=11).look
        assert turbo.look.quality == 70 and runway.job_create(**shape, model_id="gen4.5", seed_asked=11).look.quality == 92
        # Kling takes no seed: asking again is another take, as at the vendor.
        first, again = (kling.job_create(**shape, model_id="kling-v3") for _ in range(2))
        assert first.look.quality == again.look.quality == 88 and first.look.seed != again.look.seed

        runway.defect_rate_scale = 0  # as SANDBOX_DEFECT_RATE=0: the family's one clean clip, as before
        plain = runway.job_create(**shape, model_id="gen4_turbo", seed_asked=11)
        assert plain.look is None and runway.output_path(plain) == rendered_output("runway", 2, "1:1")

    monkeypatch.setenv("SANDBOX_DEFECT_RATE", "often")
    with pytest.raises(DefectRateInvalid, match="SANDBOX_DEFECT_RATE must be a number"):
        emulator_create("runway")


@pytest.mark.parametrize("defect", DEFECT_KINDS)
def test_the_gate_blocks_every_injected_defect_where_it_was_put(small_clip, tmp_path, defect):
    evaluation = evaluated(look_render(small_clip, TakeLook(quality=70, seed=5, defect=defect), tmp_path / "take.mp4"))
    assert evaluation.outcome == "block", evaluation.as_dict()["gates"]
    assert GATE_KIND[defect] in {found.kind for found in evaluation.defects}, evaluation.defects


def test_a_premium_models_clean_take_scores_higher_than_a_draft_models(small_clip, tmp_path):
    draft = evaluated(look_render(small_clip, TakeLook(quality=62, seed=5), tmp_path / "draft.mp4"))
    premium = evaluated(look_render(small_clip, TakeLook(quality=92, seed=5), tmp_path / "premium.mp4"))
    assert draft.defects == premium.defects == []
    assert premium.aggregate > draft.aggregate + 10, (draft.aggregate, premium.aggregate)
    for metric in ("sharpness", "contrast", "motion_smoothness", "dynamic_degree"):
        assert premium.scores[metric] > draft.scores[metric], metric
