"""Which plan a creator is on. Billing reads plans; only services change an account's plan."""

from decimal import Decimal

from django.conf import settings

from billing.models import CreditAccount, Plan


def plan_free() -> Plan:
    """The Free plan row, or (before the seed migration ran, e.g. in flushed test databases) an
    unsaved Free plan at the settings markup with no limits."""
    plan = Plan.objects.filter(slug=Plan.FREE).first()
    if plan is None:
        markup = settings.CREDIT_MARKUP_DECIMAL
        plan = Plan(slug=Plan.FREE, name="Free", markup_draft=markup, markup_final=markup)
    return plan


def plan_for_account(account: CreditAccount | None) -> Plan:
    if account is not None and account.plan_id is not None:
        return account.plan
    return plan_free()


def plan_for_user(*, user_id: int | None) -> Plan:
    account = None
    if user_id is not None:
        account = CreditAccount.objects.select_related("plan").filter(user_id=user_id).first()
    return plan_for_account(account)


def plan_markup(*, user_id: int | None, tier: str) -> Decimal:
    return plan_for_user(user_id=user_id).markup_for(tier)
