"""Our own results per provider model and shot features: what the forecast and the learned router use.

Aggregated from the takes themselves (one GROUP BY), so the figures can never drift from the
takes, and a take delivered twice is still one take. A take *passes* when it came out ready, passed
every hard check and scored at least the threshold asked for.

The pass probability is a Beta posterior whose prior comes from the catalog's quality score
(PRIOR_WEIGHT pseudo-takes), so a model with no history is judged by the catalog and one with
history by its record; `sample` draws from the posterior for Thompson sampling.
"""

import math
import random
from dataclasses import dataclass

from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, FloatField, Q
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Cast

from jobs.models import Take
from jobs.states import TakeState

PRIOR_WEIGHT = 4.0  # the catalog's quality counts as this many takes
SCORE_SPREAD = 10.0  # how far one model's sound takes score from its catalog quality (one standard deviation)
DURATION_BUCKETS = ((5, "≤5 s"), (10, "6–10 s"), (10**6, "over 10 s"))
CAMERA_WORDS = {"static": "static", "dolly_in": "dolly", "dolly_out": "dolly", "pan_left": "pan", "pan_right": "pan",
                "tilt_up": "tilt", "tilt_down": "tilt", "orbit": "orbit"}


@dataclass(frozen=True)
class ShotFeatures:
    """What about a shot changes how well a model does it."""

    camera: str = ""  # "" matches any
    characters: bool | None = None
    duration_bucket: str = ""
    aspect_ratio: str = ""

    @property
    def words(self) -> str:
        parts = [f"{CAMERA_WORDS.get(self.camera, self.camera)} shots" if self.camera else "shots"]
        if self.characters is not None:
            parts.append("with characters" if self.characters else "without characters")
        return " ".join(parts)


def duration_bucket(seconds: int) -> str:
    return next(label for limit, label in DURATION_BUCKETS if seconds <= limit)


def shot_features_of(request: dict) -> ShotFeatures:
    """The features of a take's request (or of a shot spec's as_request())."""
    return ShotFeatures(camera=request.get("camera", ""), characters=bool(request.get("character_names")),
                        duration_bucket=duration_bucket(int(request.get("duration_seconds", 5))),
                        aspect_ratio=request.get("aspect_ratio", ""))


@dataclass(frozen=True)
class ModelOutcome:
    takes: int = 0  # finished takes (ready or failed; cancelled ones say nothing about the model)
    passed: int = 0
    mean_score: float | None = None
    approvals: int = 0
    rejections: int = 0
    failures: int = 0  # provider errors, not failed checks
    mean_latency_seconds: float | None = None

    def pass_probability(self, *, quality_score: int, threshold: int = 0) -> float:
        alpha, beta = self._posterior(quality_score, threshold)
        return alpha / (alpha + beta)

    def sample(self, *, quality_score: int, rng: random.Random, threshold: int = 0) -> float:
        return rng.betavariate(*self._posterior(quality_score, threshold))

    def _posterior(self, quality_score: int, threshold: int) -> tuple[float, float]:
        prior = min(max(catalog_pass_probability(quality_score, threshold), 0.01), 0.99)
        return PRIOR_WEIGHT * prior + self.passed, PRIOR_WEIGHT * (1 - prior) + (self.takes - self.passed)


def catalog_pass_probability(quality_score: int, threshold: int) -> float:
    """What the catalog alone says of a model: its takes come out sound about quality% of the time,
    and sound takes score around its quality, SCORE_SPREAD either way. So a bar above a model's
    quality makes it unlikely to pass, however often it renders cleanly."""
    clean = min(max(quality_score, 1), 99) / 100
    above_bar = 0.5 * (1 + math.erf((quality_score - threshold) / (SCORE_SPREAD * math.sqrt(2))))
    return clean * above_bar


def _feature_filter(features: ShotFeatures) -> Q:
    query = Q()
    if features.camera:
        query &= Q(request__camera=features.camera)
    if features.aspect_ratio:
        query &= Q(aspect_ratio=features.aspect_ratio)
    if features.characters is not None:
        query &= ~Q(request__character_names=[]) if features.characters else Q(request__character_names=[])
    if features.duration_bucket:
        low = 0
        for limit, label in DURATION_BUCKETS:
            if label == features.duration_bucket:
                query &= Q(duration_seconds__gt=low, duration_seconds__lte=limit)
            low = limit
    return query


def model_outcomes(*, features: ShotFeatures = ShotFeatures(), threshold: int = 0, tier: str | None = None) -> dict[str, ModelOutcome]:
    """Per provider model slug, our takes' outcomes on shots with these features."""
    score = Cast(KeyTextTransform("aggregate", "evaluation"), FloatField())
    latency = ExpressionWrapper(F("finished_at") - F("created_at"), output_field=DurationField())
    passing = Q(state=TakeState.READY, evaluation__passed=True) & Q(score__gte=threshold)
    takes = Take.objects.filter(_feature_filter(features), state__in=[TakeState.READY, TakeState.FAILED],
                                cached_from__isnull=True, provider_model__isnull=False)
    if tier:
        takes = takes.filter(tier=tier)
    rows = (takes.annotate(score=score).values(slug=F("provider_model__slug")).annotate(
        takes=Count("pk"), passed=Count("pk", filter=passing), mean_score=Avg("score", filter=Q(state=TakeState.READY)),
        approvals=Count("pk", filter=Q(review=Take.Review.APPROVED)),
        rejections=Count("pk", filter=Q(review=Take.Review.REJECTED)),
        failures=Count("pk", filter=Q(state=TakeState.FAILED) & ~Q(evaluation__has_key="passed")),
        latency=Avg(latency, filter=Q(state=TakeState.READY)),
    ).order_by())
    return {row.pop("slug"): _outcome_of(row) for row in rows}


def _outcome_of(row: dict) -> ModelOutcome:
    latency = row.pop("latency")
    return ModelOutcome(**row, mean_latency_seconds=latency.total_seconds() if latency is not None else None)


@dataclass(frozen=True)
class LearnedChoice:
    slug: str
    credits_per_accepted: float  # price ÷ the posterior mean pass probability
    sampled: float  # price ÷ the Thompson sample: what the ranking used
    reason: str


def candidates_rank_learned(
    candidates: list[tuple[str, int, int]], outcomes: dict[str, ModelOutcome], *, features: ShotFeatures,
    rng: random.Random, threshold: int = 0,
) -> list[LearnedChoice]:
    """Rank (slug, credits, catalog quality) by expected credits per accepted take, exploring by
    Thompson sampling: each model's pass probability is drawn from its posterior, so an untried or
    little-tried model is still chosen now and then, and a proven one most of the time."""
    choices = []
    for slug, credits, quality in candidates:
        outcome = outcomes.get(slug, ModelOutcome())
        mean = outcome.pass_probability(quality_score=quality, threshold=threshold)
        sample = max(outcome.sample(quality_score=quality, rng=rng, threshold=threshold), 1e-6)
        per_accepted = credits / max(mean, 1e-6)
        if outcome.takes:
            figures = f"passes {mean:.0%} of {features.words} here ({outcome.takes} take{'s' if outcome.takes != 1 else ''})"
        else:
            figures = f"catalog quality {quality}, no history of {features.words} yet ({mean:.0%} expected to pass)"
        choices.append(LearnedChoice(slug=slug, credits_per_accepted=per_accepted, sampled=credits / sample,
                                     reason=f"{figures}, {per_accepted:.1f} credits per accepted take"))
    return sorted(choices, key=lambda choice: (choice.sampled, choice.slug))
