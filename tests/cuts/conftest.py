"""Cut fixtures: approved takes whose files are real little videos of chosen sizes, rates and colours."""

import itertools
from pathlib import Path

import pytest
from django.core.files import File

from jobs.models import Take
from jobs.states import TakeState
from studio.cuts.assembly import cut_assemble
from studio.models import Shot
from tests.cuts.media import clip_write
from tests.factories import shot_for

_seeds = itertools.count(1)


def approved_take(shot: Shot, video: Path, *, tier: str = Take.Tier.DRAFT, seconds: int = 2) -> Take:
    """A ready take of `shot` holding `video`, approved as the storyboard's pick (as take_approve leaves it)."""
    take = Take.objects.create(
        owner=shot.project.owner, shot=shot, notify_group=shot.project.notify_group, tier=tier, state=TakeState.READY,
        review=Take.Review.APPROVED, request={}, compiled_prompt=shot.subject, compiler_version="test", seed=next(_seeds),
        duration_seconds=seconds, aspect_ratio=shot.aspect_ratio, price_credits=0, progress=100,
        evaluation={"aggregate": 0.7},
    )
    with video.open("rb") as handle:
        take.video.save(video.name, File(handle), save=True)
    if tier == Take.Tier.DRAFT or shot.approved_take is None:
        shot.approved_take = take
        shot.save(update_fields=["approved_take"])
    return take


def upscale_of(final: Take, video: Path) -> Take:
    """A ready upscale of `final` holding `video`, as the upscale pipeline leaves it (never approved itself)."""
    upscale = Take.objects.create(
        owner=final.owner, shot=final.shot, notify_group=final.notify_group, tier=Take.Tier.FINAL, state=TakeState.READY,
        origin=Take.Origin.UPSCALE, source_take=final, request={}, compiled_prompt=final.compiled_prompt,
        compiler_version="test", seed=next(_seeds), duration_seconds=final.duration_seconds,
        aspect_ratio=final.aspect_ratio, price_credits=0, progress=100, evaluation={"aggregate": 0.7, "passed": True},
    )
    with video.open("rb") as handle:
        upscale.video.save(video.name, File(handle), save=True)
    return upscale


@pytest.fixture
def three_shot_cut(project, tmp_path):
    """Three shots whose takes differ in size and frame rate: red 320×180@24, green 240×240@30, blue 180×320@25."""
    specs = [("Arrival", (320, 180), 24, (200, 40, 40)), ("Market", (240, 240), 30, (40, 200, 40)),
             ("Lantern", (180, 320), 25, (40, 40, 200))]
    for title, size, fps, rgb in specs:
        shot = shot_for(project, title=title)
        approved_take(shot, clip_write(tmp_path / f"{title}.mp4", size=size, fps=fps, seconds=2, rgb=rgb))
    cut = cut_assemble(project=project)
    cut.resolution, cut.fps, cut.music = "480p", 24, "none"
    cut.save()
    return cut
