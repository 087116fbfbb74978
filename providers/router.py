"""Choose providers for a take: a pure function of (request, catalog, health, budget).

The plan lists every chosen candidate with the reason it was chosen, and every provider left
out with the reason it was left out. Drafts prefer cheap and then fast; finals prefer quality;
ties go to the cheaper. Given our own results (`learned`, computed by the caller: this module reads
no database), drafts and finals are ranked by expected credits per accepted take instead, and the
first choice's reason gives the figures that decided. When every provider that could do the work has its circuit open, the
one closest to half-opening is kept as a last resort, so a take is never refused only because
of a brief outage.
"""

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

CIRCUIT_CLOSED, CIRCUIT_OPEN, CIRCUIT_HALF_OPEN = "closed", "open", "half_open"


@dataclass(frozen=True)
class RouteNeeds:
    tiers: tuple[str, ...]  # catalog tiers acceptable, e.g. ("draft",) or ("premium", "standard")
    prefer: str  # "cost" for drafts, "quality" for finals
    duration_seconds: int
    aspect_ratio: str
    resolution: str = ""  # "" accepts any
    needs_audio: bool = False
    needs_image_to_video: bool = False  # the creator insists the reference image drives the video
    has_start_image: bool = False  # a reference image exists, so image-to-video-only models can work
    needs_reference_images: bool = False
    budget_usd_micros: int | None = None  # the most this take may cost us at the provider
    latency_target_seconds: int | None = None  # compared with the provider's p90
    allowed_regions: tuple[str, ...] = ()  # empty allows every region
    avoided_slugs: tuple[str, ...] = ()  # the creator asked for another provider (e.g. after a policy refusal)
    upscale: bool = False  # upscale a finished video: only upscalers can, and they can do nothing else
    quality_floor: int = 0  # the least catalog quality accepted (drafts: DRAFT_QUALITY_FLOOR)


@dataclass(frozen=True)
class ProviderHealth:
    circuit: str = CIRCUIT_CLOSED
    retry_in_seconds: float = 0.0  # when an open circuit half-opens
    rate_limited: bool = False


@dataclass(frozen=True)
class RouteCandidate:
    slug: str
    name: str
    tier: str
    enabled: bool
    configured: bool
    max_duration_seconds: int
    allowed_durations: tuple[int, ...]
    aspect_ratios: tuple[str, ...]
    image_to_video: bool
    usd_micros_per_second: int | None  # the price in force for these needs (audio or not)
    p50_latency_seconds: int
    p90_latency_seconds: int = 0
    text_to_video: bool = True
    resolutions: tuple[str, ...] = ()
    native_audio: bool = False
    reference_images: bool = False
    quality_score: int = 50
    region: str = ""
    video_upscale: bool = False
    health: ProviderHealth = field(default_factory=ProviderHealth)


@dataclass(frozen=True)
class LearnedRank:
    """What our own results say of one candidate for this shot (jobs.outcomes works it out)."""

    credits_per_accepted: float  # the ranking key: price ÷ a Thompson sample of the pass probability
    reason: str  # the figures, e.g. "passes 82 % of dolly shots here (11 takes), 4.9 credits per accepted take"
    measured_seconds: int | None = None  # our takes' mean request → ready time on this model, when we have any


@dataclass(frozen=True)
class RouteStep:
    slug: str
    reason: str


@dataclass(frozen=True)
class RoutePlan:
    chosen: tuple[RouteStep, ...]
    excluded: tuple[RouteStep, ...]

    @property
    def first(self) -> RouteStep | None:
        return self.chosen[0] if self.chosen else None

    def as_dict(self) -> dict:
        return {"chosen": [asdict(step) for step in self.chosen], "excluded": [asdict(step) for step in self.excluded]}


def _capability_reason(needs: RouteNeeds, c: RouteCandidate) -> str | None:
    if c.slug in needs.avoided_slugs:
        return "you asked for a different provider"
    if not c.enabled:
        return "disabled by ops"
    if not c.configured:
        return "not configured"
    if c.usd_micros_per_second is None:
        return "no price in force"
    if c.video_upscale != needs.upscale:
        return "an upscaler: it only upscales finished videos" if c.video_upscale else "does not upscale videos"
    if c.tier not in needs.tiers:
        return f"{c.tier} tier, {' or '.join(needs.tiers)} wanted"
    if c.quality_score < needs.quality_floor:
        return f"quality {c.quality_score} is below the draft quality floor of {needs.quality_floor}"
    if needs.duration_seconds > c.max_duration_seconds:
        return f"duration: {needs.duration_seconds} s is longer than its {c.max_duration_seconds} s maximum"
    if c.allowed_durations and needs.duration_seconds not in c.allowed_durations:
        return f"duration: {needs.duration_seconds} s is not one of {', '.join(map(str, c.allowed_durations))} s"
    if needs.resolution and c.resolutions and needs.resolution not in c.resolutions:
        return f"resolution: no {needs.resolution}"
    if needs.aspect_ratio not in c.aspect_ratios:
        return f"aspect: no {needs.aspect_ratio}"
    if needs.needs_audio and not c.native_audio:
        return "audio: no native audio"
    return _input_reason(needs, c)


def _input_reason(needs: RouteNeeds, c: RouteCandidate) -> str | None:
    if needs.needs_image_to_video and not c.image_to_video:
        return "image-to-video: not supported"
    if not c.text_to_video and not needs.upscale and not (needs.has_start_image or needs.needs_image_to_video):
        return "image-to-video only: the shot has no reference image"
    if needs.needs_reference_images and not c.reference_images:
        return "references: no reference images"
    if needs.allowed_regions and c.region not in needs.allowed_regions:
        return f"region not allowed: {c.region or 'unknown'}"
    return None


def _limit_reason(needs: RouteNeeds, c: RouteCandidate) -> str | None:
    cost = c.usd_micros_per_second * needs.duration_seconds
    if needs.budget_usd_micros is not None and cost > needs.budget_usd_micros:
        return f"over budget: ${cost / 1e6:.2f} > ${needs.budget_usd_micros / 1e6:.2f}"
    if needs.latency_target_seconds is not None and c.p90_latency_seconds > needs.latency_target_seconds:
        return f"too slow for the latency target: p90 {c.p90_latency_seconds} s > {needs.latency_target_seconds} s"
    return None


def _health_reason(c: RouteCandidate) -> str | None:
    if c.health.circuit == CIRCUIT_OPEN:
        return f"circuit open: retry in {c.health.retry_in_seconds:.0f} s"
    if c.health.rate_limited:
        return "rate-limited: no request budget left right now"
    return None


def _order_key(needs: RouteNeeds):
    if needs.prefer == "quality":
        return lambda c: (-c.quality_score, c.usd_micros_per_second, c.p50_latency_seconds, c.slug)
    return lambda c: (c.usd_micros_per_second, c.p50_latency_seconds, c.slug)


def _learned_order_key(needs: RouteNeeds, learned: Mapping[str, LearnedRank]):
    """Candidates with figures first, cheapest per accepted take first; any without keep the catalog's order."""
    catalog = _order_key(needs)
    return lambda c: (0, learned[c.slug].credits_per_accepted, c.slug) if c.slug in learned else (1, 0.0, catalog(c))


def _choice_reason(needs: RouteNeeds, c: RouteCandidate, rank: int, learned: LearnedRank | None) -> str:
    measured = learned.measured_seconds if learned else None
    eta = f"~{measured} s measured" if measured is not None else f"~{c.p50_latency_seconds} s typical"
    price = f"${c.usd_micros_per_second / 1_000_000:.3f}/s, {eta}"
    if rank > 0:
        return f"fallback #{rank}: {price}"
    if learned:
        return f"{learned.reason}: {price}"
    if needs.prefer == "quality":
        return f"best quality available (score {c.quality_score}): {price}"
    if needs.quality_floor:
        return f"cheapest match at or above the draft quality floor of {needs.quality_floor} (quality {c.quality_score}): {price}"
    return f"cheapest match: {price}"


def route_plan(needs: RouteNeeds, candidates: list[RouteCandidate],
               learned: Mapping[str, LearnedRank] | None = None) -> RoutePlan:
    eligible, excluded, circuit_only = [], [], []
    for candidate in candidates:
        reason = _capability_reason(needs, candidate) or _limit_reason(needs, candidate)
        health = None if reason else _health_reason(candidate)
        if reason or health:
            excluded.append(RouteStep(candidate.slug, reason or health))
            if health and candidate.health.circuit == CIRCUIT_OPEN:
                circuit_only.append(candidate)
        else:
            eligible.append(candidate)
    learned = learned or {}
    eligible.sort(key=_learned_order_key(needs, learned) if learned else _order_key(needs))
    chosen = [RouteStep(c.slug, _choice_reason(needs, c, rank, learned.get(c.slug))) for rank, c in enumerate(eligible)]
    if not chosen and circuit_only:
        last = min(circuit_only, key=lambda c: (c.health.retry_in_seconds, c.usd_micros_per_second, c.slug))
        chosen = [RouteStep(last.slug, f"last resort: every capable provider's circuit is open; {last.name} half-opens first")]
        excluded = [step for step in excluded if step.slug != last.slug]
    return RoutePlan(chosen=tuple(chosen), excluded=tuple(excluded))
