from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect, render
from django.urls import path, reverse

from billing.exceptions import BillingError
from billing.models import CreditAccount, LedgerEntry, Reservation
from billing.services import credits_grant


class GrantForm(forms.Form):
    amount = forms.IntegerField(min_value=1, max_value=1_000_000, label="Credits to grant")
    reason = forms.CharField(max_length=255, label="Reason (shown in the ledger)")


class ReadOnlyAdmin(admin.ModelAdmin):
    """Money rows are written only by billing services; the admin shows them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CreditAccount)
class CreditAccountAdmin(ReadOnlyAdmin):
    list_display = ("user", "balance", "held", "available", "updated_at")
    search_fields = ("user__username", "user__email")
    list_select_related = ("user",)
    readonly_fields = ("user", "balance", "held", "created_at", "updated_at")

    def get_urls(self):
        grant = self.admin_site.admin_view(self.grant_view)
        return [path("<int:account_id>/grant/", grant, name="billing_creditaccount_grant"), *super().get_urls()]

    def grant_view(self, request, account_id: int):
        if not request.user.has_perm("billing.add_ledgerentry"):
            raise PermissionDenied
        account = CreditAccount.objects.select_related("user").get(pk=account_id)
        form = GrantForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                credits_grant(user=account.user, amount=form.cleaned_data["amount"],
                              reason=form.cleaned_data["reason"], created_by=request.user)
            except BillingError as error:
                form.add_error(None, str(error))
            else:
                self.message_user(request, f"Granted {form.cleaned_data['amount']} credits to {account.user}.", messages.SUCCESS)
                return redirect(reverse("admin:billing_creditaccount_change", args=[account.pk]))
        context = {**self.admin_site.each_context(request), "title": f"Grant credits to {account.user}",
                   "form": form, "account": account, "opts": self.model._meta}
        return render(request, "admin/billing/grant.html", context)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "account", "kind", "amount", "held", "reason", "created_by")
    list_filter = ("kind", "created_at")
    search_fields = ("account__user__username", "reason")
    list_select_related = ("account__user", "created_by")
    date_hierarchy = "created_at"


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    list_display = ("reference", "account", "amount", "captured_amount", "state", "created_at", "resolved_at")
    list_filter = ("state",)
    search_fields = ("reference", "account__user__username")
    list_select_related = ("account__user",)
