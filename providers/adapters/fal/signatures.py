"""fal webhook signatures: Ed25519 over the request id, user id, timestamp and body hash.

shared/provider_contracts.md §2 "Webhooks": headers X-Fal-Webhook-Request-Id, -User-Id,
-Timestamp (unix seconds) and -Signature (hex); the signed message is
`request_id\\nuser_id\\ntimestamp\\nhex(sha256(raw body))`; any key of fal's JWKS (OKP/Ed25519)
may have signed it; timestamps more than 300 s from now are refused; the JWKS is cached ≤ 24 h.
"""

import base64
import binascii
import hashlib
import threading
import time

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from providers.base import WebhookRejected

# rest.fal.ai per 3P verifiers; the exact official host is UNCONFIRMED (older: rest.alpha.fal.ai).
DEFAULT_JWKS_URL = "https://rest.fal.ai/.well-known/jwks.json"
TIMESTAMP_TOLERANCE_SECONDS = 300
JWKS_MAX_AGE_SECONDS = 24 * 3600
# An unknown signer may mean fal rotated its keys, or a forger: refetch for it at most this often,
# so a flood of forged callbacks cannot make us hammer fal's JWKS endpoint.
JWKS_UNKNOWN_SIGNER_REFETCH_SECONDS = 60
SIGNATURE_HEADERS = ("x-fal-webhook-request-id", "x-fal-webhook-user-id", "x-fal-webhook-timestamp",
                     "x-fal-webhook-signature")

# Shared by every adapter instance in the process: keys change rarely and workers build adapters often.
_jwks_cache: dict[str, tuple[float, list[Ed25519PublicKey]]] = {}
_unknown_signer_refetched_at: dict[str, float] = {}
_jwks_lock = threading.Lock()


def verified_request_id(headers: dict[str, str], body: bytes, *, jwks_url: str, timeout: float,
                        now: float | None = None) -> str:
    """The request id the callback is about, once its signature checks out; else WebhookRejected."""
    lowered = {name.lower(): value for name, value in headers.items()}
    missing = [name for name in SIGNATURE_HEADERS if not lowered.get(name)]
    if missing:
        raise WebhookRejected(f"fal callback without {', '.join(missing)}")
    request_id, user_id, timestamp, signature = (lowered[name] for name in SIGNATURE_HEADERS)
    _check_fresh(timestamp, now if now is not None else time.time())
    message = "\n".join((request_id, user_id, timestamp, hashlib.sha256(body).hexdigest())).encode()
    _check_signature(_hex(signature), message, jwks_url=jwks_url, timeout=timeout)
    return request_id


def _check_fresh(timestamp: str, now: float) -> None:
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise WebhookRejected("fal callback timestamp is not a number") from None
    if abs(now - sent_at) > TIMESTAMP_TOLERANCE_SECONDS:
        raise WebhookRejected("fal callback timestamp is outside the 300 s tolerance")


def _hex(signature: str) -> bytes:
    try:
        return bytes.fromhex(signature)
    except ValueError:
        raise WebhookRejected("fal callback signature is not hex") from None


def _check_signature(signature: bytes, message: bytes, *, jwks_url: str, timeout: float) -> None:
    """Any of fal's keys will do; an unknown signer means one refetch (fal may have rotated keys)."""
    keys, fetched_now = _cached_keys(jwks_url, timeout)
    if _signed_by_any(keys, signature, message):
        return
    if not fetched_now and _unknown_signer_refetch_due(jwks_url) and _signed_by_any(_refetch(jwks_url, timeout), signature, message):
        return
    raise WebhookRejected("fal callback signature does not match any of fal's keys")


def _signed_by_any(keys: list[Ed25519PublicKey], signature: bytes, message: bytes) -> bool:
    for key in keys:
        try:
            key.verify(signature, message)
            return True
        except InvalidSignature:
            continue
    return False


def _cached_keys(jwks_url: str, timeout: float) -> tuple[list[Ed25519PublicKey], bool]:
    with _jwks_lock:
        cached = _jwks_cache.get(jwks_url)
    if cached and time.monotonic() - cached[0] < JWKS_MAX_AGE_SECONDS:
        return cached[1], False
    return _refetch(jwks_url, timeout), True


def _unknown_signer_refetch_due(jwks_url: str) -> bool:
    now = time.monotonic()
    with _jwks_lock:
        last = _unknown_signer_refetched_at.get(jwks_url)
        if last is not None and now - last < JWKS_UNKNOWN_SIGNER_REFETCH_SECONDS:
            return False
        _unknown_signer_refetched_at[jwks_url] = now
        return True


def _refetch(jwks_url: str, timeout: float) -> list[Ed25519PublicKey]:
    keys = _fetch_jwks(jwks_url, timeout)
    with _jwks_lock:
        _jwks_cache[jwks_url] = (time.monotonic(), keys)
    return keys


def _fetch_jwks(jwks_url: str, timeout: float) -> list[Ed25519PublicKey]:
    """fal's public keys; without them no callback can be trusted, so failures reject it."""
    try:
        response = httpx.get(jwks_url, timeout=timeout)
        response.raise_for_status()
        entries = response.json()["keys"]
        return [_public_key(entry) for entry in entries if entry.get("kty") == "OKP" and entry.get("crv") == "Ed25519"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise WebhookRejected(f"could not load fal's webhook keys: {error.__class__.__name__}") from None


def _public_key(entry: dict) -> Ed25519PublicKey:
    x = entry["x"]
    try:
        raw = base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
    except (binascii.Error, ValueError) as error:
        raise ValueError("bad JWKS key") from error
    return Ed25519PublicKey.from_public_bytes(raw)
