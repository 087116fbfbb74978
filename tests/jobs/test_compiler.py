import pytest

from jobs.compiler import (
    COMPILER_VERSION,
    PromptCompileError,
    ProviderDialect,
    ShotSpec,
    multi_shot_compile,
    prompt_compile,
    prompt_compile_for,
)

VEO = ProviderDialect(name="Veo 3.1 Fast", max_duration_seconds=8, allowed_durations=(4, 6, 8), negative_prompt=True,
                      reference_images=True, image_to_video=True)
SORA = ProviderDialect(name="Sora 2", max_duration_seconds=12, allowed_durations=(4, 8, 12), negative_prompt=False,
                       reference_images=False, image_to_video=True)
KLING3 = ProviderDialect(name="Kling 3.0", max_duration_seconds=15, allowed_durations=tuple(range(3, 16)), negative_prompt=True,
                         reference_images=False, image_to_video=True, multi_shot=True)


def spec(**overrides) -> ShotSpec:
    fields = dict(title="Opening", subject="A lantern seller", scene="Rainy night market", camera="dolly_in",
                  motion="Steam rises", style="35mm film", negative="text, watermark", duration_seconds=8, aspect_ratio="16:9")
    return ShotSpec(**(fields | overrides))


def test_the_structured_fields_become_one_readable_prompt():
    compiled = prompt_compile(spec(character_names=("Mei",)))
    assert compiled.text == ("A lantern seller. Rainy night market. Featuring Mei. Steam rises. "
                             "Camera: slow dolly in towards the subject. Style: 35mm film.")
    assert compiled.negative == "text, watermark"
    assert compiled.version == COMPILER_VERSION


def test_negatives_stay_separate_where_the_provider_takes_them():
    compiled = prompt_compile_for(spec(), VEO)
    assert compiled.negative_prompt == "text, watermark"
    assert "Avoid" not in compiled.prompt


def test_negatives_fold_into_the_prompt_where_the_provider_has_none():
    compiled = prompt_compile_for(spec(), SORA)
    assert compiled.negative_prompt == ""
    assert compiled.prompt.endswith("Avoid: text, watermark.")


@pytest.mark.parametrize(("dialect", "seconds", "message"), [
    (VEO, 5, "Veo 3.1 Fast renders 4, 6, 8 s clips; this shot is 5 s."),
    (VEO, 10, "Veo 3.1 Fast renders at most 8 s; this shot is 10 s."),
    (SORA, 6, "Sora 2 renders 4, 8, 12 s clips; this shot is 6 s."),
])
def test_durations_the_model_cannot_render_are_refused_clearly(dialect, seconds, message):
    with pytest.raises(PromptCompileError) as caught:
        prompt_compile_for(spec(duration_seconds=seconds), dialect)
    assert str(caught.value) == message


def test_reference_images_are_used_only_where_the_model_takes_images():
    with_refs = spec(reference_image_names=("references/1/ab.png",))
    assert prompt_compile_for(with_refs, VEO).use_reference_images
    assert not prompt_compile_for(spec(), VEO).use_reference_images
    text_only = ProviderDialect(name="T", max_duration_seconds=10, allowed_durations=(), negative_prompt=True,
                                reference_images=False, image_to_video=False)
    assert not prompt_compile_for(with_refs, text_only).use_reference_images


def test_kling_multi_shot_lists_follow_its_limits():
    segments = multi_shot_compile([spec(duration_seconds=5), spec(title="Close", subject="Her hands", duration_seconds=4)], KLING3)
    assert [s.duration_seconds for s in segments] == [5, 4]
    assert segments[1].prompt.startswith("Her hands.")
    with pytest.raises(PromptCompileError, match="at least 3 s; too short: Blink"):
        multi_shot_compile([spec(duration_seconds=5), spec(title="Blink", duration_seconds=2)], KLING3)
    with pytest.raises(PromptCompileError, match="add up to 16 s"):
        multi_shot_compile([spec(duration_seconds=8), spec(duration_seconds=8)], KLING3)
    with pytest.raises(PromptCompileError, match="at least two shots"):
        multi_shot_compile([spec(duration_seconds=5)], KLING3)
    with pytest.raises(PromptCompileError, match="cannot render several shots"):
        multi_shot_compile([spec(), spec()], VEO)


# -- dialogue (issue #16): spoken by native-audio models, left to the cut's voice-over otherwise --


def _dialect(*, native_audio: bool) -> "ProviderDialect":
    from jobs.compiler import ProviderDialect

    return ProviderDialect(name="M", max_duration_seconds=10, allowed_durations=(), negative_prompt=True,
                           reference_images=False, image_to_video=False, native_audio=native_audio)


def test_dialogue_goes_into_the_prompt_of_native_audio_models_only():
    from jobs.compiler import ShotSpec, prompt_compile_for

    spec = ShotSpec(title="T", subject="A lantern seller", scene="", camera="static", motion="", style="", negative="",
                    duration_seconds=5, aspect_ratio="16:9", dialogue='Two for a "coin"!')
    spoken = prompt_compile_for(spec, _dialect(native_audio=True)).prompt
    silent = prompt_compile_for(spec, _dialect(native_audio=False)).prompt
    assert spoken.endswith('''A voice says: "Two for a 'coin'!" (no subtitles).''')
    assert "voice" not in silent and "coin" not in silent


def test_a_shot_without_dialogue_keeps_its_request_unchanged():
    from jobs.compiler import ShotSpec

    spec = ShotSpec(title="T", subject="S", scene="", camera="static", motion="", style="", negative="",
                    duration_seconds=5, aspect_ratio="16:9")
    assert "dialogue" not in spec.as_request()
    assert ShotSpec.from_request({**spec.as_request(), "dialogue": "Hi."}).dialogue == "Hi."
