"""A take and its append-only history of state changes, attempts at providers and callbacks heard."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from jobs.states import TERMINAL_STATES, TakeState


def take_output_path(instance: "Take", filename: str) -> str:
    return f"takes/{instance.tier}/{instance.public_id}/{filename}"


class Take(models.Model):
    """One attempt at rendering a shot ("a take")."""

    OUTPUT_FILE_FIELDS = ("video", "poster", "thumbnail", "preview")

    class Tier(models.TextChoices):
        ANIMATIC = "animatic", "Animatic"  # a near-free block-out; it does not predict a final
        DRAFT = "draft", "Draft"
        FINAL = "final", "Final"

    class Review(models.TextChoices):
        PENDING = "pending", "Awaiting review"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    class Origin(models.TextChoices):
        REQUEST = "request", "Requested"
        BEST_OF = "best_of", "Best of N"
        RENDER_FINAL = "render_final", "Final render of a draft"
        OTHER_PROVIDER = "other_provider", "Another provider after a refusal"
        REGENERATION = "regeneration", "Regenerated after a failed check"
        UPSCALE = "upscale", "Upscale of an approved final"

    class Regeneration(models.TextChoices):
        REQUESTED = "requested", "Replacement requested"
        DECLINED = "declined", "Not regenerated"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="takes")
    shot = models.ForeignKey("studio.Shot", on_delete=models.CASCADE, related_name="takes")
    notify_group = models.CharField(max_length=64, help_text="Channels group that hears about this take")
    tier = models.CharField(max_length=8, choices=Tier.choices, default=Tier.DRAFT)
    state = models.CharField(max_length=16, choices=TakeState.choices, default=TakeState.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    review = models.CharField(max_length=16, choices=Review.choices, default=Review.PENDING)
    origin = models.CharField(max_length=16, choices=Origin.choices, default=Origin.REQUEST)
    source_take = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="follow_ups",
        help_text="The draft a final renders, the final an upscale enlarges, or the take this one replaces "
                  "(refused, failed a check)",
    )
    batch = models.UUIDField(null=True, blank=True, db_index=True, help_text="Takes of one best-of-N request")
    cache_key = models.CharField(max_length=64, blank=True, db_index=True,
                                 help_text="Model, prompt, parameters, seed and input hashes: equal keys give equal videos")
    cached_from = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="cache_reuses",
        help_text="The take whose stored output this one reused instead of paying again",
    )

    provider_model = models.ForeignKey(
        "providers.ProviderModel", null=True, blank=True, on_delete=models.PROTECT, related_name="takes"
    )
    provider_price = models.ForeignKey(
        "providers.ProviderPrice", null=True, blank=True, on_delete=models.PROTECT, related_name="takes"
    )
    provider_job_id = models.CharField(max_length=200, blank=True)
    sandbox = models.BooleanField(default=False, help_text="Made by a provider emulator, not the real vendor")
    route_plan = models.JSONField(default=dict, blank=True, help_text="Chosen providers and why; excluded ones and why")

    request = models.JSONField(help_text="What was asked for: durations, aspect, camera, references")
    compiled_prompt = models.TextField()
    compiler_version = models.CharField(max_length=16)
    seed = models.BigIntegerField()
    duration_seconds = models.PositiveSmallIntegerField()
    aspect_ratio = models.CharField(max_length=8)

    price_credits = models.PositiveIntegerField(help_text="Credits reserved, and charged when ready")
    provider_cost_usd_micros = models.PositiveBigIntegerField(default=0)
    reservation = models.OneToOneField(
        "billing.Reservation", null=True, blank=True, on_delete=models.PROTECT, related_name="take"
    )

    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    request_fingerprint = models.CharField(max_length=64, blank=True)

    video = models.FileField(upload_to=take_output_path, blank=True)
    poster = models.ImageField(upload_to=take_output_path, blank=True)
    thumbnail = models.ImageField(upload_to=take_output_path, blank=True)
    preview = models.FileField(upload_to=take_output_path, blank=True, help_text="Short looping animated preview")
    files_expired_at = models.DateTimeField(null=True, blank=True, help_text="Draft files deleted under the retention rule")
    export_video = models.FileField(max_length=255, blank=True, help_text="An approved final as exported: C2PA-signed when signing is configured")
    export_record = models.FileField(max_length=255, blank=True, help_text="The exported final's provenance record (sidecar JSON)")
    exported_at = models.DateTimeField(null=True, blank=True)
    export_resends = models.PositiveSmallIntegerField(default=0, help_text="Times recovery sent a lost export again")
    evaluation = models.JSONField(default=dict, blank=True)
    failure_reason = models.TextField(blank=True)
    rank_score = models.FloatField(
        null=True, blank=True,
        help_text="0-100: how likely the owner is to approve it, from their own decisions (jobs.decisions); "
                  "empty: best-of-N ranks by the aggregate score",
    )

    # How the pipeline keeps a take moving; see jobs/pipeline/__init__.py for the whole road.
    heartbeat_at = models.DateTimeField(null=True, blank=True, help_text="The take's last sign of life")
    wake_at = models.DateTimeField(
        null=True, blank=True,
        help_text="When recovery drives the take's current stage again if nothing else has: the next poll, "
                  "a retry's time, or the end of the running worker's lease",
    )
    lease_token = models.CharField(max_length=32, blank=True,
                                   help_text="The worker now running the take's current stage (empty: none)")
    recoveries = models.PositiveSmallIntegerField(
        default=0, help_text="Times recovery restarted the current stage after its worker died; reset at each state change",
    )
    deliveries = models.PositiveSmallIntegerField(
        default=0, help_text="Times recovery sent the current stage's task again because none started; reset at each state change",
    )
    throttled_since = models.DateTimeField(
        null=True, blank=True, help_text="Since when the take has waited for a provider's rate limit or free slot",
    )
    regeneration = models.CharField(
        max_length=10, choices=Regeneration.choices, blank=True,
        help_text="For a take that failed a check: whether a replacement was requested, or why not (failure_reason)",
    )
    stage_seconds = models.JSONField(
        default=dict, blank=True, help_text="Media work per stage: {stage: {wall, cpu}} in seconds",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["state", "heartbeat_at"], name="take_state_heartbeat"),
            models.Index(fields=["state", "wake_at"], name="take_state_wake"),
        ]
        constraints = [
            models.UniqueConstraint(fields=["owner", "idempotency_key"], name="take_idempotency_key_unique_per_owner"),
            models.CheckConstraint(condition=Q(progress__gte=0, progress__lte=100), name="take_progress_percent"),
            models.CheckConstraint(condition=Q(state__in=[s.value for s in TakeState]), name="take_state_valid"),
            models.CheckConstraint(condition=Q(tier__in=["animatic", "draft", "final"]), name="take_tier_valid"),
            models.CheckConstraint(condition=Q(review__in=["pending", "approved", "rejected"]), name="take_review_valid"),
            models.CheckConstraint(condition=Q(origin__in=["request", "best_of", "render_final", "other_provider", "regeneration",
                                                                 "upscale"]),
                                   name="take_origin_valid"),
            models.CheckConstraint(condition=Q(duration_seconds__gt=0), name="take_duration_positive"),
        ]

    def __str__(self) -> str:
        return f"Take {self.pk} ({self.state})"

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    @property
    def export_signed(self) -> bool:
        """The export is a C2PA-signed copy; unsigned, the take's own video is exported as it is."""
        return bool(self.export_video) and self.export_video.name != self.video.name

    # The three properties below cost a query each; studio.selectors.takes_for_cards annotates
    # them (policy_refusal, newest_note, batch_rank and batch_size) so a list of cards costs none.

    @property
    def refused_by_policy(self) -> bool:
        """A provider refused this failed take under its content policy (the creator may try another)."""
        if self.state != TakeState.FAILED:
            return False
        if "policy_refusal" in self.__dict__:
            return self.policy_refusal
        return self.attempts.filter(error_kind="ContentPolicyRejected").exists()

    @property
    def best_of_standing(self) -> tuple[int, int] | None:
        """(rank by score among its batch's ready takes, batch size) for a ready best-of-N take."""
        if not self.batch or self.state != TakeState.READY:
            return None
        if "batch_rank" in self.__dict__:
            return self.batch_rank, self.batch_size
        siblings = Take.objects.filter(batch=self.batch, owner_id=self.owner_id)
        # Equal scores rank the earlier take first, so exactly one take of a batch is "best".
        ranked = sorted(siblings.filter(state=TakeState.READY), key=lambda take: (-take_score(take), take.pk))
        return [take.pk for take in ranked].index(self.pk) + 1, siblings.count()

    @property
    def latest_note(self) -> str:
        """What the pipeline last said about a working take ("re-routed from …", "throttled: …")."""
        if self.is_terminal:  # only working takes ask: a list of finished takes costs no queries
            return ""
        if "newest_note" in self.__dict__:
            return self.newest_note or ""
        event = self.events.order_by("-id").first()
        return event.detail if event else ""


def take_score(take: Take) -> float:
    """What ranks a best-of-N take: the score learned from its owner's decisions where there is one,
    else the aggregate evaluation score; lowest when neither exists."""
    if take.rank_score is not None:
        return take.rank_score
    aggregate = (take.evaluation or {}).get("aggregate")
    return float(aggregate) if aggregate is not None else -1.0


class TakeEvent(models.Model):
    """One state change of a take. Append-only; per-stage durations are derived from these."""

    take = models.ForeignKey(Take, on_delete=models.CASCADE, related_name="events")
    from_state = models.CharField(max_length=16, blank=True)
    to_state = models.CharField(max_length=16)
    detail = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.from_state or '∅'} → {self.to_state}"


class Attempt(models.Model):
    """One try of a take at one provider. A take that falls back has several."""

    class State(models.TextChoices):
        SUBMITTING = "submitting", "Submitting"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    take = models.ForeignKey(Take, on_delete=models.CASCADE, related_name="attempts")
    number = models.PositiveSmallIntegerField()
    provider_model = models.ForeignKey("providers.ProviderModel", on_delete=models.PROTECT, related_name="attempts")
    provider_job_id = models.CharField(max_length=200, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.SUBMITTING)
    error_kind = models.CharField(max_length=40, blank=True)
    error_message = models.TextField(blank=True)
    polls = models.PositiveIntegerField(default=0)
    sends = models.PositiveSmallIntegerField(
        default=0, help_text="Times the job was sent to the vendor; more than one without a job id saved may mean a second vendor job",
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["take", "number"]
        constraints = [
            models.UniqueConstraint(fields=["take", "number"], name="attempt_number_unique_per_take"),
            models.UniqueConstraint(fields=["provider_model", "provider_job_id"], condition=~Q(provider_job_id=""),
                                    name="attempt_provider_job_unique"),
            models.CheckConstraint(condition=Q(state__in=["submitting", "running", "succeeded", "failed", "cancelled"]),
                                   name="attempt_state_valid"),
        ]

    def __str__(self) -> str:
        return f"Take {self.take_id} attempt {self.number} at {self.provider_model_id}"

    @property
    def latency_seconds(self) -> float | None:
        return (self.finished_at - self.created_at).total_seconds() if self.finished_at else None


class WebhookDelivery(models.Model):
    """Callbacks we accepted, by the vendor's event id, so a repeat is recognised and ignored."""

    api_family = models.CharField(max_length=40)
    event_id = models.CharField(max_length=200)
    take = models.ForeignKey(Take, null=True, on_delete=models.SET_NULL, related_name="webhook_deliveries")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["api_family", "event_id"], name="webhook_event_once")]


class TakeDecision(models.Model):
    """A creator's approve or reject of a take, with what the evaluator said of it at that moment.

    Append-only: a creator changing their mind adds a row; the newest row per take is the decision.
    The gates and the metric vector are copied, not referenced, so a re-evaluation never rewrites
    what the decision was made on."""

    class Decision(models.TextChoices):
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"

    take = models.ForeignKey(Take, on_delete=models.CASCADE, related_name="decisions")
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="take_decisions")
    decision = models.CharField(max_length=8, choices=Decision.choices)
    outcome = models.CharField(max_length=16, blank=True, help_text="The evaluation's outcome: pass, needs_review or block")
    gates = models.JSONField(default=dict, blank=True, help_text="Per gate: pass, needs_review or block")
    metrics = models.JSONField(default=dict, blank=True, help_text="The metric vector: metric -> score 0-1 (null: unavailable)")
    aggregate = models.FloatField(null=True, blank=True, help_text="The aggregate score (0-100) the take had")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["owner", "take", "-id"], name="take_decision_owner_latest")]
        constraints = [
            models.CheckConstraint(condition=Q(decision__in=["approved", "rejected"]), name="take_decision_valid"),
        ]

    def __str__(self) -> str:
        return f"Take {self.take_id} {self.decision}"


class CreatorRanking(models.Model):
    """A logistic regression over metric scores, fitted on one creator's decisions (jobs.decisions)."""

    owner = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="take_ranking")
    features = models.JSONField(help_text="Metric names, in the order of the coefficients")
    coefficients = models.JSONField()
    intercept = models.FloatField()
    decisions = models.PositiveIntegerField(help_text="Takes decided on when it was fitted")
    fitted_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Ranking of user {self.owner_id} ({self.decisions} decisions)"
