"""Billing settings fail fast in production; the Stripe emulator keeps Stripe's contract."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import stripe

from billing.stripe_emulator import StripeEmulator, stripe_signature_header

ROOT = Path(__file__).resolve().parent.parent.parent


def _settings_value(expression: str, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("STRIPE_", "BILLING_")) and k not in ("DJANGO_ENV", "DEBUG")}
    clean.update(DJANGO_SETTINGS_MODULE="studio.config.settings", **env)
    code = f"import django; django.setup(); from django.conf import settings; print({expression})"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60)


def test_test_checkout_is_on_in_development_and_off_in_production():
    assert _settings_value("settings.BILLING_TEST_CHECKOUT").stdout.strip() == "True"
    production = _settings_value("settings.BILLING_TEST_CHECKOUT, settings.STRIPE_SECRET_KEY",
                                 DJANGO_ENV="production", SECRET_KEY="x" * 50,
                                 PUBLIC_BASE_URL="https://studio.example.com")
    assert production.stdout.strip() == "False None"  # and no secret defaults


@pytest.mark.parametrize("unsafe", [dict(BILLING_TEST_CHECKOUT="1"), dict(STRIPE_API_BASE="http://127.0.0.1:12111")])
def test_production_refuses_test_checkout_and_the_emulator(unsafe):
    result = _settings_value("1", DJANGO_ENV="production", SECRET_KEY="x" * 50,
                             PUBLIC_BASE_URL="https://studio.example.com", **unsafe)
    assert result.returncode != 0 and "ImproperlyConfigured" in result.stderr


def test_emulator_signatures_verify_with_the_official_library():
    payload = json.dumps({"id": "evt_1", "type": "checkout.session.completed"}).encode()
    header = stripe_signature_header(payload=payload, secret="whsec_x")
    assert header.startswith("t=") and ",v1=" in header
    assert stripe.WebhookSignature.verify_header(payload.decode(), header, "whsec_x", tolerance=300)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(payload.decode(), header, "whsec_other", tolerance=300)
    old = stripe_signature_header(payload=payload, secret="whsec_x", timestamp=int(time.time()) - 301)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(payload.decode(), old, "whsec_x", tolerance=300)


def test_emulator_speaks_checkout_sessions_to_the_official_client():
    emulator = StripeEmulator(webhook_secret="whsec_x").start()
    try:
        client = stripe.StripeClient("sk_test_x", base_addresses={"api": emulator.base_url})
        session = client.v1.checkout.sessions.create(params={
            "mode": "payment", "success_url": "http://x/ok", "cancel_url": "http://x/no", "metadata": {"pack": "p"},
            "line_items": [{"quantity": 2, "price_data": {"currency": "usd", "unit_amount": 250,
                                                          "product_data": {"name": "Credits"}}}]})
        assert (session.amount_total, session.payment_status, session.metadata["pack"]) == (500, "unpaid", "p")
        emulator.complete(session.id)
        assert client.v1.checkout.sessions.retrieve(session.id).payment_status == "paid"
        with pytest.raises(stripe.InvalidRequestError):
            client.v1.checkout.sessions.retrieve("cs_test_missing")
        assert httpx.get(f"{emulator.base_url}/v1/checkout/sessions/{session.id}").status_code == 401
    finally:
        emulator.stop()
