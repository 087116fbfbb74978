class BillingError(Exception):
    """A credit operation that cannot be done; the message is safe to show the creator."""


class InsufficientCredits(BillingError):
    def __init__(self, *, needed: int, available: int):
        self.needed = needed
        self.available = available
        super().__init__(f"This needs {needed} credits but only {available} are available.")
