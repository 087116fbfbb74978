"""Prometheus metrics at /metrics, read at scrape time from the shared state (PostgreSQL, Redis),
so any web process answers for the whole deployment, workers on other hosts included.

Figures over "the window" (METRICS_WINDOW_SECONDS, an hour by default) are gauge histograms and
gauges of that window: latencies of the takes finished in it, provider calls made in it. Totals
(credits) are counters over the ledger's whole history. Protected by METRICS_TOKEN (a bearer
token); without one, /metrics answers only outside production.
"""

import hmac
from collections import Counter, defaultdict
from datetime import timedelta

import redis
from django.conf import settings
from django.db.models import Count, F, Sum
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeHistogramMetricFamily, GaugeMetricFamily
from prometheus_client.process_collector import ProcessCollector

from billing.models import LedgerEntry
from billing.reports import margin_report
from jobs.models import Attempt, Take, TakeEvent
from jobs.outbound.models import WebhookAttempt, WebhookDelivery
from jobs.states import TakeState
from providers.health import providers_health
from providers.models import ProviderModel

LATENCY_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600)
CIRCUIT_VALUES = {"closed": 0, "half_open": 1, "open": 2}
KOMBU_PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")  # kombu's Redis priority lists
MAX_TAKES_TIMED = 5000


def _window_start():
    return timezone.now() - timedelta(seconds=settings.METRICS_WINDOW_SECONDS)


def _gauge_histogram(name: str, documentation: str, label: str, samples: dict[str, list[float]]):
    family = GaugeHistogramMetricFamily(name, documentation, labels=[label])
    for value, observations in sorted(samples.items()):
        buckets = [(str(bound), sum(1 for seconds in observations if seconds <= bound)) for bound in LATENCY_BUCKETS]
        family.add_metric([value], [*buckets, ("+Inf", len(observations))], gsum_value=sum(observations))
    return family


class ShotcraftCollector:
    def collect(self):
        yield from self._takes()
        yield from self._providers()
        yield self._queues()
        yield from self._credits()
        yield from self._webhooks()

    def _takes(self):
        by_state = GaugeMetricFamily("shotcraft_takes", "Takes by state", labels=["state"])
        counts = dict(Take.objects.values_list("state").annotate(n=Count("pk")))
        for state in TakeState.values:
            by_state.add_metric([state], counts.get(state, 0))
        yield by_state
        yield _gauge_histogram("shotcraft_take_state_seconds",
                               "Time takes finished in the window spent in each state", "state", self._state_durations())

    def _state_durations(self) -> dict[str, list[float]]:
        finished = list(Take.objects.filter(finished_at__gte=_window_start()).order_by("-finished_at")
                        .values_list("pk", flat=True)[:MAX_TAKES_TIMED])
        durations: dict[str, list[float]] = defaultdict(list)
        previous: dict[int, tuple[str, object]] = {}
        for take_id, state, at in (TakeEvent.objects.filter(take_id__in=finished).exclude(from_state=F("to_state"))
                                   .order_by("take_id", "created_at", "pk").values_list("take_id", "to_state", "created_at")):
            if take_id in previous:
                entered_state, entered_at = previous[take_id]
                durations[entered_state].append((at - entered_at).total_seconds())
            previous[take_id] = (state, at)
        return durations

    def _providers(self):
        attempts = Attempt.objects.filter(created_at__gte=_window_start())
        calls = CounterMetricFamily("shotcraft_provider_attempts", "Provider attempts started in the window, by outcome",
                                    labels=["provider", "outcome"])
        for slug, state, count in attempts.values_list("provider_model__slug", "state").annotate(n=Count("pk")):
            calls.add_metric([slug, state], count)
        yield calls
        latencies: dict[str, list[float]] = defaultdict(list)
        for slug, started, finished in attempts.filter(state=Attempt.State.SUCCEEDED, finished_at__isnull=False).values_list(
                "provider_model__slug", "created_at", "finished_at"):
            latencies[slug].append((finished - started).total_seconds())
        yield _gauge_histogram("shotcraft_provider_latency_seconds",
                               "Submit-to-result time of provider attempts that succeeded in the window", "provider", latencies)
        circuit = GaugeMetricFamily("shotcraft_provider_circuit", "Circuit breaker: 0 closed, 1 half-open, 2 open",
                                    labels=["provider"])
        limits = dict(ProviderModel.objects.values_list("slug", "rate_limit_per_minute"))
        for slug, health in providers_health(limits).items():
            circuit.add_metric([slug], CIRCUIT_VALUES.get(str(health.circuit), 0))
        yield circuit

    def _queues(self):
        depth = GaugeMetricFamily("shotcraft_queue_depth", "Messages waiting in each Celery queue", labels=["queue"])
        queues = [settings.CELERY_TASK_DEFAULT_QUEUE, settings.EVALUATION_QUEUE, settings.LOCAL_RENDER_QUEUE,
                  settings.SELF_HOSTED_QUEUE, settings.WEBHOOK_QUEUE]
        with redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=3) as client:
            pipeline = client.pipeline(transaction=False)
            for queue in queues:
                for suffix in KOMBU_PRIORITY_SUFFIXES:
                    pipeline.llen(queue + suffix)
            lengths = iter(pipeline.execute())
        for queue in queues:
            depth.add_metric([queue], sum(next(lengths) for _ in KOMBU_PRIORITY_SUFFIXES))
        return depth

    def _credits(self):
        totals = {row["kind"]: row for row in LedgerEntry.objects.values("kind").annotate(amount=Sum("amount"), held=Sum("held"))}

        def total(kind: str, field: str) -> int:
            return (totals.get(kind) or {}).get(field) or 0

        credits = CounterMetricFamily("shotcraft_credits", "Credits moved through the ledger, by movement",
                                      labels=["movement"])
        credits.add_metric(["reserved"], total(LedgerEntry.Kind.RESERVE, "held"))
        credits.add_metric(["captured"], -total(LedgerEntry.Kind.CAPTURE, "amount"))
        credits.add_metric(["refunded"], total(LedgerEntry.Kind.REFUND, "amount"))
        credits.add_metric(["purchased"], total(LedgerEntry.Kind.PURCHASE, "amount"))
        yield credits
        rows = margin_report(start=timezone.now() - timedelta(days=1), end=timezone.now())
        margin = GaugeMetricFamily("shotcraft_margin_usd", "Charged minus provider cost, last 24 hours", labels=["provider"])
        for row in rows:
            margin.add_metric([row.provider], float(row.margin_usd))
        yield margin

    def _webhooks(self):
        deliveries = GaugeMetricFamily("shotcraft_webhook_deliveries", "Webhook deliveries by state", labels=["state"])
        counts = dict(WebhookDelivery.objects.values_list("state").annotate(n=Count("pk")))
        for state in WebhookDelivery.State.values:
            deliveries.add_metric([state], counts.get(state, 0))
        yield deliveries
        attempts = CounterMetricFamily("shotcraft_webhook_attempts", "Webhook attempts in the window, by answer",
                                       labels=["answer"])
        answers = Counter(_answer_class(code) for code in WebhookAttempt.objects.filter(
            created_at__gte=_window_start()).values_list("status_code", flat=True))
        for answer in ("2xx", "3xx", "4xx", "5xx", "none"):
            attempts.add_metric([answer], answers.get(answer, 0))
        yield attempts


def _answer_class(status_code: int | None) -> str:
    return f"{status_code // 100}xx" if status_code else "none"


registry = CollectorRegistry(auto_describe=False)
registry.register(ShotcraftCollector())
registry.register(ProcessCollector(registry=None))


@never_cache
@require_GET
def metrics(request):
    token = settings.METRICS_TOKEN
    if not token:
        if settings.PRODUCTION:
            raise Http404("Metrics are off: set METRICS_TOKEN.")
    else:
        offered = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(offered.encode(), token.encode()):
            response = HttpResponse("A bearer token is required.", status=401, content_type="text/plain")
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
