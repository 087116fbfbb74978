"""When a failed delivery is tried again: exponential backoff with jitter, Retry-After honoured,
inside a window (three days by default) after which the delivery is dead-lettered. Pure functions."""

import random
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

from django.conf import settings

RETRYABLE_STATUSES = frozenset({408, 425, 429})


def retry_window_end(start: datetime) -> datetime:
    return start + timedelta(seconds=settings.WEBHOOK_RETRY_WINDOW_SECONDS)


def is_retryable(status_code: int | None) -> bool:
    """Timeouts and connection errors (no status), 408/425/429 and 5xx may succeed later; another
    4xx is the receiver refusing this message, and sending it again would not change its mind."""
    return status_code is None or status_code >= 500 or status_code in RETRYABLE_STATUSES


def backoff_seconds(attempts: int, *, rng: random.Random | None = None) -> float:
    """base · 2^(attempts-1), capped, then "equal jitter": between half and all of it, so endpoints
    that failed together do not all come back at the same instant."""
    ceiling = min(settings.WEBHOOK_RETRY_MAX_DELAY_SECONDS, settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0))
    return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)


def retry_after_seconds(header: str | None, *, now: datetime) -> float | None:
    """Retry-After as delay-seconds or an HTTP date; None when absent or unreadable."""
    if not header:
        return None
    header = header.strip()
    if header.isdigit():
        return float(header)
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return None
    return max((when - now).total_seconds(), 0.0) if when.tzinfo else None


def next_attempt_delay(*, attempts: int, retry_after: float | None) -> float:
    return max(backoff_seconds(attempts), retry_after or 0.0)
