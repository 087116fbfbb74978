"""Moving a take to the next provider of its plan, within the credits it holds."""

from django.db import transaction
from django.utils import timezone

from jobs.models import Take
from jobs.pipeline.enqueue import take_stage_enqueue_on_commit
from jobs.pipeline.leases import Lease
from jobs.pipeline.quote import take_credits_for_cost
from jobs.pipeline.settle import take_fail
from jobs.pipeline.transitions import take_note, take_transition
from jobs.states import Stage, TakeState
from providers.models import ProviderModel
from providers.selectors import provider_price_current


@transaction.atomic
def take_reroute(take: Take, *, reason: str, lease: Lease | None = None) -> None:
    """Move the take to the next provider of its plan that its held credits cover, or fail it."""
    take = Take.objects.select_for_update(of=("self",)).select_related("provider_model", "reservation").get(pk=take.pk)
    current = take.provider_model
    for step in _plan_after(take, current.slug):
        candidate = ProviderModel.objects.filter(slug=step["slug"], enabled=True).first()
        price = candidate and provider_price_current(provider_model=candidate, on=timezone.localdate())
        credits = price and take_credits_for_cost(usd_micros_per_second=price.usd_micros_per_second,
                                                  duration_seconds=take.duration_seconds, owner_id=take.owner_id, tier=take.tier)
        if credits and credits <= take.reservation.amount:
            fields = dict(provider_model=candidate, provider_price=price, price_credits=credits, provider_job_id="",
                          provider_cost_usd_micros=price.usd_micros_per_second * take.duration_seconds,
                          throttled_since=None)
            detail = f"re-routed from {current.name} to {candidate.name}: {reason}"
            if take.state == TakeState.ROUTING:  # already between providers: not a state change
                Take.objects.filter(pk=take.pk).update(**fields)
                take_note(take, detail)
            else:
                take_transition(take_id=take.pk, to_state=TakeState.ROUTING, detail=detail, lease=lease, **fields)
            if lease:
                lease.hand_to(Stage.SUBMIT)
            else:
                take_stage_enqueue_on_commit(take.pk, Stage.SUBMIT)
            return
    take_fail(take_id=take.pk, reason=f"Every provider for this shot failed (last: {reason}). Your credits were released.",
              lease=lease)


def _plan_after(take: Take, slug: str) -> list[dict]:
    chosen = take.route_plan.get("chosen") or []
    slugs = [step["slug"] for step in chosen]
    return chosen[slugs.index(slug) + 1:] if slug in slugs else []
