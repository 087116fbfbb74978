"""Read-only reports over credits: spend charts for creators, margin and reconciliation for ops.

Spend by provider and margins need to know which provider rendered a charged take and what it
cost us: a reservation records both when it is captured, so billing reads only its own rows.
"""

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Count, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from billing.models import LedgerEntry, Reservation, UnbilledProviderCost

USD_MICROS = Decimal(1_000_000)


@dataclass(frozen=True)
class Bar:
    label: str
    credits: int
    percent: int  # of the largest bar, for CSS widths/heights


def _bars(rows: list[tuple[str, int]]) -> list[Bar]:
    peak = max((credits for _, credits in rows), default=0) or 1
    return [Bar(label=label, credits=credits, percent=round(100 * max(credits, 0) / peak)) for label, credits in rows]


def credit_spend_by_day(*, user_id: int, days: int = 30, today: date | None = None) -> list[Bar]:
    """Credits charged per UTC day (captures less refunds), oldest first, zero days included."""
    today = today or timezone.now().date()
    start = today - timedelta(days=days - 1)
    rows = (
        LedgerEntry.objects.filter(account__user_id=user_id, kind__in=[LedgerEntry.Kind.CAPTURE, LedgerEntry.Kind.REFUND],
                                   created_at__date__gte=start)
        .annotate(day=TruncDate("created_at")).values("day").annotate(net=Sum("amount"))
    )
    spent = {row["day"]: -row["net"] for row in rows}
    return _bars([((start + timedelta(n)).strftime("%b %-d"), spent.get(start + timedelta(n), 0)) for n in range(days)])


def _captured_reservations():
    return Reservation.objects.filter(state=Reservation.State.CAPTURED)


def credit_spend_by_provider(*, user_id: int, days: int = 30) -> list[Bar]:
    since = timezone.now() - timedelta(days=days)
    rows = (
        _captured_reservations().filter(account__user_id=user_id, resolved_at__gte=since, refund__isnull=True)
        .values("provider").annotate(credits=Sum("captured_amount")).order_by("-credits")
    )
    return _bars([(row["provider"] or "Unknown", row["credits"] or 0) for row in rows])


@dataclass(frozen=True)
class MarginRow:
    provider: str
    tier: str
    takes: int
    charged_credits: int
    refunded_credits: int
    charged_usd: Decimal
    provider_cost_usd: Decimal
    unbilled_jobs: int = 0  # vendor jobs paid for and charged to nobody (see UnbilledProviderCost)

    @property
    def margin_usd(self) -> Decimal:
        return self.charged_usd - self.provider_cost_usd

    @property
    def markup(self) -> Decimal | None:
        return (self.charged_usd / self.provider_cost_usd).quantize(Decimal("0.01")) if self.provider_cost_usd else None


def margin_report(*, start: datetime, end: datetime) -> list[MarginRow]:
    """Charged (net of refunds, at the credit's money value) vs provider cost, per provider and tier,
    for takes charged in [start, end). Refunded takes earn nothing but the provider was still paid;
    so were the vendor jobs nobody is charged for, which add cost with no revenue."""
    rows = (
        _captured_reservations().filter(resolved_at__gte=start, resolved_at__lt=end)
        .values("provider", "tier")
        .annotate(takes=Count("pk"), charged=Coalesce(Sum("captured_amount"), 0),
                  refunded=Coalesce(Sum("refund__amount"), 0),
                  cost=Coalesce(Sum("provider_cost_usd_micros"), 0))  # refunded takes still cost us
        .order_by("provider", "tier")
    )
    value = settings.CREDIT_VALUE_USD_DECIMAL
    report = {}
    for row in rows:
        net = row["charged"] - row["refunded"]
        provider = row["provider"] or "Unknown"
        report[provider, row["tier"]] = MarginRow(
            provider=provider, tier=row["tier"], takes=row["takes"], charged_credits=net, refunded_credits=row["refunded"],
            charged_usd=net * value, provider_cost_usd=Decimal(row["cost"]) / USD_MICROS,
        )
    for (provider, tier), (jobs, cost) in _unbilled_costs(start=start, end=end).items():
        row = report.get((provider, tier)) or MarginRow(provider=provider, tier=tier, takes=0, charged_credits=0,
                                                        refunded_credits=0, charged_usd=Decimal(0),
                                                        provider_cost_usd=Decimal(0))
        report[provider, tier] = replace(row, provider_cost_usd=row.provider_cost_usd + cost, unbilled_jobs=jobs)
    return [report[key] for key in sorted(report)]


def _unbilled_costs(*, start: datetime, end: datetime) -> dict[tuple[str, str], tuple[int, Decimal]]:
    rows = (UnbilledProviderCost.objects.filter(created_at__gte=start, created_at__lt=end).values("provider", "tier")
            .annotate(jobs=Count("pk"), cost=Coalesce(Sum("usd_micros"), 0)))
    return {(row["provider"], row["tier"]): (row["jobs"], Decimal(row["cost"]) / USD_MICROS) for row in rows}
