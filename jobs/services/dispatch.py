"""Where a take's next step runs: rendered here by a local renderer, or sent to a remote provider."""

from jobs.models import Generation
from jobs.services.pipeline import take_run
from jobs.services.remote import take_submit
from providers.registry import LOCAL_FAMILIES


def take_advance(*, take_id: int) -> float | None:
    """Run the take's next step. Returns the delay before its first poll when it went remote."""
    family = Generation.objects.filter(pk=take_id).values_list("provider_model__api_family", flat=True).first()
    if family in LOCAL_FAMILIES:
        take_run(take_id=take_id)
        return None
    return take_submit(take_id=take_id)
