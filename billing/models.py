"""Credits: an account per creator, an append-only ledger, and reservations held for takes.

Every entry carries two signed amounts: `amount` moves the balance, `held` moves the credits
held by open reservations. The account's cached `balance` and `held` always equal the sums of
its entries (`manage.py credits_check` verifies it), and the database refuses any state in
which the balance is negative or more is held than the balance covers.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class Plan(models.Model):
    """What a creator pays per credit of provider cost and how much they may run. Edited in the admin."""

    FREE = "free"

    slug = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=64)
    markup_draft = models.DecimalField(max_digits=6, decimal_places=3, help_text="Multiplier on provider cost for draft takes")
    markup_final = models.DecimalField(max_digits=6, decimal_places=3, help_text="Multiplier on provider cost for final takes")
    concurrency_limit = models.PositiveIntegerField(null=True, blank=True, help_text="Takes running at once; empty = no limit")
    daily_spend_cap_credits = models.PositiveBigIntegerField(null=True, blank=True, help_text="Credits per UTC day; empty = no cap")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["markup_final", "slug"]
        constraints = [
            models.CheckConstraint(condition=Q(markup_draft__gt=0, markup_final__gt=0), name="plan_markups_positive"),
        ]

    def __str__(self) -> str:
        return self.name

    def markup_for(self, tier: str):
        return self.markup_final if tier == "final" else self.markup_draft


class CreditAccount(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="credit_account")
    plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="accounts",
                             help_text="Empty means the Free plan")
    balance = models.BigIntegerField(default=0)
    held = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="credit_balance_not_negative"),
            models.CheckConstraint(condition=Q(held__gte=0), name="credit_held_not_negative"),
            models.CheckConstraint(condition=Q(held__lte=F("balance")), name="credit_held_within_balance"),
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.balance} credits"

    @property
    def available(self) -> int:
        return self.balance - self.held

    @property
    def is_low(self) -> bool:
        """Below the low-balance warning line (BILLING_LOW_BALANCE_CREDITS)."""
        return self.available < settings.BILLING_LOW_BALANCE_CREDITS


class Reservation(models.Model):
    class State(models.TextChoices):
        OPEN = "open", "Open"
        CAPTURED = "captured", "Captured"
        RELEASED = "released", "Released"

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="reservations")
    amount = models.BigIntegerField()
    captured_amount = models.BigIntegerField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=State.choices, default=State.OPEN)
    reference = models.CharField(max_length=100, unique=True, help_text="What the credits are held for, e.g. take:42")
    budget_key = models.CharField(max_length=64, blank=True, db_index=True, help_text="Budget it counts against, e.g. project:7")
    # What was charged for, recorded at capture, so billing's reports need no other app's rows.
    provider = models.CharField(max_length=120, blank=True, help_text="Who rendered what was charged (set at capture)")
    tier = models.CharField(max_length=16, blank=True, help_text="The tier charged for, e.g. draft, final (set at capture)")
    provider_cost_usd_micros = models.PositiveBigIntegerField(
        default=0, help_text="What the provider charged us, in millionths of a US dollar (set at capture)",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="reservation_amount_positive"),
            models.CheckConstraint(condition=Q(state__in=["open", "captured", "released"]), name="reservation_state_valid"),
            models.CheckConstraint(
                condition=Q(captured_amount__isnull=True) | Q(captured_amount__gte=0, captured_amount__lte=F("amount")),
                name="reservation_capture_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reference}: {self.amount} ({self.state})"


class LedgerEntry(models.Model):
    class Kind(models.TextChoices):
        PURCHASE = "purchase", "Purchase"
        GRANT = "grant", "Grant"
        RESERVE = "reserve", "Reserve"
        CAPTURE = "capture", "Capture"
        RELEASE = "release", "Release"
        REFUND = "refund", "Refund"
        ADJUSTMENT = "adjustment", "Adjustment"
        EXPIRY = "expiry", "Expiry"

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="entries")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.BigIntegerField(default=0, help_text="Change to the balance")
    held = models.BigIntegerField(default=0, help_text="Change to the credits held by reservations")
    reservation = models.ForeignKey(Reservation, null=True, blank=True, on_delete=models.PROTECT, related_name="entries")
    reason = models.CharField(max_length=255, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=["purchase", "grant", "reserve", "capture", "release", "refund", "adjustment", "expiry"]),
                name="ledger_kind_valid",
            ),
            models.CheckConstraint(condition=~Q(amount=0) | ~Q(held=0), name="ledger_entry_moves_something"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount:+d}"


class SpendBudget(models.Model):
    """A creator's own cap on what one scope (e.g. `project:7`) may spend in total."""

    account = models.ForeignKey(CreditAccount, on_delete=models.CASCADE, related_name="budgets")
    key = models.CharField(max_length=64)
    cap_credits = models.PositiveBigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["account", "key"], name="spend_budget_unique_per_account")]

    def __str__(self) -> str:
        return f"{self.key}: {self.cap_credits} credits"


class Refund(models.Model):
    """Credits given back for a captured take whose output was blocked or broken. At most one per reservation."""

    class Reason(models.TextChoices):
        SAFETY_BLOCKED = "safety_blocked", "Blocked by a safety filter"
        BROKEN_OUTPUT = "broken_output", "Technically broken output"
        GOODWILL = "goodwill", "Goodwill (support)"

    reservation = models.OneToOneField(Reservation, on_delete=models.PROTECT, related_name="refund")
    amount = models.BigIntegerField()
    reason = models.CharField(max_length=32, choices=Reason.choices)
    note = models.CharField(max_length=255, blank=True)
    entry = models.OneToOneField(LedgerEntry, on_delete=models.PROTECT, related_name="refund")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive"),
            models.CheckConstraint(condition=Q(reason__in=["safety_blocked", "broken_output", "goodwill"]),
                                   name="refund_reason_valid"),
        ]

    def __str__(self) -> str:
        return f"Refund {self.amount} for {self.reservation.reference}"


class CreditPack(models.Model):
    """A bundle of credits for sale. Prices are integer cents."""

    slug = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=64)
    credits = models.PositiveIntegerField()
    price_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3, default="usd")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["price_cents"]
        constraints = [models.CheckConstraint(condition=Q(credits__gt=0, price_cents__gt=0), name="credit_pack_positive")]

    def __str__(self) -> str:
        return f"{self.name} ({self.credits} credits)"

    @property
    def price_display(self) -> str:
        return f"${self.price_cents // 100:,}.{self.price_cents % 100:02d}"


class CreditPurchase(models.Model):
    """One Checkout Session for one pack; fulfilled (credits added) exactly once."""

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting payment"
        FULFILLED = "fulfilled", "Paid, credits added"

    account = models.ForeignKey(CreditAccount, on_delete=models.PROTECT, related_name="purchases")
    pack = models.ForeignKey(CreditPack, on_delete=models.PROTECT, related_name="purchases")
    credits = models.PositiveIntegerField()
    price_cents = models.PositiveIntegerField()
    currency = models.CharField(max_length=3)
    checkout_session_id = models.CharField(max_length=255, unique=True)
    payment_intent_id = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    test_mode = models.BooleanField(default=False, help_text="Development test checkout: no money moved")
    entry = models.OneToOneField(LedgerEntry, null=True, blank=True, on_delete=models.PROTECT, related_name="purchase")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    fulfilled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(status__in=["pending", "fulfilled"]), name="purchase_status_valid"),
            models.CheckConstraint(condition=Q(status="pending") | Q(entry__isnull=False), name="purchase_fulfilled_has_entry"),
        ]

    def __str__(self) -> str:
        return f"{self.credits} credits · {self.checkout_session_id}"

    @property
    def price_display(self) -> str:
        return f"${self.price_cents // 100:,}.{self.price_cents % 100:02d} {self.currency.upper()}"


class StripeEvent(models.Model):
    """Every verified webhook event, stored before it is processed; the id makes redelivery a no-op."""

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=100)
    payload = models.JSONField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    result = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["-received_at"]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class UnbilledProviderCost(models.Model):
    """A vendor job we pay for but charge nobody for: a second job a vendor started because our
    worker died after the vendor accepted a take and before we saved its job id.

    `confirmed` once we know the job exists (its callback reached us); otherwise it is the cost we
    must assume for a vendor that cannot be asked (no idempotency key, no way to list our jobs).
    """

    provider = models.CharField(max_length=120, help_text="The provider model's name")
    tier = models.CharField(max_length=16)
    reference = models.CharField(max_length=200, unique=True, help_text="The take and attempt that started the job")
    vendor_job_id = models.CharField(max_length=200, blank=True)
    usd_micros = models.PositiveBigIntegerField(help_text="What the vendor charges for the job")
    confirmed = models.BooleanField(default=False)
    note = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.provider} job {self.vendor_job_id or '(unknown id)'} for {self.reference}"
