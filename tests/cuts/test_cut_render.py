"""Rendering a cut from real files: conformed sizes and rates, exact durations, transitions, reuse."""

from pathlib import Path

import pytest
from django.urls import reverse

from jobs.models import Take
from studio.cuts.assembly import cut_assemble, cut_entry_update
from studio.cuts.exceptions import (
    CutLineTooLong,
    CutMediaUnreadable,
    CutNotReady,
    CutTrimInvalid,
)
from studio.cuts.models import RenderState
from studio.cuts.plan import cut_inputs, inputs_hash, output_format
from studio.cuts.rendering import cut_render_request, cut_render_run
from tests.cuts.conftest import approved_take, upscale_of
from tests.cuts.media import clip_write, frame_rgb_at, video_facts
from tests.factories import shot_for

pytestmark = pytest.mark.django_db(transaction=True)


def render_now(cut):
    """Request a render and run it in this process, as the worker would."""
    render = cut_render_request(cut=cut)
    return cut_render_run(render_id=render.pk)


def entries(cut):
    return list(cut.entries.select_related("take", "shot").order_by("position"))


def is_close(colour, expected, tolerance=30):
    return all(abs(a - b) <= tolerance for a, b in zip(colour, expected))


def test_mixed_sizes_and_rates_render_at_the_cut_format_to_the_frame(three_shot_cut):
    first, second, _third = entries(three_shot_cut)
    cut_entry_update(entry=first, in_ms=500, out_ms=2000, transition="crossfade", transition_ms=500, line="")
    cut_entry_update(entry=second, in_ms=0, out_ms=1500, transition="dip_to_black", transition_ms=500, line="")

    render = render_now(three_shot_cut)

    assert render.state == RenderState.READY, render.failure_reason
    facts = video_facts(render.video.path)
    # 1.5 s + 1.5 s + 2 s at 24 fps, less the 0.5 s crossfade's overlap = 108 frames.
    assert facts["size"] == (854, 480) and facts["fps"] == 24.0
    assert facts["frames"] == render.frames == 108
    path = render.video.path
    assert is_close(frame_rgb_at(path, 5), (200, 40, 40))
    blended = frame_rgb_at(path, 30)  # inside the crossfade: red and green at once
    assert blended[0] > 70 and blended[1] > 70
    assert is_close(frame_rgb_at(path, 59), (0, 0, 0), 20)  # the dip: black at the join
    assert is_close(frame_rgb_at(path, 100), (40, 40, 200))
    # Conformed, never stretched: the square take is pillarboxed, the portrait one too.
    assert is_close(frame_rgb_at(path, 45, point=(20, 240)), (0, 0, 0), 20)
    assert is_close(frame_rgb_at(path, 100, point=(200, 240)), (0, 0, 0), 20)
    assert is_close(frame_rgb_at(path, 100, point=(427, 240)), (40, 40, 200))


def test_the_same_inputs_are_rendered_once_and_give_the_same_bytes(three_shot_cut):
    first = render_now(three_shot_cut)
    again = cut_render_request(cut=three_shot_cut)
    assert again.pk == first.pk and again.state == RenderState.READY

    # A fresh render of identical inputs (the stored one removed) gives identical bytes.
    original = Path(first.video.path).read_bytes()
    first.delete()
    second = render_now(three_shot_cut)
    assert second.pk != first.pk and Path(second.video.path).read_bytes() == original


def test_changing_a_trim_makes_a_new_render(three_shot_cut):
    first = render_now(three_shot_cut)
    entry = entries(three_shot_cut)[0]
    cut_entry_update(entry=entry, in_ms=200, out_ms=1800, transition="cut", transition_ms=0, line="")
    second = cut_render_request(cut=three_shot_cut)
    assert second.pk != first.pk and second.inputs_hash != first.inputs_hash


def test_output_formats_keep_the_aspect(three_shot_cut):
    for aspect, resolution, size in (("9:16", "1080p", (1080, 1920)), ("1:1", "720p", (720, 720)),
                                     ("4:3", "480p", (640, 480)), ("16:9", "1080p", (1920, 1080))):
        three_shot_cut.aspect_ratio, three_shot_cut.resolution = aspect, resolution
        fmt = output_format(three_shot_cut)
        assert (fmt.width, fmt.height) == size


# --- Bad input: each a clear error, nothing offered for download ------------------------------


def test_a_trim_outside_the_take_is_refused_with_what_to_do(three_shot_cut):
    entry = entries(three_shot_cut)[0]
    with pytest.raises(CutTrimInvalid, match="past the take's end"):
        cut_entry_update(entry=entry, in_ms=0, out_ms=9000, transition="cut", transition_ms=0, line="")
    with pytest.raises(CutTrimInvalid, match="before the out point"):
        cut_entry_update(entry=entry, in_ms=1900, out_ms=2000, transition="cut", transition_ms=0, line="")


def test_a_shot_without_an_approved_take_stops_the_render(three_shot_cut, project):
    shot_for(project, title="Unfinished")
    cut = cut_assemble(project=project)
    with pytest.raises(CutNotReady, match="Unfinished.*no approved take"):
        cut_render_request(cut=cut)
    assert not cut.renders.exists()


def test_a_missing_take_file_stops_the_render(three_shot_cut):
    entry = entries(three_shot_cut)[1]
    entry.take.video.storage.delete(entry.take.video.name)
    with pytest.raises(CutNotReady, match="Market.*video file is missing"):
        cut_render_request(cut=three_shot_cut)


def test_an_unreadable_take_file_stops_the_render(three_shot_cut):
    entry = entries(three_shot_cut)[2]
    with open(entry.take.video.path, "wb") as handle:
        handle.write(b"not a video at all" * 100)
    with pytest.raises(CutMediaUnreadable, match="cannot be read as a video"):
        cut_render_request(cut=three_shot_cut)


def test_a_take_broken_after_the_request_fails_the_render_and_offers_nothing(three_shot_cut):
    render = cut_render_request(cut=three_shot_cut)
    entry = entries(three_shot_cut)[2]
    with open(entry.take.video.path, "r+b") as handle:
        handle.seek(200)
        handle.write(b"\0" * 4000)
        handle.truncate(4300)
    render = cut_render_run(render_id=render.pk)
    assert render.state == RenderState.FAILED and render.failure_reason
    assert not render.video and not render.downloadable


def test_a_voice_over_longer_than_its_shot_is_flagged_with_the_time_it_needs(three_shot_cut):
    entry = entries(three_shot_cut)[0]
    line = "This line goes on and on about the lanterns, the smoke and the crowd, far longer than the shot."
    cut_entry_update(entry=entry, in_ms=0, out_ms=0, transition="cut", transition_ms=0, line=line)
    with pytest.raises(CutLineTooLong, match=r"needs \d+\.\d s but the shot lasts 2\.0 s"):
        cut_inputs(three_shot_cut)


def test_the_cut_takes_the_final_over_the_draft(project, tmp_path):
    shot = shot_for(project, title="Only")
    approved_take(shot, clip_write(tmp_path / "draft.mp4", rgb=(10, 200, 10)))
    final = approved_take(shot, clip_write(tmp_path / "final.mp4", rgb=(200, 10, 10)), tier=Take.Tier.FINAL)
    cut = cut_assemble(project=project)
    assert entries(cut)[0].take == final
    assert inputs_hash(cut_inputs(cut)) == inputs_hash(cut_inputs(cut))


def test_the_cut_uses_a_finals_ready_upscale_and_its_strip_says_so(project, tmp_path, client):
    shot = shot_for(project, title="Only")
    final = approved_take(shot, clip_write(tmp_path / "final.mp4", size=(320, 180), rgb=(200, 10, 10)), tier=Take.Tier.FINAL)
    cut = cut_assemble(project=project)
    assert cut_inputs(cut)["clips"][0]["upscale"] is None
    upscale = upscale_of(final, clip_write(tmp_path / "upscaled.mp4", size=(640, 360), rgb=(200, 10, 10)))

    [clip] = cut_inputs(cut)["clips"]
    assert (clip["video"], clip["source"]["width"]) == (upscale.video.name, 640)
    assert (clip["take"], clip["upscale"]) == (str(final.public_id), str(upscale.public_id))
    assert entries(cut)[0].take == final  # the shot's approved take is still the final; only its file is bigger
    client.force_login(project.owner)
    page = client.get(reverse("cut-page", args=[project.pk])).content.decode()
    assert 'data-testid="cut-upscaled"' in page and str(upscale.public_id) in page

    upscale.video.storage.delete(upscale.video.name)  # the upscale's file gone: the final, not a failed cut
    assert cut_inputs(cut)["clips"][0]["video"] == final.video.name


def test_a_shots_cut_line_is_its_dialogue_for_native_audio_models(three_shot_cut):
    from studio.services.takes import shot_spec

    entry = entries(three_shot_cut)[1]
    cut_entry_update(entry=entry, in_ms=0, out_ms=0, transition="cut", transition_ms=0, line="Fresh noodles!")
    assert shot_spec(shot=entry.shot).dialogue == "Fresh noodles!"
    assert shot_spec(shot=entries(three_shot_cut)[0].shot).dialogue == ""
