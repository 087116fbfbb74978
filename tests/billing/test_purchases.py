"""Credit packs through Stripe Checkout, against the local emulator of Checkout and webhooks."""

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection, connections
from django.test import Client
from django.urls import reverse

from billing.models import CreditAccount, CreditPack, CreditPurchase, LedgerEntry, StripeEvent
from billing.purchases import checkout_start
from billing.selectors import credit_accounts_out_of_balance
from billing.stripe_emulator import StripeEmulator
from tests.factories import creator_create

SECRET = "whsec_test_secret"


@pytest.fixture(scope="module")
def emulator():
    running = StripeEmulator(webhook_secret=SECRET).start()
    yield running
    running.stop()


@pytest.fixture
def stripe_on(settings, emulator):
    settings.STRIPE_SECRET_KEY = "sk_test_emulator"
    settings.STRIPE_WEBHOOK_SECRET = SECRET
    settings.STRIPE_API_BASE = emulator.base_url
    return emulator


@pytest.fixture
def buyer(db):
    return creator_create(credits=0)


def started(buyer, slug="starter"):
    pack = CreditPack.objects.get(slug=slug)
    return checkout_start(user=buyer, pack=pack, success_url="http://testserver/ok?session_id={CHECKOUT_SESSION_ID}",
                          cancel_url="http://testserver/credits/").purchase


def post_event(client, emulator, event, *, timestamp=None, secret=None, body=None):
    payload = body if body is not None else json.dumps(event).encode()
    return client.post(reverse("stripe-webhook"), data=payload, content_type="application/json",
                       HTTP_STRIPE_SIGNATURE=emulator.sign(payload, timestamp=timestamp, secret=secret))


def balance(user) -> int:
    return CreditAccount.objects.get(user=user).balance


@pytest.mark.django_db
def test_buying_a_pack_opens_a_checkout_session_through_the_stripe_library(client, stripe_on, buyer):
    client.force_login(buyer)
    response = client.post(reverse("credits-buy", args=["starter"]))
    purchase = CreditPurchase.objects.get()
    session = stripe_on.sessions[purchase.checkout_session_id]
    assert response.status_code == 302 and response.url == session["url"]
    assert (session["amount_total"], session["currency"], session["metadata"]["pack"]) == (1_000, "usd", "starter")
    assert session["success_url"].endswith("?session_id={CHECKOUT_SESSION_ID}")
    assert (purchase.status, purchase.credits, purchase.test_mode) == ("pending", 1_000, False)


@pytest.mark.django_db
def test_a_paid_checkout_is_fulfilled_once_from_the_signed_webhook(client, stripe_on, buyer):
    purchase = started(buyer)
    stripe_on.complete(purchase.checkout_session_id)
    event = stripe_on.event(purchase.checkout_session_id)
    assert post_event(client, stripe_on, event).status_code == 200
    assert post_event(client, stripe_on, event).status_code == 200  # Stripe redelivers
    again = stripe_on.event(purchase.checkout_session_id, "checkout.session.async_payment_succeeded")
    assert post_event(client, stripe_on, again).status_code == 200  # another event, same session
    purchase.refresh_from_db()
    assert purchase.status == "fulfilled" and purchase.entry.amount == 1_000
    assert balance(buyer) == 1_000
    assert LedgerEntry.objects.filter(kind="purchase").count() == 1
    assert StripeEvent.objects.count() == 2 and not StripeEvent.objects.filter(processed_at__isnull=True).exists()
    assert credit_accounts_out_of_balance() == []


@pytest.mark.django_db
@pytest.mark.parametrize("forgery", ["wrong secret", "tampered body", "stale", "missing header", "not json"])
def test_forged_or_stale_events_are_refused_and_not_stored(client, stripe_on, buyer, forgery):
    purchase = started(buyer)
    stripe_on.complete(purchase.checkout_session_id)
    event = stripe_on.event(purchase.checkout_session_id)
    if forgery == "wrong secret":
        response = post_event(client, stripe_on, event, secret="whsec_attacker")
    elif forgery == "tampered body":
        payload = json.dumps(event).encode()
        header = stripe_on.sign(payload)
        event["data"]["object"]["amount_total"] = 1
        response = client.post(reverse("stripe-webhook"), data=json.dumps(event), content_type="application/json",
                               HTTP_STRIPE_SIGNATURE=header)
    elif forgery == "stale":
        response = post_event(client, stripe_on, event, timestamp=int(time.time()) - 301)
    elif forgery == "missing header":
        response = client.post(reverse("stripe-webhook"), data=json.dumps(event), content_type="application/json")
    else:
        response = post_event(client, stripe_on, event, body=b"not json at all")
    assert response.status_code == 400
    assert StripeEvent.objects.count() == 0 and balance(buyer) == 0


@pytest.mark.django_db
def test_an_event_inside_the_tolerance_window_is_accepted(client, stripe_on, buyer):
    purchase = started(buyer)
    stripe_on.complete(purchase.checkout_session_id)
    response = post_event(client, stripe_on, stripe_on.event(purchase.checkout_session_id), timestamp=int(time.time()) - 250)
    assert response.status_code == 200 and balance(buyer) == 1_000


@pytest.mark.django_db
def test_unpaid_then_paid_grants_only_when_the_money_arrives(client, stripe_on, buyer):
    purchase = started(buyer)
    stripe_on.complete(purchase.checkout_session_id, paid=False)  # e.g. a bank debit
    assert post_event(client, stripe_on, stripe_on.event(purchase.checkout_session_id)).content == b"pending"
    assert balance(buyer) == 0
    stripe_on.pay_async(purchase.checkout_session_id)
    paid = stripe_on.event(purchase.checkout_session_id, "checkout.session.async_payment_succeeded")
    assert post_event(client, stripe_on, paid).content == b"fulfilled"
    assert balance(buyer) == 1_000


@pytest.mark.django_db
def test_out_of_order_delivery_still_grants_once(client, stripe_on, buyer):
    purchase = started(buyer)
    stripe_on.complete(purchase.checkout_session_id, paid=False)
    completed_unpaid = stripe_on.event(purchase.checkout_session_id)
    stripe_on.pay_async(purchase.checkout_session_id)
    succeeded = stripe_on.event(purchase.checkout_session_id, "checkout.session.async_payment_succeeded")
    assert post_event(client, stripe_on, succeeded).status_code == 200  # the later event arrives first
    assert post_event(client, stripe_on, completed_unpaid).status_code == 200  # the stale unpaid one after
    purchase.refresh_from_db()
    assert purchase.status == "fulfilled" and balance(buyer) == 1_000


@pytest.mark.django_db
def test_the_success_page_can_fulfil_before_the_webhook_and_the_webhook_adds_nothing(client, stripe_on, buyer):
    client.force_login(buyer)
    purchase = started(buyer)
    stripe_on.complete(purchase.checkout_session_id)
    response = client.get(reverse("credits-purchase-success"), {"session_id": purchase.checkout_session_id})
    assert response.status_code == 302 and response.url == reverse("credits-receipt", args=[purchase.pk])
    assert balance(buyer) == 1_000
    assert post_event(client, stripe_on, stripe_on.event(purchase.checkout_session_id)).content == b"fulfilled"
    assert balance(buyer) == 1_000 and LedgerEntry.objects.filter(kind="purchase").count() == 1


@pytest.mark.django_db
def test_success_page_before_payment_leaves_the_purchase_pending(client, stripe_on, buyer):
    client.force_login(buyer)
    purchase = started(buyer)
    response = client.get(reverse("credits-purchase-success"), {"session_id": purchase.checkout_session_id}, follow=True)
    assert b"Awaiting payment" in response.content and balance(buyer) == 0


@pytest.mark.django_db
def test_another_creators_session_is_not_found(client, stripe_on, buyer):
    purchase = started(buyer)
    intruder = creator_create(username="mallory", credits=0)
    client.force_login(intruder)
    client.get(reverse("credits-purchase-success"), {"session_id": purchase.checkout_session_id})
    assert client.get(reverse("credits-receipt", args=[purchase.pk])).status_code == 404


@pytest.mark.django_db
def test_an_event_for_a_session_we_never_created_is_stored_and_ignored(client, stripe_on, buyer):
    purchase = started(buyer)
    stripe_on.complete(purchase.checkout_session_id)
    event = stripe_on.event(purchase.checkout_session_id)
    event["data"]["object"]["id"] = "cs_test_someone_else"
    assert post_event(client, stripe_on, event).content == b"unknown session"
    assert StripeEvent.objects.get().result == "unknown session" and balance(buyer) == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_duplicate_deliveries_and_the_success_page_grant_once(stripe_on, buyer):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite serialises writers, so concurrent deliveries cannot race")
    # Transactional tests start from a flushed database: put back the pack the migration seeds.
    CreditPack.objects.get_or_create(slug="starter", defaults=dict(name="Starter pack", credits=1_000, price_cents=1_000))
    purchase = started(buyer)
    stripe_on.complete(purchase.checkout_session_id)
    events = [stripe_on.event(purchase.checkout_session_id)] * 6 + \
             [stripe_on.event(purchase.checkout_session_id, "checkout.session.async_payment_succeeded")] * 6

    def deliver(event):
        try:
            if event is None:
                browser = Client()
                browser.force_login(buyer)
                return browser.get(reverse("credits-purchase-success"), {"session_id": purchase.checkout_session_id}).status_code
            return post_event(Client(), stripe_on, event).status_code
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=13) as pool:
        codes = list(pool.map(deliver, events + [None]))
    assert codes == [200] * 12 + [302]
    assert balance(buyer) == 1_000
    assert LedgerEntry.objects.filter(kind="purchase").count() == 1
    assert StripeEvent.objects.count() == 2


@pytest.mark.django_db
def test_test_checkout_is_labelled_and_goes_through_the_same_fulfilment(client, buyer, settings):
    settings.BILLING_TEST_CHECKOUT = True
    client.force_login(buyer)
    response = client.post(reverse("credits-test-buy", args=["creator"]), follow=True)
    purchase = CreditPurchase.objects.get()
    assert (purchase.status, purchase.test_mode, balance(buyer)) == ("fulfilled", True, 5_500)
    assert b"Test purchase" in response.content
    settings.BILLING_TEST_CHECKOUT = False
    client.post(reverse("credits-test-buy", args=["creator"]))
    assert CreditPurchase.objects.count() == 1 and balance(buyer) == 5_500


@pytest.mark.django_db
def test_without_stripe_settings_buying_explains_instead_of_failing(client, buyer, settings):
    settings.STRIPE_SECRET_KEY = ""
    client.force_login(buyer)
    response = client.post(reverse("credits-buy", args=["starter"]), follow=True)
    assert b"not configured" in response.content and CreditPurchase.objects.count() == 0


@pytest.mark.django_db
def test_an_event_that_fails_processing_stays_stored_for_the_retry(stripe_on, buyer):
    from billing.exceptions import PurchaseError
    from billing.purchases import stripe_event_receive

    purchase = started(buyer)
    stripe_on.complete(purchase.checkout_session_id)
    event = stripe_on.event(purchase.checkout_session_id)
    event["data"]["object"]["amount_total"] = 1  # paid a different amount than the pack costs
    payload = json.dumps(event).encode()
    with pytest.raises(PurchaseError, match="different amount"):
        stripe_event_receive(payload=payload, signature=stripe_on.sign(payload))
    stored = StripeEvent.objects.get()
    assert stored.event_id == event["id"] and stored.processed_at is None  # the 500 makes Stripe retry
    assert balance(buyer) == 0 and CreditPurchase.objects.get().status == "pending"
