"""The cut's shape: which take stands for each shot, in which order, trimmed how.

A cut follows its storyboard: every shot has one entry, holding the shot's approved final (else
its approved draft, shown as a draft). Entries keep the editor's order and trims; a shot's take
changing resets that entry's trims, since the old ones belonged to another file. An imported edit
may take a shot out of the cut (`included`) or swap in one of its alternate takes (`take_pinned`:
kept while that take is usable, instead of following the storyboard's approval).
"""

from dataclasses import dataclass

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
    entries = {entry.shot_id: entry for entry in cut.entries.select_related("take")}
    next_position = (cut.entries.aggregate(last=Max("position"))["last"] or 0) + 1
    for shot in project.shots.select_related("approved_take").order_by("position", "id"):
        take = take_for_cut(shot)
        entry = entries.get(shot.pk)
        if entry is None:
            CutEntry.objects.create(cut=cut, shot=shot, take=take, position=next_position)
            next_position += 1
        elif entry.take_pinned and take_usable(entry.take):
            continue  # the editor's alternate stands until it is rejected or gone
        elif entry.take_id != (take.pk if take else None):
            entry.take, entry.in_ms, entry.out_ms, entry.take_pinned = take, 0, 0, False
            entry.save(update_fields=["take", "in_ms", "out_ms", "take_pinned", "updated_at"])
    return cut


def take_usable(take: Take | None) -> bool:
    """A take the cut may show: ready, not rejected, with its video."""
    return take is not None and take.state == TakeState.READY and take.review != Take.Review.REJECTED and bool(take.video)


@transaction.atomic
def cut_entry_update(*, entry: CutEntry, in_ms: int, out_ms: int, transition: str, transition_ms: int,
                     line: str, included: bool | None = None) -> CutEntry:
    """Trim an entry, choose its transition into the next shot and its voice-over line; put a shot
    an edit removed back in the cut, or take it out (`included`; None leaves it as it is).

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
    if included is not None:
        entry.included = included
    entry.save(update_fields=["in_ms", "out_ms", "transition", "transition_ms", "line", "included", "updated_at"])
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


@dataclass(frozen=True)
class TimelineApplied:
    """What an imported edit changed, for the note the creator reads."""

    kept: int
    dropped: list[str]  # titles of shots the edit removed from the cut
    swapped: list[str]  # titles of shots whose take the edit swapped for an alternate


@transaction.atomic
def cut_timeline_apply(*, cut: Cut, shot_ids: list[int], trims: dict[int, tuple[int, int]],
                       transitions: dict[int, tuple[str, int]], takes: dict[int, Take] | None = None) -> TimelineApplied:
    """An edited timeline's order, trims, crossfades and takes (dips to black are kept where the edit has a cut).

    Shots that were on the exported timeline and are not on the edited one leave the cut; shots
    with no approved take were never exported, so they stay, after the edit's shots.
    """
    takes = takes or {}
    entries = {entry.shot_id: entry for entry in cut.entries.select_for_update(of=("self",)).select_related("take", "shot")}
    for shot_id, (in_ms, out_ms) in trims.items():
        take = takes.get(shot_id, entries[shot_id].take)
        trim_check(shot_title=entries[shot_id].shot.title, in_ms=in_ms, out_ms=out_ms,
                   take_ms=take.duration_seconds * 1000 if take else None)
    others = sorted((entry for shot_id, entry in entries.items() if shot_id not in shot_ids), key=lambda e: (e.position, e.pk))
    applied = TimelineApplied(kept=len(shot_ids), dropped=[], swapped=[])
    for position, entry in enumerate([entries[shot_id] for shot_id in shot_ids] + others, start=1):
        entry.position = position
        _edit_to_entry(entry, applied, trim=trims.get(entry.shot_id), take=takes.get(entry.shot_id),
                       transition=transitions.get(entry.shot_id))
        entry.save(update_fields=["position", "in_ms", "out_ms", "included", "take", "take_pinned", "transition",
                                  "transition_ms", "updated_at"])
    return applied


def _edit_to_entry(entry: CutEntry, applied: TimelineApplied, *, trim: tuple[int, int] | None, take: Take | None,
                   transition: tuple[str, int] | None) -> None:
    if trim is not None:
        entry.in_ms, entry.out_ms = trim
        entry.included = True
    elif entry.included and entry.take is not None:  # it was on the exported timeline and is not on the edited one
        entry.included = False
        applied.dropped.append(entry.shot.title)
    if take is not None and take.pk != entry.take_id:
        entry.take, entry.take_pinned = take, take.pk != getattr(take_for_cut(entry.shot), "pk", None)
        applied.swapped.append(entry.shot.title)
    if transition is not None and not (transition[0] == "cut" and entry.transition == CutEntry.Transition.DIP):
        entry.transition, entry.transition_ms = transition[0], transition[1] or entry.transition_ms
