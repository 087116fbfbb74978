class TakeError(Exception):
    """A take request that cannot be carried out; the message is safe to show the creator."""


class NoProviderAvailable(TakeError):
    NAMED_PER_REASON = 3  # beyond this, a reason gives a count: thirty "not configured" names help nobody

    def __init__(self, exclusions: list[tuple[str, str]]):
        self.exclusions = exclusions
        by_reason: dict[str, list[str]] = {}
        for slug, reason in exclusions:
            by_reason.setdefault(reason, []).append(slug)
        details = "; ".join(
            f"{reason}: {', '.join(slugs) if len(slugs) <= self.NAMED_PER_REASON else f'{len(slugs)} providers'}"
            for reason, slugs in sorted(by_reason.items(), key=lambda item: len(item[1]))
        ) or "the catalog is empty"
        super().__init__(f"No provider can render this shot right now ({details}).")


class IdempotencyKeyReused(TakeError):
    def __init__(self):
        super().__init__("This Idempotency-Key was already used for a different request.")


class IdempotencyKeyInProgress(TakeError):
    """The first request with this key is still being carried out; retry it shortly."""

    def __init__(self):
        super().__init__("A request with this Idempotency-Key is still in progress. Retry in a moment to get its take.")


class IllegalTransition(TakeError):
    pass


class LeaseLost(Exception):
    """Another worker took this take's stage over (ours went quiet too long): stop, change nothing."""
