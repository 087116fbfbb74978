class TakeError(Exception):
    """A take request that cannot be carried out; the message is safe to show the creator."""


class NoProviderAvailable(TakeError):
    def __init__(self, exclusions: list[tuple[str, str]]):
        self.exclusions = exclusions
        details = "; ".join(f"{slug}: {reason}" for slug, reason in exclusions) or "the catalog is empty"
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
