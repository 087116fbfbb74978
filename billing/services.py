"""Every change to credits goes through here, as ledger entries, under a row lock."""

from datetime import UTC, datetime, time

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from billing.events import credits_changed_publish_on_commit, outbound_event_record
from billing.exceptions import (
    BillingError,
    BudgetExceeded,
    ConcurrencyLimitReached,
    DailySpendCapReached,
    InsufficientCredits,
)
from billing.models import CreditAccount, LedgerEntry, Plan, Refund, Reservation, SpendBudget, UnbilledProviderCost
from billing.plans import plan_for_account
from billing.selectors import reservations_spent


def credit_account_ensure(*, user: AbstractBaseUser) -> CreditAccount:
    account, _ = CreditAccount.objects.get_or_create(user=user)
    return account


def _locked_account(user_id: int) -> CreditAccount:
    CreditAccount.objects.get_or_create(user_id=user_id)
    return CreditAccount.objects.select_for_update().get(user_id=user_id)


def _append(account: CreditAccount, *, kind: str, amount: int = 0, held: int = 0, **fields) -> LedgerEntry:
    CreditAccount.objects.filter(pk=account.pk).update(balance=F("balance") + amount, held=F("held") + held)
    entry = LedgerEntry.objects.create(account=account, kind=kind, amount=amount, held=held, **fields)
    credits_changed_publish_on_commit(user_id=account.user_id)
    _low_balance_crossing_record(account, available_after=account.available + amount - held)
    return entry


def _low_balance_crossing_record(account: CreditAccount, *, available_after: int) -> None:
    """Once per fall below the line (not on every charge below it), for creators' webhooks."""
    line = settings.BILLING_LOW_BALANCE_CREDITS
    if account.available >= line > available_after:
        outbound_event_record(user_id=account.user_id, kind="credits.low",
                              data={"available_credits": available_after, "low_balance_line": line})


@transaction.atomic
def credits_grant(*, user: AbstractBaseUser, amount: int, reason: str, created_by=None) -> LedgerEntry:
    if amount <= 0:
        raise BillingError("A grant must be a positive number of credits.")
    if not reason.strip():
        raise BillingError("Say why the credits are granted.")
    account = _locked_account(user.pk)
    return _append(account, kind=LedgerEntry.Kind.GRANT, amount=amount, reason=reason, created_by=created_by)


@transaction.atomic
def credits_adjust(*, user: AbstractBaseUser, amount: int, reason: str, created_by) -> LedgerEntry:
    """An ops correction in either direction; it can take back only credits that are not held."""
    if amount == 0:
        raise BillingError("An adjustment must change the balance.")
    if not reason.strip():
        raise BillingError("Say why the balance is adjusted.")
    account = _locked_account(user.pk)
    if amount < 0 and account.available < -amount:
        raise InsufficientCredits(needed=-amount, available=account.available)
    return _append(account, kind=LedgerEntry.Kind.ADJUSTMENT, amount=amount, reason=reason, created_by=created_by)


@transaction.atomic
def credits_starter_grant(*, user: AbstractBaseUser) -> LedgerEntry | None:
    """Welcome credits of the Free plan, once per account."""
    account = _locked_account(user.pk)
    if settings.STARTER_CREDITS <= 0 or account.entries.filter(kind=LedgerEntry.Kind.GRANT, reason="Starter credits").exists():
        return None
    return _append(account, kind=LedgerEntry.Kind.GRANT, amount=settings.STARTER_CREDITS, reason="Starter credits")


@transaction.atomic
def credit_account_plan_set(*, user: AbstractBaseUser, plan: Plan) -> CreditAccount:
    account = _locked_account(user.pk)
    account.plan = plan
    account.save(update_fields=["plan", "updated_at"])
    return account


@transaction.atomic
def spend_budget_set(*, user: AbstractBaseUser, key: str, cap_credits: int | None) -> SpendBudget | None:
    """Cap what one scope (e.g. `project:7`) may spend in total; None removes the cap."""
    account = _locked_account(user.pk)
    if cap_credits is None:
        SpendBudget.objects.filter(account=account, key=key).delete()
        return None
    if cap_credits < 0:
        raise BillingError("A budget cannot be negative.")
    budget, _ = SpendBudget.objects.update_or_create(account=account, key=key, defaults={"cap_credits": cap_credits})
    return budget


def _today_start():
    return datetime.combine(timezone.now().astimezone(UTC).date(), time.min, tzinfo=UTC)


def _check_reservable(account: CreditAccount, *, amount: int, budget_key: str, count: int = 1) -> None:
    """Balance, plan and budget limits for `count` reservations totalling `amount`. Under the
    account lock (credits_reserve) concurrent reserves see each other; without it, a preview."""
    if account.available < amount:
        raise InsufficientCredits(needed=amount, available=account.available)
    plan = plan_for_account(account)
    if plan.concurrency_limit is not None:
        if account.reservations.filter(state=Reservation.State.OPEN).count() + count > plan.concurrency_limit:
            raise ConcurrencyLimitReached(plan_name=plan.name, limit=plan.concurrency_limit)
    if plan.daily_spend_cap_credits is not None:
        spent = reservations_spent(account.reservations.filter(created_at__gte=_today_start()))
        if spent + amount > plan.daily_spend_cap_credits:
            raise DailySpendCapReached(plan_name=plan.name, cap=plan.daily_spend_cap_credits, spent=spent,
                                       needed=amount)
    budget = budget_key and SpendBudget.objects.filter(account=account, key=budget_key).first()
    if budget:
        spent = reservations_spent(account.reservations.filter(budget_key=budget_key))
        if spent + amount > budget.cap_credits:
            raise BudgetExceeded(key=budget_key, cap=budget.cap_credits, spent=spent, needed=amount)


def credits_reserve_check(*, user_id: int, amount: int, count: int = 1, budget_key: str = "") -> None:
    """Raise what credits_reserve would refuse for `count` reservations totalling `amount`, reserving
    nothing: so a price can be shown as payable, or not, before the click. It takes no lock, so
    credits_reserve still has the last word."""
    if amount <= 0:
        return
    account = CreditAccount.objects.select_related("plan").filter(user_id=user_id).first()
    if account is None:
        raise InsufficientCredits(needed=amount, available=0)
    _check_reservable(account, amount=amount, budget_key=budget_key, count=count)


def credits_reserve(*, user_id: int, amount: int, reference: str, budget_key: str = "") -> Reservation:
    """Hold credits for work about to start. Call inside the transaction that creates the work."""
    if not transaction.get_connection().in_atomic_block:
        raise BillingError("credits_reserve must run inside the transaction that creates the work")
    if amount <= 0:
        raise BillingError("A reservation must be a positive number of credits.")
    account = _locked_account(user_id)
    _check_reservable(account, amount=amount, budget_key=budget_key)
    reservation = Reservation.objects.create(account=account, amount=amount, reference=reference, budget_key=budget_key)
    _append(account, kind=LedgerEntry.Kind.RESERVE, held=amount, reservation=reservation, reason=reference)
    return reservation


def _locked_reservation(reservation_id: int) -> tuple[CreditAccount, Reservation]:
    reservation = Reservation.objects.get(pk=reservation_id)
    account = _locked_account(reservation.account.user_id)
    return account, Reservation.objects.select_for_update().get(pk=reservation_id)


def _locked_open_reservation(reservation_id: int) -> tuple[CreditAccount, Reservation] | None:
    account, reservation = _locked_reservation(reservation_id)
    if reservation.state != Reservation.State.OPEN:
        return None
    return account, reservation


@transaction.atomic
def credits_capture(
    *, reservation_id: int, amount: int, provider: str = "", tier: str = "", provider_cost_usd_micros: int = 0,
) -> LedgerEntry | None:
    """Charge up to the reserved amount and free the hold, noting what was charged for (the
    provider, tier and what the provider cost us, for the margin reports). A repeat is a no-op."""
    locked = _locked_open_reservation(reservation_id)
    if locked is None:
        return None
    account, reservation = locked
    if not 0 <= amount <= reservation.amount:
        raise BillingError(f"Cannot capture {amount} credits from a reservation of {reservation.amount}.")
    reservation.state = Reservation.State.CAPTURED
    reservation.captured_amount = amount
    reservation.resolved_at = timezone.now()
    reservation.provider, reservation.tier = provider[:120], tier
    reservation.provider_cost_usd_micros = provider_cost_usd_micros
    reservation.save(update_fields=["state", "captured_amount", "resolved_at", "provider", "tier", "provider_cost_usd_micros"])
    return _append(
        account, kind=LedgerEntry.Kind.CAPTURE, amount=-amount, held=-reservation.amount,
        reservation=reservation, reason=reservation.reference,
    )


@transaction.atomic
def credits_release(*, reservation_id: int, reason: str = "") -> LedgerEntry | None:
    """Give held credits back untouched. A repeat is a no-op."""
    locked = _locked_open_reservation(reservation_id)
    if locked is None:
        return None
    account, reservation = locked
    reservation.state = Reservation.State.RELEASED
    reservation.resolved_at = timezone.now()
    reservation.save(update_fields=["state", "resolved_at"])
    return _append(
        account, kind=LedgerEntry.Kind.RELEASE, held=-reservation.amount,
        reservation=reservation, reason=reason or reservation.reference,
    )


@transaction.atomic
def credits_refund(*, reservation_id: int, reason: str, note: str = "", created_by=None) -> Refund | None:
    """Give back what a captured reservation charged. At most once: a repeat returns None, and the
    unique reservation on Refund is the database's backstop."""
    if reason not in Refund.Reason.values:
        raise BillingError(f"Unknown refund reason {reason!r}.")
    account, reservation = _locked_reservation(reservation_id)
    if reservation.state != Reservation.State.CAPTURED:
        raise BillingError("Only a charged take can be refunded; open holds are released instead.")
    if Refund.objects.filter(reservation=reservation).exists() or not reservation.captured_amount:
        return None
    label = Refund.Reason(reason).label
    entry = _append(account, kind=LedgerEntry.Kind.REFUND, amount=reservation.captured_amount, reservation=reservation,
                    reason=f"{reservation.reference}: {label}"[:255], created_by=created_by)
    return Refund.objects.create(reservation=reservation, amount=reservation.captured_amount, reason=reason,
                                 note=note, entry=entry, created_by=created_by)


def credits_refund_broken_output(*, reservation_id: int, detail: str = "") -> Refund | None:
    """Refund a take whose output turned out technically broken, when the setting allows it."""
    if not settings.BILLING_REFUND_BROKEN_OUTPUTS:
        return None
    return credits_refund(reservation_id=reservation_id, reason=Refund.Reason.BROKEN_OUTPUT, note=detail)


def credits_refund_safety_blocked(*, reservation_id: int, detail: str = "") -> Refund | None:
    """Refund a take whose output a safety filter blocked: the creator never got it."""
    return credits_refund(reservation_id=reservation_id, reason=Refund.Reason.SAFETY_BLOCKED, note=detail)


def provider_cost_unbilled_record(*, provider: str, tier: str, reference: str, usd_micros: int, vendor_job_id: str = "",
                                  confirmed: bool, note: str = "") -> UnbilledProviderCost:
    """Record (once per reference) a vendor job nobody is charged for; a later confirmation updates it."""
    cost, created = UnbilledProviderCost.objects.get_or_create(
        reference=reference,
        defaults={"provider": provider, "tier": tier, "usd_micros": usd_micros, "vendor_job_id": vendor_job_id,
                  "confirmed": confirmed, "note": note[:255]},
    )
    if not created and confirmed and not cost.confirmed:
        UnbilledProviderCost.objects.filter(pk=cost.pk).update(confirmed=True, vendor_job_id=vendor_job_id, note=note[:255])
        cost.refresh_from_db()
    return cost
