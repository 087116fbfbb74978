from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone

from billing.exceptions import BillingError
from billing.models import (
    CreditAccount,
    CreditPack,
    CreditPurchase,
    LedgerEntry,
    Plan,
    Refund,
    Reservation,
    SpendBudget,
    StripeEvent,
    UnbilledProviderCost,
)
from billing.reports import margin_report
from billing.selectors import credit_accounts_out_of_balance
from billing.services import credit_account_plan_set, credits_adjust, credits_grant, credits_refund


class GrantForm(forms.Form):
    amount = forms.IntegerField(min_value=1, max_value=1_000_000, label="Credits to grant")
    reason = forms.CharField(max_length=255, label="Reason (shown in the ledger)")


class AdjustForm(forms.Form):
    amount = forms.IntegerField(min_value=-1_000_000, max_value=1_000_000, label="Credits (+ adds, − takes back)")
    reason = forms.CharField(max_length=255, label="Reason (shown in the ledger)")


class PlanForm(forms.Form):
    plan = forms.ModelChoiceField(queryset=Plan.objects.all(), empty_label=None)


class RefundForm(forms.Form):
    reason = forms.ChoiceField(choices=Refund.Reason.choices)
    note = forms.CharField(max_length=255, required=False)


class PeriodForm(forms.Form):
    start = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    end = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}), help_text="exclusive")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Money rows are written only by billing services; the admin shows them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def _form_page(model_admin, request, *, form, title: str, submit: str, extra: str = ""):
    context = {**model_admin.admin_site.each_context(request), "title": title, "form": form, "submit": submit,
               "extra": extra, "opts": model_admin.model._meta}
    return render(request, "admin/billing/service_form.html", context)


@admin.register(CreditAccount)
class CreditAccountAdmin(ReadOnlyAdmin):
    list_display = ("user", "plan", "balance", "held", "available", "updated_at")
    list_filter = ("plan",)
    search_fields = ("user__username", "user__email")
    list_select_related = ("user", "plan")
    readonly_fields = ("user", "plan", "balance", "held", "created_at", "updated_at")

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:account_id>/grant/", view(self.grant_view), name="billing_creditaccount_grant"),
            path("<int:account_id>/adjust/", view(self.adjust_view), name="billing_creditaccount_adjust"),
            path("<int:account_id>/plan/", view(self.plan_view), name="billing_creditaccount_plan"),
            path("reports/margin/", view(self.margin_view), name="billing_margin_report"),
            path("reports/reconciliation/", view(self.reconciliation_view), name="billing_reconciliation_report"),
            *super().get_urls(),
        ]

    def _account(self, request, account_id: int) -> CreditAccount:
        if not request.user.has_perm("billing.add_ledgerentry"):
            raise PermissionDenied
        return get_object_or_404(CreditAccount.objects.select_related("user"), pk=account_id)

    def _done(self, request, account, message: str):
        self.message_user(request, message, messages.SUCCESS)
        return redirect(reverse("admin:billing_creditaccount_change", args=[account.pk]))

    def grant_view(self, request, account_id: int):
        account = self._account(request, account_id)
        form = GrantForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                credits_grant(user=account.user, amount=form.cleaned_data["amount"],
                              reason=form.cleaned_data["reason"], created_by=request.user)
            except BillingError as error:
                form.add_error(None, str(error))
            else:
                return self._done(request, account, f"Granted {form.cleaned_data['amount']} credits to {account.user}.")
        context = {**self.admin_site.each_context(request), "title": f"Grant credits to {account.user}",
                   "form": form, "account": account, "opts": self.model._meta}
        return render(request, "admin/billing/grant.html", context)

    def adjust_view(self, request, account_id: int):
        account = self._account(request, account_id)
        form = AdjustForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                credits_adjust(user=account.user, amount=form.cleaned_data["amount"],
                               reason=form.cleaned_data["reason"], created_by=request.user)
            except BillingError as error:
                form.add_error(None, str(error))
            else:
                return self._done(request, account, f"Adjusted {account.user} by {form.cleaned_data['amount']:+d} credits.")
        return _form_page(self, request, form=form, title=f"Adjust the balance of {account.user}", submit="Adjust",
                          extra=f"Balance {account.balance}, available {account.available}. Recorded in the ledger with your name.")

    def plan_view(self, request, account_id: int):
        account = self._account(request, account_id)
        form = PlanForm(request.POST or None, initial={"plan": account.plan})
        if request.method == "POST" and form.is_valid():
            credit_account_plan_set(user=account.user, plan=form.cleaned_data["plan"])
            return self._done(request, account, f"{account.user} is now on {form.cleaned_data['plan']}.")
        return _form_page(self, request, form=form, title=f"Plan of {account.user}", submit="Change plan")

    def margin_view(self, request):
        form = PeriodForm(request.GET or None)
        today = timezone.now().date()
        start, end = today - timedelta(days=30), today + timedelta(days=1)
        if form.is_valid():
            start, end = form.cleaned_data["start"] or start, form.cleaned_data["end"] or end
        as_time = lambda day: timezone.make_aware(timezone.datetime.combine(day, timezone.datetime.min.time()))  # noqa: E731
        rows = margin_report(start=as_time(start), end=as_time(end))
        context = {**self.admin_site.each_context(request), "title": "Margin report", "form": form, "rows": rows,
                   "start": start, "end": end, "opts": self.model._meta}
        return render(request, "admin/billing/margin_report.html", context)

    def reconciliation_view(self, request):
        context = {**self.admin_site.each_context(request), "title": "Reconciliation: ledger vs cached balances",
                   "problems": credit_accounts_out_of_balance(), "opts": self.model._meta}
        return render(request, "admin/billing/reconciliation.html", context)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "account", "kind", "amount", "held", "reason", "created_by")
    list_filter = ("kind", "created_at")
    search_fields = ("account__user__username", "reason")
    list_select_related = ("account__user", "created_by")
    date_hierarchy = "created_at"


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    list_display = ("reference", "account", "amount", "captured_amount", "state", "provider", "tier", "budget_key",
                    "created_at", "resolved_at")
    list_filter = ("state", "tier")
    search_fields = ("reference", "account__user__username", "provider")
    list_select_related = ("account__user",)

    def get_urls(self):
        refund = self.admin_site.admin_view(self.refund_view)
        return [path("<int:reservation_id>/refund/", refund, name="billing_reservation_refund"), *super().get_urls()]

    def refund_view(self, request, reservation_id: int):
        if not request.user.has_perm("billing.add_refund"):
            raise PermissionDenied
        reservation = get_object_or_404(Reservation, pk=reservation_id)
        form = RefundForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                refund = credits_refund(reservation_id=reservation.pk, reason=form.cleaned_data["reason"],
                                        note=form.cleaned_data["note"], created_by=request.user)
            except BillingError as error:
                form.add_error(None, str(error))
            else:
                text = f"Refunded {refund.amount} credits." if refund else "Already refunded (or nothing was charged)."
                self.message_user(request, text, messages.SUCCESS if refund else messages.WARNING)
                return redirect(reverse("admin:billing_reservation_change", args=[reservation.pk]))
        return _form_page(self, request, form=form, title=f"Refund {reservation.reference}", submit="Refund",
                          extra=f"Charged {reservation.captured_amount or 0} credits. A reservation is refunded at most once.")


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "markup_draft", "markup_final", "concurrency_limit", "daily_spend_cap_credits")
    search_fields = ("name", "slug")

    def has_delete_permission(self, request, obj=None):
        return False  # accounts point at plans; retire a plan by moving its accounts


@admin.register(CreditPack)
class CreditPackAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "credits", "price_cents", "currency", "active")
    list_editable = ("active",)
    search_fields = ("name", "slug")

    def has_delete_permission(self, request, obj=None):
        return False  # purchases point at packs; switch one off instead


@admin.register(CreditPurchase)
class CreditPurchaseAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "account", "pack", "credits", "price_cents", "status", "test_mode", "fulfilled_at")
    list_filter = ("status", "test_mode")
    search_fields = ("checkout_session_id", "payment_intent_id", "account__user__username")
    list_select_related = ("account__user", "pack")


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "reservation", "amount", "reason", "created_by")
    list_filter = ("reason",)
    search_fields = ("reservation__reference", "note")
    list_select_related = ("reservation", "created_by")


@admin.register(StripeEvent)
class StripeEventAdmin(ReadOnlyAdmin):
    list_display = ("received_at", "event_id", "type", "processed_at", "result")
    list_filter = ("type", "result")
    search_fields = ("event_id",)


@admin.register(SpendBudget)
class SpendBudgetAdmin(ReadOnlyAdmin):
    list_display = ("account", "key", "cap_credits", "updated_at")
    search_fields = ("key", "account__user__username")
    list_select_related = ("account__user",)


@admin.register(UnbilledProviderCost)
class UnbilledProviderCostAdmin(admin.ModelAdmin):
    """Vendor jobs paid for and charged to nobody; they count in the margin report. Read-only."""

    list_display = ("created_at", "provider", "tier", "vendor_job_id", "usd_micros", "confirmed", "reference", "note")
    list_filter = ("confirmed", "provider")
    search_fields = ("reference", "vendor_job_id")
    readonly_fields = [field.name for field in UnbilledProviderCost._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
