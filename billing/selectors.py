from dataclasses import dataclass

from django.conf import settings
from django.db.models import Sum
from django.db.models.functions import Coalesce

from billing.models import CreditAccount, LedgerEntry, Plan, Reservation, SpendBudget
from billing.plans import plan_for_account


@dataclass(frozen=True)
class CreditSummary:
    balance: int
    held: int
    available: int
    plan: Plan
    low_balance: bool


@dataclass(frozen=True)
class BudgetUsage:
    """What one budget scope (e.g. `project:7`) has spent or holds, against its cap if it has one."""

    cap: int | None
    spent: int

    @property
    def remaining(self) -> int | None:
        return None if self.cap is None else max(self.cap - self.spent, 0)

    @property
    def percent(self) -> int:
        """Share of the cap used, 0–100, for a meter."""
        return min(100, self.spent * 100 // self.cap) if self.cap else 0

    @property
    def exhausted(self) -> bool:
        return self.cap is not None and self.spent >= self.cap


def reservations_spent(reservations) -> int:
    """Credits held or charged by these reservations: released and refunded ones count for nothing."""
    counted = reservations.exclude(state=Reservation.State.RELEASED).filter(refund__isnull=True)
    return counted.aggregate(total=Coalesce(Sum(Coalesce("captured_amount", "amount")), 0))["total"]


def spend_budget_usage(*, user_id: int, key: str) -> BudgetUsage:
    budget = SpendBudget.objects.filter(account__user_id=user_id, key=key).first()
    spent = reservations_spent(Reservation.objects.filter(account__user_id=user_id, budget_key=key))
    return BudgetUsage(cap=budget.cap_credits if budget else None, spent=spent)


def credit_account_for_user(*, user_id: int) -> CreditAccount | None:
    return CreditAccount.objects.filter(user_id=user_id).first()


def credit_account_summary(*, user_id: int) -> CreditSummary:
    """Balance, held, available, plan and the low-balance flag (available below the setting)."""
    account = CreditAccount.objects.select_related("plan").filter(user_id=user_id).first()
    balance, held = (account.balance, account.held) if account else (0, 0)
    available = balance - held
    return CreditSummary(balance=balance, held=held, available=available, plan=plan_for_account(account),
                         low_balance=available < settings.BILLING_LOW_BALANCE_CREDITS)


def credit_accounts_out_of_balance() -> list[dict]:
    """Accounts whose cached balance or held credits differ from the sums of their ledger."""
    sums = {
        row["account_id"]: row
        for row in LedgerEntry.objects.values("account_id").annotate(
            amount_sum=Coalesce(Sum("amount"), 0), held_sum=Coalesce(Sum("held"), 0)
        )
    }
    problems = []
    for account in CreditAccount.objects.all():
        row = sums.get(account.pk, {"amount_sum": 0, "held_sum": 0})
        open_held = account.reservations.filter(state="open").aggregate(total=Coalesce(Sum("amount"), 0))["total"]
        if (account.balance, account.held) != (row["amount_sum"], row["held_sum"]) or account.held != open_held:
            problems.append(
                {"account_id": account.pk, "balance": account.balance, "ledger_balance": row["amount_sum"],
                 "held": account.held, "ledger_held": row["held_sum"], "open_reservations": open_held}
            )
    return problems


def ledger_entries_for_user(*, user_id: int, kind: str = ""):
    entries = LedgerEntry.objects.filter(account__user_id=user_id).select_related("reservation")
    return entries.filter(kind=kind) if kind else entries


def reservations_open_for_user(*, user_id: int):
    return Reservation.objects.filter(account__user_id=user_id, state=Reservation.State.OPEN).order_by("-created_at")
