"""The cut's shape: which take stands for each shot, in which order, trimmed how.

A cut follows its storyboard: every shot has one entry, holding the shot's approved final (else
its approved draft, shown as a draft). Entries keep the editor's order and trims; a shot's take
changing resets that entry's trims, since the old ones belonged to another file.
"""

from django.db import transaction
from django.db.models import Max

from jobs.models import Take
from jobs.states import TakeState
from studio.cuts.exceptions import CutLineTooLong, CutTrimInvalid
from studio.cuts.models import Cut, CutEntry
from studio.models import Project, Shot

MIN_CLIP_MS = 200
MAX_TRANSITION_MS = 3000


def take_for_cut(shot: Shot) -> Take | None:
    """The take that stands for the shot in the cut: its newest approved final, else its approved take."""
    final = (Take.objects.filter(shot=shot, tier=Take.Tier.FINAL, review=Take.Review.APPROVED, state=TakeState.READY)
             .order_by("-created_at", "-id").first())
    if final is not None:
        return final
    approved = shot.approved_take
    if approved is not None and approved.state == TakeState.READY and approved.review == Take.Review.APPROVED:
        return approved
    return None


@transaction.atomic
def cut_assemble(*, project: Project) -> Cut:
    """The project's cut, brought in line with its storyboard (new shots appended, takes refreshed)."""
    cut, _ = Cut.objects.select_for_update().get_or_create(project=project)
    entries = {entry.shot_id: entry for entry in cut.entries.all()}
    next_position = (cut.entries.aggregate(last=Max("position"))["last"] or 0) + 1
    for shot in project.shots.select_related("approved_take").order_by("position", "id"):
        take = take_for_cut(shot)
        entry = entries.get(shot.pk)
        if entry is None:
            CutEntry.objects.create(cut=cut, shot=shot, take=take, position=next_position)
            next_position += 1
        elif entry.take_id != (take.pk if take else None):
            entry.take, entry.in_ms, entry.out_ms = take, 0, 0
            entry.save(update_fields=["take", "in_ms", "out_ms", "updated_at"])
    return cut


@transaction.atomic
def cut_entry_update(*, entry: CutEntry, in_ms: int, out_ms: int, transition: str, transition_ms: int,
                     line: str) -> CutEntry:
    """Trim an entry, choose its transition into the next shot and its voice-over line.

    Checked here against the take's requested length; the file itself is checked again when the
    cut renders (studio.cuts.plan), where its real duration is known.
    """
    take_ms = entry.take.duration_seconds * 1000 if entry.take else None
    trim_check(shot_title=entry.shot.title, in_ms=in_ms, out_ms=out_ms, take_ms=take_ms)
    if transition not in CutEntry.Transition.values:
        raise CutTrimInvalid(f"Unknown transition {transition!r}: use cut, crossfade or dip_to_black.")
    if not 0 <= transition_ms <= MAX_TRANSITION_MS:
        raise CutTrimInvalid(f"A transition lasts 0 to {MAX_TRANSITION_MS / 1000:g} s.")
    if len(line) > CutEntry.MAX_LINE_LENGTH:
        raise CutLineTooLong(f"{entry.shot.title}: a line has at most {CutEntry.MAX_LINE_LENGTH} characters.")
    entry.in_ms, entry.out_ms, entry.transition, entry.transition_ms, entry.line = (
        in_ms, out_ms, transition, transition_ms, line.strip())
    entry.save(update_fields=["in_ms", "out_ms", "transition", "transition_ms", "line", "updated_at"])
    return entry


def trim_check(*, shot_title: str, in_ms: int, out_ms: int, take_ms: int | None) -> None:
    """Raise CutTrimInvalid unless in/out lie inside the take (out 0 = its end) and keep enough of it."""
    if in_ms < 0 or out_ms < 0:
        raise CutTrimInvalid(f"{shot_title}: trim points cannot be negative.")
    end = out_ms or take_ms
    if take_ms is not None and end > take_ms + 1:
        raise CutTrimInvalid(f"{shot_title}: the out point {end / 1000:.2f} s is past the take's end "
                             f"({take_ms / 1000:.2f} s). Set it to {take_ms / 1000:.2f} s or less.")
    if end is not None and end - in_ms < MIN_CLIP_MS:
        raise CutTrimInvalid(f"{shot_title}: the in point must come at least {MIN_CLIP_MS} ms before the out point.")


@transaction.atomic
def cut_format_update(*, cut: Cut, aspect_ratio: str, resolution: str, fps: int, music: str, voice: str = "local",
                      music_prompt: str = "") -> Cut:
    cut.aspect_ratio, cut.resolution, cut.fps, cut.music, cut.voice = aspect_ratio, resolution, fps, music, voice
    cut.music_prompt = music_prompt.strip() or cut.music_prompt
    cut.full_clean(exclude=["project"])
    cut.save(update_fields=["aspect_ratio", "resolution", "fps", "music", "voice", "music_prompt", "updated_at"])
    return cut


@transaction.atomic
def cut_reorder(*, cut: Cut, shot_ids: list[int], trims: dict[int, tuple[int, int]]) -> Cut:
    """Put the entries in the given shot order (others after them) with new trims (an imported timeline)."""
    entries = {entry.shot_id: entry for entry in cut.entries.select_for_update(of=("self",)).select_related("take", "shot")}
    for shot_id, (in_ms, out_ms) in trims.items():
        entry = entries[shot_id]
        take_ms = entry.take.duration_seconds * 1000 if entry.take else None
        trim_check(shot_title=entry.shot.title, in_ms=in_ms, out_ms=out_ms, take_ms=take_ms)
    order = shot_ids + [shot_id for shot_id in entries if shot_id not in shot_ids]
    for position, shot_id in enumerate(order, start=1):
        entry = entries[shot_id]
        entry.position = position
        if shot_id in trims:
            entry.in_ms, entry.out_ms = trims[shot_id]
        entry.save(update_fields=["position", "in_ms", "out_ms", "updated_at"])
    return cut


@transaction.atomic
def cut_timeline_apply(*, cut: Cut, shot_ids: list[int], trims: dict[int, tuple[int, int]],
                       transitions: dict[int, tuple[str, int]]) -> Cut:
    """An edited timeline's order, trims and crossfades (dips to black are kept where the edit has a cut)."""
    cut_reorder(cut=cut, shot_ids=shot_ids, trims=trims)
    for entry in cut.entries.filter(shot_id__in=transitions):
        kind, length_ms = transitions[entry.shot_id]
        if kind == "cut" and entry.transition == CutEntry.Transition.DIP:
            continue
        entry.transition, entry.transition_ms = kind, length_ms or entry.transition_ms
        entry.save(update_fields=["transition", "transition_ms", "updated_at"])
    return cut
