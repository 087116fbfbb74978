"""Credits: an account per creator, an append-only ledger, and reservations held for takes.

Every entry carries two signed amounts: `amount` moves the balance, `held` moves the credits
held by open reservations. The account's cached `balance` and `held` always equal the sums of
its entries (`manage.py credits_check` verifies it), and the database refuses any state in
which the balance is negative or more is held than the balance covers.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class CreditAccount(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="credit_account")
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
