"""What a render is made of, checked against the real files, and the hash that names it.

`cut_inputs` reads every take's file once: it must exist, decode, and be long enough for its
trims; each voice-over line must fit its shot. Everything that decides the output's bytes goes
into the inputs (the takes' file hashes, not just their ids), so the same inputs always give the
same render, and a render is reused instead of made again.

A shot renders from its approved take's upscale when one is ready (`cut_take_sources`), and a take
that carries its own sound (native-audio models) brings that sound into the mix (`own_audio`).
"""

import hashlib
import json
import tempfile
from contextlib import contextmanager
from pathlib import Path

from django.core.files.storage import default_storage

from jobs.models import Take
from studio.cuts.assembly import trim_check
from studio.cuts.exceptions import CutLineTooLong, CutNotReady, CutTrimInvalid
from studio.cuts.models import Cut, CutEntry
from studio.cuts.render import ClipPlan, OutputFormat, audio_present, video_probe
from studio.cuts.selectors import cut_take_sources
from studio.cuts.sound import line_seconds_needed, sound_inputs

RENDERER_VERSION = "cut-render/2"  # 2: takes' own sound in the mix
RESOLUTION_HEIGHTS = {"480p": 480, "720p": 720, "1080p": 1080}
ASPECTS = {"16:9": (16, 9), "9:16": (9, 16), "1:1": (1, 1), "4:3": (4, 3)}
VOICE_LEAD_MS = 150  # a line starts just after its shot does


def output_format(cut: Cut) -> OutputFormat:
    """The frame size for the aspect at the resolution (its short side), both even (480p 16:9 is 854×480)."""
    across, down = ASPECTS[cut.aspect_ratio]
    short = RESOLUTION_HEIGHTS[cut.resolution]
    if across >= down:
        width, height = 2 * round(short * across / down / 2), short
    else:
        width, height = short, 2 * round(short * down / across / 2)
    return OutputFormat(width=width, height=height, fps=cut.fps)


def cut_entries(cut: Cut) -> list[CutEntry]:
    """The entries in the cut (those an edit removed are not), in cut order."""
    return list(cut.entries.filter(included=True).select_related("shot", "take").order_by("position", "id"))


def cut_inputs(cut: Cut) -> dict:
    """The render's inputs, each checked; raises a CutError that says what to fix."""
    entries = cut_entries(cut)
    if not entries:
        if cut.entries.exists():
            raise CutNotReady("Every shot was taken out of the cut: put a shot back in (its “In the cut” box).")
        raise CutNotReady("The storyboard has no shots: add shots and approve a take of each.")
    clips = []
    sources = cut_take_sources(entries)
    with local_takes(entries, sources) as paths:
        for index, entry in enumerate(entries):
            clips.append(_clip_inputs(entry, sources[entry.pk], paths[entry.pk], is_last=index == len(entries) - 1,
                                      voice=cut.voice))
    fmt = output_format(cut)
    _transitions_check(entries, clips)
    return {
        "renderer": RENDERER_VERSION,
        "format": {"width": fmt.width, "height": fmt.height, "fps": fmt.fps},
        "clips": clips,
        **sound_inputs(cut),
        "loudness_lufs": cut.loudness_lufs,
    }


def inputs_hash(inputs: dict) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def line_timing(entry: CutEntry, clip_ms: int, *, voice: str = "local") -> dict | None:
    """The voice-over's length against its shot: {"needed_ms", "available_ms", "fits"}; None without a line."""
    if not entry.line:
        return None
    needed = round(line_seconds_needed(entry.line, provider=voice) * 1000) + VOICE_LEAD_MS
    return {"needed_ms": needed, "available_ms": clip_ms, "fits": needed <= clip_ms}


@contextmanager
def local_takes(entries: list[CutEntry], sources: dict[int, Take | None]):
    """A local path for each entry's source file (copied out of remote storage when it has no path)."""
    with tempfile.TemporaryDirectory(prefix="cut-takes-") as workdir:
        paths = {}
        for entry in entries:
            paths[entry.pk] = _take_local_path(entry, sources[entry.pk], Path(workdir))
        yield paths


def _take_local_path(entry: CutEntry, take: Take | None, workdir: Path) -> Path:
    title = f"Shot {entry.position} “{entry.shot.title}”"
    if take is None:
        raise CutNotReady(f"{title} has no approved take: approve a draft or a final of it first.")
    if not take.video or take.files_expired_at or not default_storage.exists(take.video.name):
        raise CutNotReady(f"{title}: the approved take's video file is missing; render the shot again "
                          "or approve another take.")
    try:
        return Path(default_storage.path(take.video.name))
    except NotImplementedError:  # remote storage: bring a copy here
        target = workdir / f"{entry.pk}.mp4"
        with default_storage.open(take.video.name, "rb") as stored, target.open("wb") as sink:
            for chunk in iter(lambda: stored.read(1024 * 1024), b""):
                sink.write(chunk)
        return target


def _clip_inputs(entry: CutEntry, source: Take, path: Path, *, is_last: bool, voice: str) -> dict:
    title = f"Shot {entry.position} “{entry.shot.title}”"
    width, height, rate, seconds = video_probe(path)
    take_ms = int(seconds * 1000)
    trim_check(shot_title=title, in_ms=entry.in_ms, out_ms=entry.out_ms, take_ms=take_ms)
    out_ms = entry.out_ms or take_ms
    timing = line_timing(entry, out_ms - entry.in_ms, voice=voice)
    if timing and not timing["fits"]:
        raise CutLineTooLong(
            f"{title}: the voice-over needs {timing['needed_ms'] / 1000:.1f} s but the shot lasts "
            f"{timing['available_ms'] / 1000:.1f} s. Shorten the line or trim the shot to at least "
            f"{timing['needed_ms'] / 1000:.1f} s.")
    return {
        "entry": entry.pk, "shot": entry.shot_id, "title": entry.shot.title, "take": str(entry.take.public_id),
        "take_tier": entry.take.tier, "video": source.video.name, "sha256": _file_sha256(path),
        "upscale": str(source.public_id) if source.pk != entry.take_id else None,
        "own_audio": audio_present(path),
        "source": {"width": width, "height": height, "fps": round(rate, 3)},
        "in_ms": entry.in_ms, "out_ms": out_ms,
        "transition": "cut" if is_last else entry.transition,
        "transition_ms": 0 if is_last or entry.transition == "cut" else entry.transition_ms,
        "line": entry.line,
    }


def _transitions_check(entries: list[CutEntry], clips: list[dict]) -> None:
    for entry, clip, following in zip(entries, clips, clips[1:]):
        if clip["transition"] == "cut":
            continue
        shortest = min(clip["out_ms"] - clip["in_ms"], following["out_ms"] - following["in_ms"])
        if clip["transition_ms"] > shortest:
            raise CutTrimInvalid(f"Shot {entry.position} “{entry.shot.title}”: its {clip['transition_ms']} ms "
                                 f"transition is longer than a shot it joins ({shortest} ms).")


def clip_plans(inputs: dict, paths: dict[str, Path]) -> list[ClipPlan]:
    """The renderer's clips from stored inputs; `paths` maps each clip's video name to a local file."""
    return [ClipPlan(path=paths[clip["video"]], in_seconds=clip["in_ms"] / 1000, out_seconds=clip["out_ms"] / 1000,
                     transition=clip["transition"], transition_seconds=clip["transition_ms"] / 1000,
                     label=clip["title"]) for clip in inputs["clips"]]


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()
