"""Credit packs bought through Stripe Checkout, fulfilled exactly once.

The flow: `checkout_start` creates a Checkout Session (network, outside any transaction) and a
pending CreditPurchase keyed by the session id. Stripe then tells us about payment in a signed
webhook: `stripe_event_receive` verifies the signature on the raw body, stores the event (unique
on its id) and commits *before* processing it, then hands the session to `purchase_fulfil`. The
success page may race the webhook and calls `purchase_fulfil` too, with the session retrieved
from Stripe. `purchase_fulfil` locks the purchase row: whoever comes first adds the credits, any
later or concurrent caller finds it fulfilled and does nothing.
"""

import json
import uuid
from dataclasses import dataclass

import stripe
from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.shortcuts import get_object_or_404
from django.utils import timezone

from billing.events import outbound_event_record
from billing.exceptions import PurchaseError, WebhookSignatureInvalid
from billing.models import CreditPack, CreditPurchase, LedgerEntry, StripeEvent
from billing.services import _append, _locked_account

FULFILLING_EVENTS = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
PAID_STATUSES = ("paid", "no_payment_required")


@dataclass(frozen=True)
class CheckoutStarted:
    purchase: CreditPurchase
    url: str


def stripe_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY and settings.STRIPE_WEBHOOK_SECRET)


def stripe_client() -> stripe.StripeClient:
    if not stripe_configured():
        raise PurchaseError("Card payments are not configured on this server.")
    base = {"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None
    return stripe.StripeClient(settings.STRIPE_SECRET_KEY, base_addresses=base, max_network_retries=2)


def checkout_start(*, user: AbstractBaseUser, pack: CreditPack, success_url: str, cancel_url: str) -> CheckoutStarted:
    """Open a Checkout Session for one pack. `success_url` should carry `{CHECKOUT_SESSION_ID}`."""
    if not pack.active:
        raise PurchaseError("That credit pack is no longer on sale.")
    reference = uuid.uuid4().hex
    session = stripe_client().v1.checkout.sessions.create(params={
        "mode": "payment", "success_url": success_url, "cancel_url": cancel_url,
        "client_reference_id": str(user.pk), "customer_email": user.email or None,
        "metadata": {"pack": pack.slug, "user_id": str(user.pk), "reference": reference},
        "line_items": [{"quantity": 1, "price_data": {
            "currency": pack.currency, "unit_amount": pack.price_cents,
            "product_data": {"name": f"{pack.name}: {pack.credits} Shotcraft credits"}}}],
    }, options={"idempotency_key": f"checkout-{reference}"})
    purchase = _purchase_create(user=user, pack=pack, session_id=session.id, test_mode=False)
    return CheckoutStarted(purchase=purchase, url=session.url)


@transaction.atomic
def _purchase_create(*, user, pack: CreditPack, session_id: str, test_mode: bool) -> CreditPurchase:
    account = _locked_account(user.pk)
    return CreditPurchase.objects.create(
        account=account, pack=pack, credits=pack.credits, price_cents=pack.price_cents, currency=pack.currency,
        checkout_session_id=session_id, test_mode=test_mode,
    )


@transaction.atomic
def purchase_fulfil(*, session: dict) -> CreditPurchase | None:
    """Add the pack's credits if this Checkout Session is paid and not yet fulfilled. Idempotent.

    Returns the purchase (fulfilled or still pending), or None for a session we never created.
    """
    purchase = CreditPurchase.objects.filter(checkout_session_id=session.get("id", "")).first()
    if purchase is None:
        return None
    account = _locked_account(purchase.account.user_id)  # same lock order as every ledger write
    purchase = CreditPurchase.objects.select_for_update().get(pk=purchase.pk)
    if purchase.status == CreditPurchase.Status.FULFILLED or session.get("payment_status") not in PAID_STATUSES:
        return purchase
    if (session.get("amount_total"), (session.get("currency") or "").lower()) != (purchase.price_cents, purchase.currency):
        raise PurchaseError(f"Session {purchase.checkout_session_id} was paid for a different amount.")
    entry = _append(account, kind=LedgerEntry.Kind.PURCHASE, amount=purchase.credits,
                    reason=f"{purchase.pack.name} ({purchase.checkout_session_id})"[:255])
    purchase.status = CreditPurchase.Status.FULFILLED
    purchase.entry = entry
    purchase.payment_intent_id = session.get("payment_intent") or ""
    purchase.fulfilled_at = timezone.now()
    purchase.save(update_fields=["status", "entry", "payment_intent_id", "fulfilled_at", "updated_at"])
    outbound_event_record(user_id=account.user_id, kind="purchase.completed", data={
        "purchase_id": purchase.pk, "credits": purchase.credits, "price_cents": purchase.price_cents,
        "currency": purchase.currency, "test_mode": purchase.test_mode})
    return purchase


def stripe_event_verify(*, payload: bytes, signature: str) -> dict:
    """The event, if Stripe signed exactly these bytes with our secret within the tolerance window."""
    try:
        stripe.WebhookSignature.verify_header(
            payload.decode("utf-8"), signature, settings.STRIPE_WEBHOOK_SECRET,
            tolerance=settings.STRIPE_WEBHOOK_TOLERANCE_SECONDS,
        )
        event = json.loads(payload)
    except (stripe.SignatureVerificationError, UnicodeDecodeError, ValueError) as error:
        raise WebhookSignatureInvalid(str(error)) from None
    if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
        raise WebhookSignatureInvalid("Signed payload is not an event.")
    return event


def stripe_event_store(*, event: dict) -> StripeEvent:
    """Insert the event (committed on its own) or find the copy a duplicate delivery stored."""
    try:
        with transaction.atomic():
            return StripeEvent.objects.create(event_id=event["id"], type=event["type"], payload=event)
    except IntegrityError:
        return StripeEvent.objects.get(event_id=event["id"])


def stripe_event_process(*, stored: StripeEvent) -> str:
    if stored.processed_at is not None:
        return stored.result
    result = "ignored"
    if stored.type in FULFILLING_EVENTS:
        purchase = purchase_fulfil(session=stored.payload["data"]["object"])
        result = "unknown session" if purchase is None else purchase.status
    StripeEvent.objects.filter(pk=stored.pk, processed_at__isnull=True).update(processed_at=timezone.now(), result=result)
    return result


def stripe_event_receive(*, payload: bytes, signature: str) -> str:
    """Verify, store, then process one webhook delivery. Raises WebhookSignatureInvalid on forgeries."""
    if not settings.STRIPE_WEBHOOK_SECRET:
        raise WebhookSignatureInvalid("No webhook secret is configured.")
    event = stripe_event_verify(payload=payload, signature=signature)
    stored = stripe_event_store(event=event)
    return stripe_event_process(stored=stored)


def purchase_for_user(*, user: AbstractBaseUser, purchase_id: int) -> CreditPurchase:
    """The creator's own purchase; 404 for missing and not-yours alike."""
    return get_object_or_404(CreditPurchase.objects.select_related("pack", "entry"), pk=purchase_id, account__user=user)


def purchase_sync_from_success_page(*, user: AbstractBaseUser, session_id: str) -> CreditPurchase:
    """The success page asks Stripe directly, in case it arrives before the webhook."""
    purchase = CreditPurchase.objects.filter(checkout_session_id=session_id, account__user=user).first()
    if purchase is None:
        raise PurchaseError("We could not find that checkout.")
    if purchase.status == CreditPurchase.Status.PENDING and not purchase.test_mode:
        session = stripe_client().v1.checkout.sessions.retrieve(session_id)
        purchase = purchase_fulfil(session=session.to_dict()) or purchase
    return purchase


def purchase_test_checkout(*, user: AbstractBaseUser, pack: CreditPack) -> CreditPurchase:
    """Development only: a labelled test purchase that no one pays for, fulfilled through the
    same `purchase_fulfil` as real ones."""
    if not settings.BILLING_TEST_CHECKOUT:
        raise PurchaseError("Test checkout is switched off on this server.")
    purchase = _purchase_create(user=user, pack=pack, session_id=f"test_cs_{uuid.uuid4().hex}", test_mode=True)
    session = {"id": purchase.checkout_session_id, "payment_status": "paid",
               "amount_total": pack.price_cents, "currency": pack.currency}
    return purchase_fulfil(session=session)
