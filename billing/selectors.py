from django.db.models import Sum
from django.db.models.functions import Coalesce

from billing.models import CreditAccount, LedgerEntry


def credit_account_for_user(*, user_id: int) -> CreditAccount | None:
    return CreditAccount.objects.filter(user_id=user_id).first()


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
