from datetime import datetime

from jobs.models import Attempt, Take
from jobs.states import TakeState


def attempt_outcomes_by_model(*, since: datetime) -> dict[int, list[tuple[str, float | None]]]:
    """Finished attempts per provider model since a time: (state, seconds from submit to end)."""
    outcomes: dict[int, list[tuple[str, float | None]]] = {}
    finished = Attempt.objects.filter(created_at__gte=since, finished_at__isnull=False).values_list(
        "provider_model_id", "state", "created_at", "finished_at"
    )
    for model_id, state, created_at, finished_at in finished:
        outcomes.setdefault(model_id, []).append((state, (finished_at - created_at).total_seconds()))
    return outcomes


def take_upscale_ready(*, take_id: int) -> Take | None:
    """The newest ready upscale of a final that passed its checks: the version a cut should use."""
    return (Take.objects.filter(source_take_id=take_id, origin=Take.Origin.UPSCALE, state=TakeState.READY)
            .exclude(video="").order_by("-created_at", "-id").first())
