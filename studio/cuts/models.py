"""A project's cut: its entries (one per shot, in cut order) and its renders, addressed by the
hash of everything that decides their bytes. The render lifecycle is a table (RENDER_TRANSITIONS)
with one locking writer, `studio.cuts.services.render_transition`."""

from django.db import models
from django.db.models import Q

from studio.models import Project, Shot


def cut_render_path(instance: "CutRender", filename: str) -> str:
    return f"cuts/{instance.cut.project_id}/{instance.inputs_hash}/{filename}"


class Cut(models.Model):
    class Resolution(models.TextChoices):
        P480 = "480p", "480p"
        P720 = "720p", "720p"
        P1080 = "1080p", "1080p"

    class Music(models.TextChoices):
        NONE = "none", "No music"
        LOCAL = "local", "Local music bed (free)"
        ELEVENLABS = "elevenlabs", "ElevenLabs music"

    class Voice(models.TextChoices):
        LOCAL = "local", "Local voice (free)"
        ELEVENLABS = "elevenlabs", "ElevenLabs voice"

    FPS_CHOICES = [(24, "24 fps"), (25, "25 fps"), (30, "30 fps")]

    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="cut")
    aspect_ratio = models.CharField(max_length=8, choices=Shot.AspectRatio.choices, default=Shot.AspectRatio.LANDSCAPE)
    resolution = models.CharField(max_length=8, choices=Resolution.choices, default=Resolution.P720)
    fps = models.PositiveSmallIntegerField(choices=FPS_CHOICES, default=24)
    music = models.CharField(max_length=16, choices=Music.choices, default=Music.LOCAL)
    music_prompt = models.CharField(max_length=300, blank=True, default="warm, unhurried ambient pad",
                                    help_text="What the generated music bed should sound like (ElevenLabs music)")
    voice = models.CharField(max_length=16, choices=Voice.choices, default=Voice.LOCAL,
                             help_text="Who reads the voice-over lines of takes without sound")
    music_volume_db = models.SmallIntegerField(default=-18, help_text="The bed's level under no speech")
    loudness_lufs = models.SmallIntegerField(default=-14, help_text="Integrated loudness of the mix (ITU-R BS.1770)")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(fps__in=[24, 25, 30]), name="cut_fps_valid"),
            models.CheckConstraint(condition=Q(resolution__in=["480p", "720p", "1080p"]), name="cut_resolution_valid"),
            models.CheckConstraint(condition=Q(loudness_lufs__gte=-31, loudness_lufs__lte=-5), name="cut_loudness_range"),
        ]

    def __str__(self) -> str:
        return f"Cut of {self.project}"


class CutEntry(models.Model):
    class Transition(models.TextChoices):
        CUT = "cut", "Cut"
        CROSSFADE = "crossfade", "Crossfade"
        DIP = "dip_to_black", "Dip to black"

    MAX_LINE_LENGTH = 400

    cut = models.ForeignKey(Cut, on_delete=models.CASCADE, related_name="entries")
    shot = models.ForeignKey(Shot, on_delete=models.CASCADE, related_name="cut_entries")
    position = models.PositiveIntegerField(default=0)
    take = models.ForeignKey("jobs.Take", null=True, blank=True, on_delete=models.SET_NULL, related_name="cut_entries",
                             help_text="The shot's approved take when the cut last looked; none = the shot is not ready")
    take_pinned = models.BooleanField(default=False, help_text="The take was swapped in by an edit (an alternate): kept "
                                                               "while usable instead of following the storyboard's approval")
    included = models.BooleanField(default=True, help_text="Off: the shot was removed in an edit; it stays out of renders "
                                                           "and exports until it is put back")
    in_ms = models.PositiveIntegerField(default=0)
    out_ms = models.PositiveIntegerField(default=0, help_text="0 = the take's end")
    transition = models.CharField(max_length=16, choices=Transition.choices, default=Transition.CUT,
                                  help_text="Into the next shot")
    transition_ms = models.PositiveIntegerField(default=500)
    line = models.TextField(max_length=MAX_LINE_LENGTH, blank=True, help_text="Voice-over spoken over this shot")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["cut", "shot"], name="cut_entry_one_per_shot"),
            models.CheckConstraint(condition=Q(transition__in=["cut", "crossfade", "dip_to_black"]),
                                   name="cut_entry_transition_valid"),
            models.CheckConstraint(condition=Q(out_ms=0) | Q(out_ms__gt=models.F("in_ms")), name="cut_entry_trim_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.cut} · {self.shot}"


class RenderState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RENDERING = "rendering", "Rendering"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"


RENDER_TRANSITIONS: dict[str, frozenset[str]] = {
    RenderState.QUEUED: frozenset({RenderState.RENDERING, RenderState.FAILED}),
    RenderState.RENDERING: frozenset({RenderState.READY, RenderState.FAILED}),
    RenderState.READY: frozenset(),
    # A failed render can be asked for again (a file put back): it starts over.
    RenderState.FAILED: frozenset({RenderState.QUEUED}),
}


class CutRender(models.Model):
    """One rendering of a cut's inputs; the same inputs hash is rendered once and reused."""

    cut = models.ForeignKey(Cut, on_delete=models.CASCADE, related_name="renders")
    inputs_hash = models.CharField(max_length=64)
    inputs = models.JSONField(help_text="Everything that decides the bytes: takes' file hashes, trims, format, sound")
    state = models.CharField(max_length=16, choices=RenderState.choices, default=RenderState.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    video = models.FileField(upload_to=cut_render_path, max_length=255, blank=True)
    provenance = models.FileField(upload_to=cut_render_path, max_length=255, blank=True)
    frames = models.PositiveIntegerField(default=0)
    failure_reason = models.TextField(blank=True)
    price_credits = models.PositiveIntegerField(default=0, help_text="Credits held for its generated audio, charged when ready")
    reservation = models.OneToOneField("billing.Reservation", null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="cut_render")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["cut", "inputs_hash"], name="cut_render_once_per_inputs"),
            models.CheckConstraint(condition=Q(state__in=["queued", "rendering", "ready", "failed"]),
                                   name="cut_render_state_valid"),
            models.CheckConstraint(condition=Q(progress__gte=0, progress__lte=100), name="cut_render_progress_percent"),
        ]

    def __str__(self) -> str:
        return f"{self.cut} @ {self.inputs_hash[:10]} ({self.state})"

    @property
    def live_version(self) -> int:
        """Orders the page's updates: a later render, a later state or more progress is newer."""
        rank = {"queued": 0, "rendering": 1, "failed": 2, "ready": 2}[self.state]
        return self.pk * 10_000 + rank * 1000 + self.progress

    @property
    def downloadable(self) -> bool:
        return self.state == RenderState.READY and bool(self.video)
