class BillingError(Exception):
    """A credit operation that cannot be done; the message is safe to show the creator."""


class InsufficientCredits(BillingError):
    def __init__(self, *, needed: int, available: int):
        self.needed = needed
        self.available = available
        super().__init__(f"This needs {needed} credits but only {available} are available.")


class ConcurrencyLimitReached(BillingError):
    def __init__(self, *, plan_name: str, limit: int):
        self.limit = limit
        super().__init__(f"Your {plan_name} plan runs at most {limit} takes at once. "
                         "Wait for one to finish, or upgrade your plan.")


class DailySpendCapReached(BillingError):
    def __init__(self, *, plan_name: str, cap: int, spent: int, needed: int):
        self.cap, self.spent, self.needed = cap, spent, needed
        super().__init__(f"Your {plan_name} plan spends at most {cap} credits a day (UTC); {spent} are already "
                         f"spent or held today and this needs {needed}. Try again tomorrow, or upgrade your plan.")


class BudgetExceeded(BillingError):
    def __init__(self, *, key: str, cap: int, spent: int, needed: int):
        self.key, self.cap, self.spent, self.needed = key, cap, spent, needed
        super().__init__(f"This project's budget is {cap} credits; {spent} are already spent or held and this "
                         f"needs {needed}. Raise the budget to continue.")


class PurchaseError(BillingError):
    """A purchase or webhook that cannot be processed."""


class WebhookSignatureInvalid(PurchaseError):
    """The payload was not signed by Stripe with our secret, or the signature is too old."""
