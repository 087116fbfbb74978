"""Projects, their storyboard of shots, the character references shots can use, production runs and review."""

import uuid

from django.conf import settings
from django.core.validators import (
    MaxLengthValidator,
    MaxValueValidator,
    MinValueValidator,
)
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Project(models.Model):
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=120)
    description = models.TextField(max_length=2000, blank=True, validators=[MaxLengthValidator(2000)])
    score_threshold = models.PositiveSmallIntegerField(
        default=60, validators=[MaxValueValidator(100)],
        help_text="A production run escalates a shot's best draft to a final only at or above this score (0-100)",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at", "-id"]
        constraints = [models.CheckConstraint(condition=~Q(name=""), name="project_name_not_empty")]

    def __str__(self) -> str:
        return self.name

    @property
    def notify_group(self) -> str:
        return f"project-{self.pk}"

    @property
    def budget_key(self) -> str:
        return project_budget_key(self.pk)


def project_budget_key(project_id: int) -> str:
    """The billing budget scope (SpendBudget.key, Reservation.budget_key) of one project's takes."""
    return f"project:{project_id}"


class CharacterReference(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="characters")
    name = models.CharField(max_length=80)
    description = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(name=""), name="character_name_not_empty"),
            models.UniqueConstraint(fields=["project", "name"], name="character_name_unique_in_project"),
        ]

    def __str__(self) -> str:
        return self.name


def character_image_path(instance: "CharacterImage", filename: str) -> str:
    return f"references/{instance.character.project_id}/{instance.sha256[:2]}/{instance.sha256}.{instance.format.lower()}"


class CharacterImage(models.Model):
    """A validated, re-encoded reference image (the upload itself is never stored as-is)."""

    character = models.ForeignKey(CharacterReference, on_delete=models.CASCADE, related_name="images")
    image = models.ImageField(upload_to=character_image_path)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    format = models.CharField(max_length=8)
    sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["character", "sha256"], name="character_image_unique")]

    def __str__(self) -> str:
        return f"{self.character.name} #{self.pk}"


class Shot(models.Model):
    class Camera(models.TextChoices):
        STATIC = "static", "Static"
        DOLLY_IN = "dolly_in", "Dolly in"
        DOLLY_OUT = "dolly_out", "Dolly out"
        PAN_LEFT = "pan_left", "Pan left"
        PAN_RIGHT = "pan_right", "Pan right"
        TILT_UP = "tilt_up", "Tilt up"
        TILT_DOWN = "tilt_down", "Tilt down"
        ORBIT = "orbit", "Orbit (parallax)"

    class AspectRatio(models.TextChoices):
        LANDSCAPE = "16:9", "16:9 landscape"
        PORTRAIT = "9:16", "9:16 portrait"
        SQUARE = "1:1", "1:1 square"
        CLASSIC = "4:3", "4:3 classic"

    MIN_DURATION_SECONDS = 1
    MAX_DURATION_SECONDS = 20

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="shots")
    position = models.PositiveIntegerField(default=0)
    title = models.CharField(max_length=120)
    subject = models.CharField(max_length=500, help_text="Who or what the shot is about")
    scene = models.CharField(max_length=500, blank=True, help_text="Where and when it happens")
    camera = models.CharField(max_length=16, choices=Camera.choices, default=Camera.STATIC)
    motion = models.CharField(max_length=500, blank=True, help_text="What moves, beat by beat")
    duration_seconds = models.PositiveSmallIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(20)], help_text="1 to 20 seconds"
    )
    style = models.CharField(max_length=200, blank=True)
    negative = models.CharField(max_length=300, blank=True, help_text="What must not appear")
    aspect_ratio = models.CharField(max_length=8, choices=AspectRatio.choices, default=AspectRatio.LANDSCAPE)
    characters = models.ManyToManyField(CharacterReference, blank=True, related_name="shots")
    approved_take = models.OneToOneField(
        "jobs.Take", null=True, blank=True, on_delete=models.SET_NULL, related_name="approved_for"
    )
    approved_spec_hash = models.CharField(
        max_length=64, blank=True, editable=False,
        help_text="The hash of the shot's spec (prompt, references, format) when its take was approved; "
                  "a different hash now means the approval is stale (studio.services.approvals)",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(condition=~Q(title=""), name="shot_title_not_empty"),
            models.CheckConstraint(condition=~Q(subject=""), name="shot_subject_not_empty"),
            models.CheckConstraint(
                condition=Q(duration_seconds__gte=1, duration_seconds__lte=20), name="shot_duration_in_range"
            ),
            models.CheckConstraint(condition=Q(aspect_ratio__in=["16:9", "9:16", "1:1", "4:3"]), name="shot_aspect_valid"),
            models.CheckConstraint(
                condition=Q(camera__in=["static", "dolly_in", "dolly_out", "pan_left", "pan_right", "tilt_up", "tilt_down", "orbit"]),
                name="shot_camera_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.title


class ApiToken(models.Model):
    """A bearer key for the JSON API. Only a SHA-256 of the key is kept; the key is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=80, help_text="What the token is for, e.g. the script that uses it")
    key_prefix = models.CharField(max_length=8, help_text="The key's first characters, to tell tokens apart")
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=~Q(name=""), name="api_token_name_not_empty")]

    def __str__(self) -> str:
        return f"{self.name} ({self.key_prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None


class ProductionRun(models.Model):
    """A storyboard (or chosen shots) driven through draft rounds → selection → final, shot by shot.

    A persisted state machine like a take: studio/run_states.py is its table and
    studio/services/runs/transitions.py its only writer. It spends only through take requests.
    """

    class Mode(models.TextChoices):
        REVIEW_DRAFTS = "review_drafts", "Review drafts"  # stops for the creator's pick before any final
        AUTOPILOT = "autopilot", "Autopilot"  # escalates on its own; the creator reviews the finals

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="runs")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="runs")
    mode = models.CharField(max_length=16, choices=Mode.choices, default=Mode.AUTOPILOT)
    state = models.CharField(max_length=16, default="running")
    drafts_per_shot = models.PositiveSmallIntegerField(default=3)
    retry_rounds = models.PositiveSmallIntegerField(default=1, help_text="Draft rounds tried again before a shot is handed back")
    score_threshold = models.PositiveSmallIntegerField(help_text="The project's threshold when the run started")
    forecast = models.JSONField(default=dict, blank=True, help_text="Expected credits per shot and in all, made at the start")
    stop_reason = models.TextField(blank=True)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="When the run was last advanced")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "idempotency_key"], name="run_idempotency_key_unique_per_owner"),
            models.CheckConstraint(condition=Q(state__in=["running", "paused", "completed", "stopped", "cancelled"]),
                                   name="run_state_valid"),
            models.CheckConstraint(condition=Q(mode__in=["review_drafts", "autopilot"]), name="run_mode_valid"),
            models.CheckConstraint(condition=Q(drafts_per_shot__gte=1, drafts_per_shot__lte=4), name="run_drafts_per_shot_range"),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} of {self.project_id} ({self.state})"

    @property
    def notify_group(self) -> str:
        return f"project-{self.project_id}"


class RunShot(models.Model):
    """One shot's way through a run: its draft rounds, the pick, the final, or why it needs the creator."""

    run = models.ForeignKey(ProductionRun, on_delete=models.CASCADE, related_name="shots")
    shot = models.ForeignKey(Shot, on_delete=models.CASCADE, related_name="run_shots")
    position = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=20, default="pending")
    round = models.PositiveSmallIntegerField(default=0, help_text="Draft rounds started")
    picked_take = models.ForeignKey("jobs.Take", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    final_take = models.ForeignKey("jobs.Take", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    reason = models.CharField(max_length=500, blank=True, help_text="Why the shot needs the creator, or what it waits for")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["run", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "shot"], name="run_shot_unique"),
            models.CheckConstraint(
                condition=Q(state__in=["pending", "drafting", "awaiting_approval", "finalizing", "final_ready",
                                       "needs_you", "cancelled"]), name="run_shot_state_valid"),
        ]

    def __str__(self) -> str:
        return f"Run {self.run_id} shot {self.shot_id} ({self.state})"


class RunEvent(models.Model):
    """One state change of a run or of one of its shots. Append-only."""

    run = models.ForeignKey(ProductionRun, on_delete=models.CASCADE, related_name="events")
    run_shot = models.ForeignKey(RunShot, null=True, blank=True, on_delete=models.CASCADE, related_name="events")
    from_state = models.CharField(max_length=20, blank=True)
    to_state = models.CharField(max_length=20)
    detail = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_state or '∅'} → {self.to_state}"


class ShareLink(models.Model):
    """A read-only review link to one project: signed, expiring and revocable, no account needed.

    The URL carries `public_id` signed with django.core.signing (studio.services.review); a link
    answers only while it is neither revoked nor expired, and only for its own project.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="share_links")
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    label = models.CharField(max_length=80, help_text="Who the link is for, e.g. “Client — Acme”")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=~Q(label=""), name="share_link_label_not_empty")]

    def __str__(self) -> str:
        return f"{self.label} ({self.project})"

    @property
    def state(self) -> str:
        """"active", "revoked" or "expired" (studio.selectors.share_link_get opens active links only)."""
        if self.revoked_at is not None:
            return "revoked"
        return "active" if self.expires_at > timezone.now() else "expired"


class ReviewComment(models.Model):
    """A comment on a shot, or on one take at a time in its video; replies point at their thread."""

    BODY_MAX_LENGTH = 1000

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="review_comments")
    shot = models.ForeignKey(Shot, on_delete=models.CASCADE, related_name="review_comments")
    take = models.ForeignKey("jobs.Take", null=True, blank=True, on_delete=models.CASCADE, related_name="review_comments")
    at_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Where in the take's video, in milliseconds")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="replies")
    share_link = models.ForeignKey(ShareLink, null=True, blank=True, on_delete=models.SET_NULL, related_name="comments",
                                   help_text="The link a reviewer wrote through; empty for the creator")
    author_name = models.CharField(max_length=60)
    by_creator = models.BooleanField(default=False)
    body = models.TextField(max_length=BODY_MAX_LENGTH, validators=[MaxLengthValidator(BODY_MAX_LENGTH)])
    resolved_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["share_link", "created_at"], name="review_comment_link_recent")]
        constraints = [
            models.CheckConstraint(condition=~Q(body=""), name="review_comment_body_not_empty"),
            models.CheckConstraint(condition=~Q(author_name=""), name="review_comment_author_not_empty"),
            models.CheckConstraint(condition=Q(at_ms__isnull=True) | Q(take__isnull=False),
                                   name="review_comment_time_needs_a_take"),
        ]

    def __str__(self) -> str:
        return f"{self.author_name} on {self.shot}: {self.body[:40]}"

    @property
    def is_resolved(self) -> bool:
        return self.resolved_at is not None


class ReviewDecision(models.Model):
    """Someone approved a take of a shot, or asked for changes, against the shot's spec as it was then."""

    class Verdict(models.TextChoices):
        APPROVED = "approved", "Approved"
        CHANGES_REQUESTED = "changes_requested", "Changes requested"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="review_decisions")
    shot = models.ForeignKey(Shot, on_delete=models.CASCADE, related_name="review_decisions")
    take = models.ForeignKey("jobs.Take", on_delete=models.CASCADE, related_name="review_decisions")
    verdict = models.CharField(max_length=20, choices=Verdict.choices)
    spec_hash = models.CharField(max_length=64, help_text="The shot's spec hash when the decision was made")
    share_link = models.ForeignKey(ShareLink, null=True, blank=True, on_delete=models.SET_NULL, related_name="decisions",
                                   help_text="The link a reviewer decided through; empty for the creator")
    decided_by = models.CharField(max_length=60)
    by_creator = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(verdict__in=["approved", "changes_requested"]), name="review_decision_verdict_valid"),
            models.CheckConstraint(condition=~Q(decided_by=""), name="review_decision_by_not_empty"),
        ]

    def __str__(self) -> str:
        return f"{self.decided_by}: {self.get_verdict_display()} take #{self.take_id}"
