"""The cut as an editorial timeline (OpenTimelineIO), and an edited timeline brought back.

Exports: `.otio` (native), FCPXML (otio-fcpx-xml-adapter) and CMX 3600 EDL (otio-cmx3600-adapter),
all from one OTIO timeline. Each clip references its take's file in the media bundle
(`media/NN-<take id>.mp4`, see `media_bundle_write`) with the cut's trims as its source range,
carries the shot's other usable takes as alternate media references (OTIO keeps several per clip;
FCPXML and EDL take the active one) and a marker with the take's score.

A crossfade in the cut overlaps the two shots by its length; in OTIO a dissolve sits across the
cut point and reaches past both clips' ranges, so each clip gives up its side of the overlap on
export and gets it back on import: the round trip returns the same trims.

On import, a clip's take is the one its active media reference names (an editor who swapped in an
alternate made that reference active; the clip's metadata still names the exported take), else
the one in its metadata. A shot whose clip the editor removed leaves the cut (`cut_timeline_apply`).
"""

import io
import json
import re
import uuid
import zipfile
from dataclasses import dataclass

import opentimelineio as otio
from django.core.files.storage import default_storage

from jobs.models import Take, take_score
from jobs.states import TakeState
from studio.cuts.exceptions import TimelineInvalid
from studio.cuts.models import Cut, CutEntry
from studio.cuts.plan import cut_entries

FORMATS = {"otio": ("otio_json", "application/json", "otio"),
           "fcpxml": ("fcpx_xml", "application/xml", "fcpxml"),
           "edl": ("cmx_3600", "text/plain", "edl")}
METADATA_KEY = "shotcraft"
MAX_IMPORT_BYTES = 5 * 1024 * 1024


def media_name(position: int, take: Take) -> str:
    return f"media/{position:02d}-{take.public_id}.mp4"


def cut_timeline(cut: Cut) -> otio.schema.Timeline:
    entries = [entry for entry in cut_entries(cut) if entry.take is not None]
    rate = float(cut.fps)
    timeline = otio.schema.Timeline(name=cut.project.name, global_start_time=otio.opentime.RationalTime(0, rate))
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    timeline.tracks.append(track)
    frames = [_entry_frames(entry, rate) for entry in entries]
    for index, (entry, (start, end)) in enumerate(zip(entries, frames)):
        in_offset = 0
        if index:
            in_offset, out_offset = _crossfade_halves(entries[index - 1], rate)
            if in_offset + out_offset:
                track.append(_dissolve(in_offset, out_offset, rate))
        out_offset = _crossfade_halves(entry, rate)[1] if index < len(entries) - 1 else 0
        track.append(_clip(entry, index + 1, start + in_offset, end - out_offset, rate))
    return timeline


def cut_timeline_text(cut: Cut, fmt: str) -> str:
    adapter = FORMATS[fmt][0]
    timeline = cut_timeline(cut)
    if fmt == "edl":  # EDL reels are eight characters: name each by its shot's place
        for number, clip in enumerate(timeline.find_clips(), start=1):
            clip.metadata.setdefault("cmx_3600", {})["reel"] = f"SHOT{number:03d}"
    return otio.adapters.write_to_string(timeline, adapter)


def _entry_frames(entry: CutEntry, rate: float) -> tuple[int, int]:
    end_ms = entry.out_ms or entry.take.duration_seconds * 1000
    return round(entry.in_ms * rate / 1000), round(end_ms * rate / 1000)


def _crossfade_halves(entry: CutEntry, rate: float) -> tuple[int, int]:
    """(frames before the cut point, frames after it) of the crossfade out of `entry`; (0, 0) for none."""
    if entry.transition != CutEntry.Transition.CROSSFADE:
        return 0, 0
    total = round(entry.transition_ms * rate / 1000)
    return total - total // 2, total // 2


def _dissolve(in_frames: int, out_frames: int, rate: float) -> otio.schema.Transition:
    return otio.schema.Transition(
        name="Cross Dissolve", transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
        in_offset=otio.opentime.RationalTime(in_frames, rate), out_offset=otio.opentime.RationalTime(out_frames, rate))


def _clip(entry: CutEntry, position: int, start: int, end: int, rate: float) -> otio.schema.Clip:
    take = entry.take
    available = otio.opentime.TimeRange(otio.opentime.RationalTime(0, rate),
                                        otio.opentime.RationalTime(take.duration_seconds * rate, rate))
    references = {"DEFAULT_MEDIA": otio.schema.ExternalReference(target_url=media_name(position, take),
                                                                 available_range=available)}
    for alternate in _alternates(entry):
        references[f"alt-{alternate.public_id}"] = otio.schema.ExternalReference(
            target_url=f"media/alternates/{alternate.public_id}.mp4", available_range=otio.opentime.TimeRange(
                otio.opentime.RationalTime(0, rate), otio.opentime.RationalTime(alternate.duration_seconds * rate, rate)))
    clip = otio.schema.Clip(name=entry.shot.title, source_range=otio.opentime.TimeRange(
        otio.opentime.RationalTime(start, rate), otio.opentime.RationalTime(end - start, rate)))
    clip.set_media_references(references, "DEFAULT_MEDIA")
    clip.metadata[METADATA_KEY] = {
        "shot_id": entry.shot_id, "take_id": str(take.public_id), "tier": take.tier, "line": entry.line,
        "transition_out": entry.transition, "transition_out_ms": entry.transition_ms,
        "alternates": [str(alternate.public_id) for alternate in _alternates(entry)],
    }
    score = take_score(take)
    clip.markers.append(otio.schema.Marker(
        name=f"score {score:.2f} ({take.tier})", color=otio.schema.MarkerColor.GREEN if score >= 0.6 else otio.schema.MarkerColor.ORANGE,
        marked_range=otio.opentime.TimeRange(otio.opentime.RationalTime(start, rate), otio.opentime.RationalTime(1, rate)),
        metadata={METADATA_KEY: {"score": score}}))
    return clip


def _alternates(entry: CutEntry) -> list[Take]:
    return list(Take.objects.filter(shot_id=entry.shot_id, state=TakeState.READY).exclude(pk=entry.take_id)
                .exclude(review=Take.Review.REJECTED).exclude(video="").order_by("-created_at")[:5])


def media_bundle_write(cut: Cut, sink) -> None:
    """A zip of the timeline files and the media they name (active takes and alternates)."""
    timeline_texts = {f"{cut.project.name}.{FORMATS[fmt][2]}": cut_timeline_text(cut, fmt) for fmt in FORMATS}
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED) as bundle:
        for name, text in timeline_texts.items():
            bundle.writestr(name, text)
        for position, entry in enumerate([e for e in cut_entries(cut) if e.take is not None], start=1):
            _bundle_file(bundle, entry.take.video.name, media_name(position, entry.take))
            for alternate in _alternates(entry):
                _bundle_file(bundle, alternate.video.name, f"media/alternates/{alternate.public_id}.mp4")


def _bundle_file(bundle: zipfile.ZipFile, stored_name: str, name: str) -> None:
    if not default_storage.exists(stored_name):
        return
    with default_storage.open(stored_name, "rb") as handle, bundle.open(name, "w") as target:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            target.write(chunk)


# -- import ---------------------------------------------------------------------------------


TAKE_ID_IN_NAME = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


@dataclass(frozen=True)
class ImportedEdit:
    shot_ids: list[int]
    trims: dict[int, tuple[int, int]]
    transitions: dict[int, tuple[str, int]]
    takes: dict[int, Take]  # the take on each shot's clip: its exported take, or an alternate swapped in


def timeline_edit_read(cut: Cut, data: bytes) -> ImportedEdit:
    """The order, trims and transitions of an edited `.otio`, checked against the cut's own takes."""
    if len(data) > MAX_IMPORT_BYTES:
        raise TimelineInvalid("The timeline file is larger than 5 MB; export only the cut's video track.")
    try:
        timeline = otio.adapters.read_from_string(data.decode("utf-8"), "otio_json")
    except (UnicodeDecodeError, ValueError, json.JSONDecodeError, otio.exceptions.OTIOError) as error:
        raise TimelineInvalid(f"The file is not a readable OpenTimelineIO timeline ({error}).") from error
    if not isinstance(timeline, otio.schema.Timeline) or not timeline.video_tracks():
        raise TimelineInvalid("The file holds no timeline with a video track.")
    entries = list(cut.entries.select_related("shot", "take"))  # shots an earlier edit removed may come back
    items = list(timeline.video_tracks()[0])
    return _edit_from_items(items, _ClipTakes(entries))


class _ClipTakes:
    """Which of the project's takes a clip shows, and the cut entry of its shot."""

    def __init__(self, entries: list[CutEntry]):
        self.by_shot = {entry.shot_id: entry for entry in entries}
        self.known = {str(entry.take.public_id): entry.take for entry in entries if entry.take is not None}

    def take_for(self, take_id: str) -> Take | None:
        if take_id not in self.known:
            alternate = (Take.objects.filter(public_id=take_id, shot_id__in=self.by_shot, state=TakeState.READY)
                         .exclude(review=Take.Review.REJECTED).exclude(video="").first())
            self.known[take_id] = alternate
        return self.known[take_id]


def _edit_from_items(items: list, clip_takes: _ClipTakes) -> ImportedEdit:
    shot_ids, trims, transitions, takes, pending_in = [], {}, {}, {}, 0
    previous = None
    for item in items:
        if isinstance(item, otio.schema.Transition):
            if previous is None:
                continue
            rate = item.in_offset.rate
            extra_out, pending_in = item.out_offset.to_frames(), item.in_offset.to_frames()
            shot_id = previous[0]
            start_ms, end_ms = trims[shot_id]
            trims[shot_id] = (start_ms, end_ms + _ms(extra_out, rate))
            transitions[shot_id] = ("crossfade", _ms(extra_out + pending_in, rate))
            continue
        if not isinstance(item, otio.schema.Clip):
            continue  # gaps: the cut has none, so a gap is dropped
        take = _take_for_clip(item, clip_takes)
        entry = clip_takes.by_shot[take.shot_id]
        takes[entry.shot_id] = take
        if entry.shot_id in trims:
            raise TimelineInvalid(f"“{item.name}” appears twice; a cut holds each shot once.")
        rate = item.source_range.start_time.rate
        start = item.source_range.start_time.to_frames() - pending_in
        end = item.source_range.end_time_exclusive().to_frames()
        trims[entry.shot_id] = (_ms(start, rate), _ms(end, rate))
        transitions.setdefault(entry.shot_id, ("cut", 0))
        shot_ids.append(entry.shot_id)
        previous, pending_in = (entry.shot_id, item), 0
    if not shot_ids:
        raise TimelineInvalid("The timeline's video track has no clips.")
    return ImportedEdit(shot_ids=shot_ids, trims=trims, transitions=transitions, takes=takes)


def _take_for_clip(clip: otio.schema.Clip, clip_takes: _ClipTakes) -> Take:
    """The take the clip's active media names (an alternate, if the editor swapped one in); for media
    relinked under a name without a take id, the take in the clip's metadata."""
    url = getattr(clip.media_reference, "target_url", "") or ""
    named = TAKE_ID_IN_NAME.search(url.rsplit("/", 1)[-1])
    take_id = named.group(0).lower() if named else str((clip.metadata.get(METADATA_KEY) or {}).get("take_id") or "")
    take = clip_takes.take_for(take_id) if _is_uuid(take_id) else None
    if take is not None:
        return take
    raise TimelineInvalid(f"The clip “{clip.name}” names media that is not one of this project's approved "
                          "takes; use the media bundle exported from this cut.")


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True


def _ms(frames: int, rate: float) -> int:
    return round(frames * 1000 / rate)


def timeline_bytes(cut: Cut, fmt: str) -> io.BytesIO:
    return io.BytesIO(cut_timeline_text(cut, fmt).encode("utf-8"))
