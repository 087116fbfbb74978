"""Every change to credits goes through here, as ledger entries, under a row lock."""

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from billing.events import credits_changed_publish_on_commit
from billing.exceptions import BillingError, InsufficientCredits
from billing.models import CreditAccount, LedgerEntry, Reservation


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
    return entry


@transaction.atomic
def credits_grant(*, user: AbstractBaseUser, amount: int, reason: str, created_by=None) -> LedgerEntry:
    if amount <= 0:
        raise BillingError("A grant must be a positive number of credits.")
    if not reason.strip():
        raise BillingError("Say why the credits are granted.")
    account = _locked_account(user.pk)
    return _append(account, kind=LedgerEntry.Kind.GRANT, amount=amount, reason=reason, created_by=created_by)


@transaction.atomic
def credits_starter_grant(*, user: AbstractBaseUser) -> LedgerEntry | None:
    """Welcome credits, once per account."""
    account = _locked_account(user.pk)
    if settings.STARTER_CREDITS <= 0 or account.entries.filter(kind=LedgerEntry.Kind.GRANT, reason="Starter credits").exists():
        return None
    return _append(account, kind=LedgerEntry.Kind.GRANT, amount=settings.STARTER_CREDITS, reason="Starter credits")


def credits_reserve(*, user_id: int, amount: int, reference: str) -> Reservation:
    """Hold credits for work about to start. Call inside the transaction that creates the work."""
    if not transaction.get_connection().in_atomic_block:
        raise BillingError("credits_reserve must run inside the transaction that creates the work")
    if amount <= 0:
        raise BillingError("A reservation must be a positive number of credits.")
    account = _locked_account(user_id)
    if account.available < amount:
        raise InsufficientCredits(needed=amount, available=account.available)
    reservation = Reservation.objects.create(account=account, amount=amount, reference=reference)
    _append(account, kind=LedgerEntry.Kind.RESERVE, held=amount, reservation=reservation, reason=reference)
    return reservation


def _locked_open_reservation(reservation_id: int) -> tuple[CreditAccount, Reservation] | None:
    reservation = Reservation.objects.get(pk=reservation_id)
    account = _locked_account(reservation.account.user_id)
    reservation = Reservation.objects.select_for_update().get(pk=reservation_id)
    if reservation.state != Reservation.State.OPEN:
        return None
    return account, reservation


@transaction.atomic
def credits_capture(*, reservation_id: int, amount: int) -> LedgerEntry | None:
    """Charge up to the reserved amount and free the hold. A repeat is a no-op."""
    locked = _locked_open_reservation(reservation_id)
    if locked is None:
        return None
    account, reservation = locked
    if not 0 <= amount <= reservation.amount:
        raise BillingError(f"Cannot capture {amount} credits from a reservation of {reservation.amount}.")
    reservation.state = Reservation.State.CAPTURED
    reservation.captured_amount = amount
    reservation.resolved_at = timezone.now()
    reservation.save(update_fields=["state", "captured_amount", "resolved_at"])
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
