"""Standard Webhooks signatures (standardwebhooks.com), as OpenAI and Replicate send them.

Every delivery carries three headers: `webhook-id` (unique per message, the same on retries),
`webhook-timestamp` (unix seconds) and `webhook-signature`, a space-separated list of
`v1,<base64>` entries. Each entry is HMAC-SHA256 over `"{id}.{timestamp}.{raw body}"`, keyed
with the base64-decoded part of the secret after `whsec_` (a secret without that prefix is used
as raw UTF-8 bytes, as the OpenAI SDK does). A delivery is genuine when any entry matches, and
fresh when its timestamp is within the tolerance of our clock in either direction.

`verify` is what adapters call; `sign` is what the emulators call, so both sides share one
implementation of the signed content.
"""

import base64
import binascii
import hashlib
import hmac
import secrets
import time
import uuid

from providers.base import WebhookRejected

TOLERANCE_SECONDS = 300
SECRET_PREFIX = "whsec_"
HEADER_NAMES = ("webhook-id", "webhook-timestamp", "webhook-signature")


def verify(headers, body: bytes, secret: str, now: float | None = None, *,
           tolerance_seconds: int = TOLERANCE_SECONDS) -> str:
    """Check one delivery; return its `webhook-id`, or raise WebhookRejected."""
    webhook_id, timestamp, signatures = _signature_headers(headers)
    _check_fresh(timestamp, time.time() if now is None else now, tolerance_seconds)
    expected = signature(secret, webhook_id, timestamp, body)
    offered = [entry[3:] for entry in signatures.split() if entry.startswith("v1,")]
    # compare_digest against every entry, without stopping early at the first match
    matches = [hmac.compare_digest(expected.encode(), candidate.encode()) for candidate in offered]
    if not any(matches):
        raise WebhookRejected("The webhook signature does not match.")
    return webhook_id


def sign(body: bytes, secret: str, *, webhook_id: str | None = None, timestamp: int | None = None) -> dict[str, str]:
    """The three headers a sender attaches to `body` (emulators and tests)."""
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    timestamp_text = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": timestamp_text,
        "webhook-signature": f"v1,{signature(secret, webhook_id, timestamp_text, body)}",
    }


def signature(secret: str, webhook_id: str, timestamp: str, body: bytes) -> str:
    """The base64 HMAC-SHA256 of the signed content `{id}.{timestamp}.{body}`."""
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(signing_key(secret), signed, hashlib.sha256).digest()).decode()


def signing_key(secret: str) -> bytes:
    if not secret:
        raise WebhookRejected("No webhook signing secret is configured.")
    if not secret.startswith(SECRET_PREFIX):
        return secret.encode()
    try:
        return base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except (binascii.Error, ValueError):
        raise WebhookRejected("The configured webhook signing secret is not valid base64.") from None


def new_secret() -> str:
    """A fresh `whsec_` secret (the emulators' default)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def _signature_headers(headers) -> tuple[str, str, str]:
    lowered = {str(name).lower(): value for name, value in (headers or {}).items()}
    values = [lowered.get(name) or "" for name in HEADER_NAMES]
    missing = [name for name, value in zip(HEADER_NAMES, values, strict=True) if not value.strip()]
    if missing:
        raise WebhookRejected(f"The webhook is missing {', '.join(missing)}.")
    return values[0].strip(), values[1].strip(), values[2].strip()


def _check_fresh(timestamp: str, now: float, tolerance_seconds: int) -> None:
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookRejected("The webhook timestamp is not a number.") from None
    if now - sent_at > tolerance_seconds:
        raise WebhookRejected("The webhook timestamp is too old.")
    if sent_at - now > tolerance_seconds:
        raise WebhookRejected("The webhook timestamp is too far in the future.")
