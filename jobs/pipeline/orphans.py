"""Vendor jobs we pay for but nobody asked for: found, adopted where the vendor lets us, else recorded.

A worker can die after a vendor accepted a take and before we saved the job's id. Sending the take
again then starts a second job at every vendor without an idempotency key (Runway, fal, Luma,
MiniMax, Replicate, OpenAI, Google); Kling deduplicates by external_task_id, and our own render
service by the attempt's key. So:

* a callback that arrives for the attempt while its job id is still unsaved adopts that job
  (callbacks.py: the attempt's number is in its signed URL), and no second job is started;
* before sending an attempt again, its possible first job is recorded as a suspected orphan: a cost
  with no revenue in the margin report (billing.UnbilledProviderCost);
* when the first job's callback arrives after the second job was saved, the orphan is confirmed
  with its id, and the vendor is told to cancel it where it can be.
"""

import logging
from functools import partial

from django.db import transaction

from billing.services import provider_cost_unbilled_record
from jobs.models import Attempt, Take
from jobs.pipeline.transitions import take_note
from providers.base import ProviderError
from providers.registry import adapter_for

logger = logging.getLogger(__name__)


def orphan_reference(take: Take, attempt: Attempt) -> str:
    return f"take:{take.public_id}:attempt:{attempt.number}"


def attempt_resend_may_orphan(take: Take, attempt: Attempt) -> bool:
    """Is the attempt about to be sent again after a send whose answer we never saved?"""
    return attempt.sends > 0 and not attempt.provider_job_id and not adapter_for(take.provider_model.api_family).deduplicates_submissions


@transaction.atomic
def orphan_suspected_record(take: Take, attempt: Attempt) -> None:
    provider_cost_unbilled_record(
        provider=take.provider_model.name, tier=take.tier, reference=orphan_reference(take, attempt),
        usd_micros=take.provider_cost_usd_micros, confirmed=False,
        note="sent again after a worker died before saving the vendor's answer; the first job may exist",
    )
    take_note(take, f"sent to {take.provider_model.name} again: a job from the first try may run unbilled")


@transaction.atomic
def orphan_confirmed_record(take: Take, attempt: Attempt, vendor_job_id: str) -> None:
    provider_cost_unbilled_record(
        provider=take.provider_model.name, tier=take.tier, reference=orphan_reference(take, attempt),
        usd_micros=take.provider_cost_usd_micros, vendor_job_id=vendor_job_id, confirmed=True,
        note=f"the first try's job {vendor_job_id} called back after the take moved on to {attempt.provider_job_id}",
    )
    transaction.on_commit(partial(_vendor_cancel, take.provider_model.api_family, vendor_job_id))


def _vendor_cancel(api_family: str, vendor_job_id: str) -> None:
    adapter = adapter_for(api_family)
    if not adapter.supports_cancel:
        return
    try:
        adapter.cancel(vendor_job_id)
    except ProviderError as error:
        logger.warning("could not cancel the orphaned %s job %s: %s", api_family, vendor_job_id, error)
