"""Editorial hand-off: OTIO, FCPXML and EDL read back by OpenTimelineIO, and an edited .otio brought back."""

import io
import json
import zipfile

import opentimelineio as otio
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from studio.cuts.assembly import cut_assemble, cut_entry_update, cut_timeline_apply
from studio.cuts.exceptions import TimelineInvalid
from studio.cuts.plan import cut_inputs
from studio.cuts.timeline import (
    cut_timeline_text,
    media_bundle_write,
    timeline_edit_read,
)
from tests.cuts.conftest import approved_take
from tests.cuts.media import clip_write

pytestmark = pytest.mark.django_db


def entries(cut):
    return list(cut.entries.select_related("take", "shot").order_by("position"))


@pytest.fixture
def trimmed_cut(three_shot_cut):
    first, second, third = entries(three_shot_cut)
    cut_entry_update(entry=first, in_ms=250, out_ms=1750, transition="cut", transition_ms=0, line="")
    cut_entry_update(entry=second, in_ms=500, out_ms=2000, transition="cut", transition_ms=0, line="")
    cut_entry_update(entry=third, in_ms=0, out_ms=1000, transition="cut", transition_ms=0, line="")
    return three_shot_cut


def clips_of(timeline) -> list[tuple[str, int, int]]:
    """(name, first frame, frame count) of each clip on the first video track."""
    return [(clip.name, clip.source_range.start_time.to_frames(), clip.source_range.duration.to_frames())
            for clip in timeline.video_tracks()[0].find_clips()]


EXPECTED = [("Arrival", 6, 36), ("Market", 12, 36), ("Lantern", 0, 24)]  # at 24 fps


@pytest.mark.parametrize("fmt, adapter", [("otio", "otio_json"), ("fcpxml", "fcpx_xml"), ("edl", "cmx_3600")])
def test_each_export_reads_back_with_the_shots_and_trims(trimmed_cut, fmt, adapter):
    text = cut_timeline_text(trimmed_cut, fmt)
    kwargs = {"rate": 24} if adapter == "cmx_3600" else {}
    timeline = otio.adapters.read_from_string(text, adapter, **kwargs)
    found = clips_of(timeline)
    if fmt == "edl":  # an EDL keeps reel names and timecodes, not clip titles
        assert [(start, length) for _, start, length in found] == [(s, n) for _, s, n in EXPECTED]
    else:
        assert found == EXPECTED


def test_the_otio_export_carries_alternates_scores_and_media_names(trimmed_cut, tmp_path):
    shot = entries(trimmed_cut)[0].shot
    other = approved_take(shot, clip_write(tmp_path / "alt.mp4", rgb=(90, 90, 90)))
    other.review = "pending"
    other.save()
    shot.approved_take = entries(trimmed_cut)[0].take
    shot.save()
    timeline = otio.adapters.read_from_string(cut_timeline_text(trimmed_cut, "otio"), "otio_json")
    first = timeline.find_clips()[0]
    assert set(first.media_references()) == {"DEFAULT_MEDIA", f"alt-{other.public_id}"}
    assert first.media_reference.target_url.startswith("media/01-")
    (marker,) = first.markers
    assert marker.name.startswith("score 0.70")


def test_a_crossfade_round_trips_to_the_same_trims(trimmed_cut):
    first = entries(trimmed_cut)[0]
    cut_entry_update(entry=first, in_ms=250, out_ms=1750, transition="crossfade", transition_ms=500, line="")
    text = cut_timeline_text(trimmed_cut, "otio")
    timeline = otio.adapters.read_from_string(text, "otio_json")
    assert any(isinstance(item, otio.schema.Transition) for item in timeline.video_tracks()[0])

    edit = timeline_edit_read(trimmed_cut, text.encode())
    by_shot = {entry.shot_id: entry for entry in entries(trimmed_cut)}
    assert edit.trims == {shot_id: (e.in_ms, e.out_ms) for shot_id, e in by_shot.items()}
    assert edit.transitions[first.shot_id] == ("crossfade", 500)


def test_an_edited_otio_applies_the_new_order_and_trims(trimmed_cut):
    timeline = otio.adapters.read_from_string(cut_timeline_text(trimmed_cut, "otio"), "otio_json")
    track = timeline.video_tracks()[0]
    arrival, market, lantern = list(track)
    track[:] = []
    lantern.source_range = otio.opentime.TimeRange(otio.opentime.RationalTime(12, 24), otio.opentime.RationalTime(24, 24))
    for clip in (lantern, arrival, market):
        track.append(clip)
    edited = otio.adapters.write_to_string(timeline, "otio_json").encode()

    edit = timeline_edit_read(trimmed_cut, edited)
    cut_timeline_apply(cut=trimmed_cut, shot_ids=edit.shot_ids, trims=edit.trims, transitions=edit.transitions)

    after = entries(trimmed_cut)
    assert [e.shot.title for e in after] == ["Lantern", "Arrival", "Market"]
    assert (after[0].in_ms, after[0].out_ms) == (500, 1500)
    assert (after[1].in_ms, after[1].out_ms) == (250, 1750)


def test_a_corrupt_timeline_is_refused(trimmed_cut):
    with pytest.raises(TimelineInvalid, match="not a readable OpenTimelineIO"):
        timeline_edit_read(trimmed_cut, b'{"OTIO_SCHEMA": "Timeline.1", "tracks": ')
    with pytest.raises(TimelineInvalid, match="not a readable OpenTimelineIO"):
        timeline_edit_read(trimmed_cut, b"\xff\xfe garbage")


def test_a_timeline_naming_foreign_media_is_refused(trimmed_cut):
    foreign = "00000000-0000-0000-0000-000000000000"
    timeline = json.loads(cut_timeline_text(trimmed_cut, "otio"))
    clip = timeline["tracks"]["children"][0]["children"][0]
    clip["media_references"]["DEFAULT_MEDIA"]["target_url"] = f"media/01-{foreign}.mp4"
    with pytest.raises(TimelineInvalid, match="Arrival.*not one of this project's approved takes"):
        timeline_edit_read(trimmed_cut, json.dumps(timeline).encode())
    # Media relinked under a name without a take id: the clip's metadata decides, and must be ours too.
    clip["media_references"]["DEFAULT_MEDIA"]["target_url"] = "/Volumes/edit/arrival_v2.mov"
    clip["metadata"]["shotcraft"]["take_id"] = foreign
    with pytest.raises(TimelineInvalid, match="Arrival.*not one of this project's approved takes"):
        timeline_edit_read(trimmed_cut, json.dumps(timeline).encode())


def otio_read(text: str) -> otio.schema.Timeline:
    return otio.adapters.read_from_string(text, "otio_json")


def test_a_clip_removed_in_the_edit_takes_its_shot_out_of_the_cut_until_it_is_put_back(trimmed_cut, client):
    timeline = otio_read(cut_timeline_text(trimmed_cut, "otio"))
    track = timeline.video_tracks()[0]
    arrival, _market, lantern = list(track)
    track[:] = []
    track.extend([arrival, lantern])
    upload = SimpleUploadedFile("edited.otio", otio.adapters.write_to_string(timeline, "otio_json").encode())

    client.force_login(trimmed_cut.project.owner)
    page = client.post(reverse("cut-import", args=[trimmed_cut.project_id]), {"timeline": upload}, follow=True)

    assert "Taken out of the cut because the edit removed their clips: “Market”" in page.content.decode()
    assert [clip["title"] for clip in cut_inputs(trimmed_cut)["clips"]] == ["Arrival", "Lantern"]
    assert [clip.name for clip in otio_read(cut_timeline_text(trimmed_cut, "otio")).find_clips()] == ["Arrival", "Lantern"]
    cut_assemble(project=trimmed_cut.project)  # following the storyboard does not bring it back
    market = entries(trimmed_cut)[2]
    assert market.shot.title == "Market" and not market.included
    cut_entry_update(entry=market, in_ms=500, out_ms=2000, transition="cut", transition_ms=0, line="", included=True)
    assert [clip["title"] for clip in cut_inputs(trimmed_cut)["clips"]] == ["Arrival", "Lantern", "Market"]


def test_an_alternate_the_editor_swapped_in_becomes_the_shots_take_in_the_cut(trimmed_cut, tmp_path):
    arrival = entries(trimmed_cut)[0]
    alternate = approved_take(arrival.shot, clip_write(tmp_path / "alt.mp4", seconds=3, rgb=(90, 90, 90)), seconds=3)
    alternate.review = "pending"
    alternate.save()
    arrival.shot.approved_take = arrival.take
    arrival.shot.save()
    timeline = otio_read(cut_timeline_text(trimmed_cut, "otio"))
    clip = timeline.find_clips()[0]
    clip.active_media_reference_key = f"alt-{alternate.public_id}"  # what an editor's "swap take" leaves
    # 1 s to 3 s: past the exported take's 2 s end, inside the 3 s alternate's.
    clip.source_range = otio.opentime.TimeRange(otio.opentime.RationalTime(24, 24), otio.opentime.RationalTime(48, 24))

    edit = timeline_edit_read(trimmed_cut, otio.adapters.write_to_string(timeline, "otio_json").encode())
    applied = cut_timeline_apply(cut=trimmed_cut, shot_ids=edit.shot_ids, trims=edit.trims,
                                 transitions=edit.transitions, takes=edit.takes)

    assert applied.swapped == ["Arrival"] and applied.dropped == []
    first = entries(trimmed_cut)[0]
    assert (first.take, first.take_pinned, first.in_ms, first.out_ms) == (alternate, True, 1000, 3000)
    cut_assemble(project=trimmed_cut.project)  # the storyboard's approval does not undo the editor's choice
    assert entries(trimmed_cut)[0].take == alternate
    assert cut_inputs(trimmed_cut)["clips"][0]["take"] == str(alternate.public_id)


def test_an_imported_trim_outside_the_take_is_refused(trimmed_cut):
    from studio.cuts.exceptions import CutTrimInvalid

    timeline = otio.adapters.read_from_string(cut_timeline_text(trimmed_cut, "otio"), "otio_json")
    first = timeline.find_clips()[0]
    first.source_range = otio.opentime.TimeRange(otio.opentime.RationalTime(0, 24), otio.opentime.RationalTime(240, 24))
    edit = timeline_edit_read(trimmed_cut, otio.adapters.write_to_string(timeline, "otio_json").encode())
    with pytest.raises(CutTrimInvalid, match="past the take's end"):
        cut_timeline_apply(cut=trimmed_cut, shot_ids=edit.shot_ids, trims=edit.trims, transitions=edit.transitions)
    assert (entries(trimmed_cut)[0].in_ms, entries(trimmed_cut)[0].out_ms) == (250, 1750)


def test_the_media_bundle_holds_the_timelines_and_the_media_they_name(trimmed_cut):
    sink = io.BytesIO()
    media_bundle_write(trimmed_cut, sink)
    names = set(zipfile.ZipFile(sink).namelist())
    timeline = otio.adapters.read_from_string(cut_timeline_text(trimmed_cut, "otio"), "otio_json")
    assert {clip.media_reference.target_url for clip in timeline.find_clips()} <= names
    assert {"Night market.otio", "Night market.fcpxml", "Night market.edl"} <= names
