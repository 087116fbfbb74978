"""Choose providers for a take: a pure function of the request and the catalog.

Every candidate in the plan says why it was chosen; every provider left out says why.
"""

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class RouteNeeds:
    tier: str  # catalog tier wanted: "draft" or "premium"/"standard" for finals
    duration_seconds: int
    aspect_ratio: str
    needs_image_to_video: bool = False


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
    usd_micros_per_second: int | None
    p50_latency_seconds: int


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


def _exclusion_reason(needs: RouteNeeds, candidate: RouteCandidate) -> str | None:
    if not candidate.enabled:
        return "disabled by ops"
    if not candidate.configured:
        return "not configured"
    if candidate.usd_micros_per_second is None:
        return "no price in force"
    if candidate.tier != needs.tier:
        return f"{candidate.tier} tier, {needs.tier} wanted"
    if needs.duration_seconds > candidate.max_duration_seconds:
        return f"{needs.duration_seconds} s is longer than its {candidate.max_duration_seconds} s maximum"
    if candidate.allowed_durations and needs.duration_seconds not in candidate.allowed_durations:
        allowed = ", ".join(str(d) for d in candidate.allowed_durations)
        return f"{needs.duration_seconds} s is not one of its durations ({allowed} s)"
    if needs.aspect_ratio not in candidate.aspect_ratios:
        return f"no {needs.aspect_ratio} aspect ratio"
    if needs.needs_image_to_video and not candidate.image_to_video:
        return "no image-to-video"
    return None


def route_plan(needs: RouteNeeds, candidates: list[RouteCandidate]) -> RoutePlan:
    """Drafts prefer cheap then fast; finals prefer the premium tier's fastest; ties go to the cheaper."""
    eligible, excluded = [], []
    for candidate in candidates:
        reason = _exclusion_reason(needs, candidate)
        if reason:
            excluded.append(RouteStep(candidate.slug, reason))
        else:
            eligible.append(candidate)
    eligible.sort(key=lambda c: (c.usd_micros_per_second, c.p50_latency_seconds, c.slug))
    chosen = []
    for rank, candidate in enumerate(eligible):
        price = f"${candidate.usd_micros_per_second / 1_000_000:.3f}/s"
        role = "cheapest match" if rank == 0 else "fallback"
        chosen.append(RouteStep(candidate.slug, f"{role}: {price}, ~{candidate.p50_latency_seconds} s typical"))
    return RoutePlan(chosen=tuple(chosen), excluded=tuple(excluded))
