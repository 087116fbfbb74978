"""The provider catalog: every video model we can route to, as data ops can edit."""

from django.db import models
from django.db.models import Q


class ProviderModel(models.Model):
    class Tier(models.TextChoices):
        ANIMATIC = "animatic", "Animatic"  # a local block-out of timing and framing, not an AI model
        DRAFT = "draft", "Draft"
        STANDARD = "standard", "Standard"
        PREMIUM = "premium", "Premium"

    slug = models.SlugField(max_length=80, unique=True)
    vendor = models.CharField(max_length=80)
    name = models.CharField(max_length=120)
    model_id = models.CharField(max_length=160, blank=True, help_text="The vendor's own model or endpoint id")
    api_family = models.CharField(max_length=40, help_text="Which adapter module speaks to it")
    tier = models.CharField(max_length=16, choices=Tier.choices)
    enabled = models.BooleanField(default=True)
    max_duration_seconds = models.PositiveSmallIntegerField()
    allowed_durations = models.JSONField(default=list, blank=True, help_text="Empty: any whole second up to the max")
    aspect_ratios = models.JSONField(default=list)
    resolutions = models.JSONField(default=list)
    native_audio = models.BooleanField(default=False)
    text_to_video = models.BooleanField(default=True)
    image_to_video = models.BooleanField(default=False)
    reference_images = models.BooleanField(default=False)
    start_end_frames = models.BooleanField(default=False)
    multi_shot = models.BooleanField(default=False, help_text="Several prompted shots in one generation")
    negative_prompt = models.BooleanField(default=False, help_text="Takes a separate negative prompt")
    video_upscale = models.BooleanField(
        default=False, help_text="An upscaler: takes a finished video and returns it at a higher resolution. "
                                 "Routed only for upscales, never to generate a take",
    )
    quality_score = models.PositiveSmallIntegerField(default=50, help_text="0–100; finals prefer higher")
    rate_limit_per_minute = models.PositiveIntegerField(null=True, blank=True)
    max_concurrency = models.PositiveIntegerField(null=True, blank=True)
    p50_latency_seconds = models.PositiveIntegerField()
    p90_latency_seconds = models.PositiveIntegerField()
    region = models.CharField(max_length=40, blank=True)
    lifecycle_notes = models.TextField(blank=True)
    source = models.TextField(blank=True, help_text="Where the figures come from")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tier", "vendor", "name"]
        constraints = [
            models.CheckConstraint(condition=Q(tier__in=["animatic", "draft", "standard", "premium"]), name="provider_tier_valid"),
            models.CheckConstraint(condition=Q(max_duration_seconds__gt=0), name="provider_max_duration_positive"),
            models.CheckConstraint(condition=Q(p90_latency_seconds__gte=models.F("p50_latency_seconds")), name="provider_p90_not_below_p50"),
        ]

    def __str__(self) -> str:
        return f"{self.vendor} {self.name}"


class ProviderPrice(models.Model):
    """A price version. Old rows are kept: a take records the price it was charged at."""

    provider_model = models.ForeignKey(ProviderModel, on_delete=models.PROTECT, related_name="prices")
    usd_micros_per_second = models.PositiveBigIntegerField(help_text="Provider cost in millionths of a US dollar per second")
    resolution = models.CharField(max_length=16, blank=True, help_text="Empty: any resolution")
    with_audio = models.BooleanField(default=False)
    valid_from = models.DateField()
    source = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["provider_model", "-valid_from"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider_model", "resolution", "with_audio", "valid_from"], name="provider_price_version_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider_model.slug} ${self.usd_micros_per_second / 1_000_000:.4f}/s from {self.valid_from}"
