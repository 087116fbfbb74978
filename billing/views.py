"""Creator-facing credit pages and the Stripe webhook. Views parse input and call one service."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.module_loading import import_string
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from billing.exceptions import PurchaseError, WebhookSignatureInvalid
from billing.models import CreditPack, LedgerEntry
from billing.purchases import (
    checkout_start,
    purchase_for_user,
    purchase_sync_from_success_page,
    purchase_test_checkout,
    stripe_configured,
    stripe_event_receive,
)
from billing.reports import credit_spend_by_day, credit_spend_by_provider
from billing.selectors import credit_account_summary, ledger_entries_for_user, reservations_open_for_user

LEDGER_PAGE_SIZE = 25


@login_required
@require_GET
def credits_page(request):
    kind = request.GET.get("kind", "")
    kind = kind if kind in LedgerEntry.Kind.values else ""
    page = Paginator(ledger_entries_for_user(user_id=request.user.pk, kind=kind), LEDGER_PAGE_SIZE).get_page(request.GET.get("page"))
    _references_describe(request.user.pk, page.object_list)
    return render(request, "billing/credits.html", {
        "summary": credit_account_summary(user_id=request.user.pk),
        "reservations": reservations_open_for_user(user_id=request.user.pk),
        "page": page, "kind": kind, "kinds": LedgerEntry.Kind.choices,
        "by_day": credit_spend_by_day(user_id=request.user.pk, days=30),
        "by_provider": credit_spend_by_provider(user_id=request.user.pk, days=30),
        "packs": CreditPack.objects.filter(active=True),
        "stripe_on": stripe_configured(), "test_checkout_on": settings.BILLING_TEST_CHECKOUT,
    })


@login_required
@require_POST
def pack_buy(request, slug: str):
    pack = get_object_or_404(CreditPack, slug=slug, active=True)
    success = request.build_absolute_uri(reverse("credits-purchase-success")) + "?session_id={CHECKOUT_SESSION_ID}"
    try:
        started = checkout_start(user=request.user, pack=pack, success_url=success,
                                 cancel_url=request.build_absolute_uri(reverse("credits")))
    except PurchaseError as error:
        messages.error(request, str(error))
        return redirect("credits")
    return redirect(started.url)


@login_required
@require_POST
def pack_test_buy(request, slug: str):
    pack = get_object_or_404(CreditPack, slug=slug, active=True)
    try:
        purchase = purchase_test_checkout(user=request.user, pack=pack)
    except PurchaseError as error:
        messages.error(request, str(error))
        return redirect("credits")
    messages.success(request, f"Test purchase: {purchase.credits} credits added. No money was charged.")
    return redirect("credits-receipt", purchase_id=purchase.pk)


@login_required
@require_GET
def purchase_success(request):
    try:
        purchase = purchase_sync_from_success_page(user=request.user, session_id=request.GET.get("session_id", ""))
    except PurchaseError as error:
        messages.error(request, str(error))
        return redirect("credits")
    return redirect("credits-receipt", purchase_id=purchase.pk)


@login_required
@require_GET
def purchase_receipt(request, purchase_id: int):
    return render(request, "billing/receipt.html", {"purchase": purchase_for_user(user=request.user, purchase_id=purchase_id)})


@csrf_exempt
@require_POST
def stripe_webhook(request):
    """Stripe's signed events. 400 for anything not signed with our secret; 2xx once stored."""
    try:
        result = stripe_event_receive(payload=request.body, signature=request.headers.get("Stripe-Signature", ""))
    except WebhookSignatureInvalid:
        return HttpResponseBadRequest("invalid signature", content_type="text/plain")
    return HttpResponse(result, content_type="text/plain")


def _references_describe(user_id: int, entries) -> None:
    """Each entry held for a take gets `subject` (its shot and take, named and linked) and `reason_rest`
    (what the reason says beyond the reference), from the describer settings name, in one query."""
    entries = [entry for entry in entries if entry.reservation_id]
    describe = import_string(settings.LEDGER_REFERENCE_DESCRIBER)
    subjects = describe(user_id=user_id, references=[entry.reservation.reference for entry in entries]) if entries else {}
    for entry in entries:
        entry.subject = subjects.get(entry.reservation.reference)
        entry.reason_rest = entry.reason.removeprefix(entry.reservation.reference).lstrip(": ")

