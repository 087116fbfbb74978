from billing.selectors import credit_account_for_user


def credit_balance(request) -> dict:
    """The creator's credits, shown in the header of every page."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"credit_account": credit_account_for_user(user_id=user.pk)}
