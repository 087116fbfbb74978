from dataclasses import dataclass
from datetime import date, timedelta

from django.utils import timezone

from providers.health import circuit_state
from providers.models import ProviderModel, ProviderPrice
from providers.registry import api_family_status


def provider_price_current(*, provider_model: ProviderModel, on: date, resolution: str = "", with_audio: bool = False) -> ProviderPrice | None:
    """The newest price version in force on a day, preferring an exact resolution match.

    Chosen in Python from `prices.all()`, so a catalog read with prefetch_related("prices") prices
    every model without a query each (a model has a handful of price versions).
    """
    in_force = [price for price in provider_model.prices.all()
                if price.valid_from <= on and price.with_audio == with_audio and price.resolution in (resolution, "")]
    return max(in_force, key=lambda price: (price.valid_from, price.resolution), default=None)


@dataclass(frozen=True)
class ProviderHealthRow:
    model: ProviderModel
    status: str  # configured, sandbox, not configured, not installed
    circuit: str
    retry_in_seconds: float
    attempts: int
    success_rate: float | None
    p50_seconds: float | None
    p90_seconds: float | None


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def provider_health_rows(*, attempts_by_model: dict[int, list], since_hours: int = 24) -> list[ProviderHealthRow]:
    rows = []
    for model in ProviderModel.objects.order_by("tier", "vendor", "name"):
        finished = attempts_by_model.get(model.pk, [])
        latencies = [latency for state, latency in finished if state == "succeeded" and latency is not None]
        circuit = circuit_state(model.slug)
        rows.append(ProviderHealthRow(
            model=model, status=api_family_status(model.api_family), circuit=circuit.state,
            retry_in_seconds=circuit.retry_in_seconds, attempts=len(finished),
            success_rate=(sum(1 for state, _ in finished if state == "succeeded") / len(finished)) if finished else None,
            p50_seconds=_percentile(latencies, 0.5), p90_seconds=_percentile(latencies, 0.9),
        ))
    return rows


def health_window_start(*, hours: int = 24):
    return timezone.now() - timedelta(hours=hours)
