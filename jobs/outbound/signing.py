"""Standard Webhooks signing (https://www.standardwebhooks.com) through the `standardwebhooks` library."""

import base64
import secrets
from datetime import datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def secret_new() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signed_headers(*, message_id: str, timestamp: datetime, body: bytes, secrets_in_force: list[str]) -> dict[str, str]:
    """The three Standard Webhooks headers; during a rotation's overlap one signature per secret,
    space-separated, so a receiver holding either secret verifies."""
    signature = " ".join(Webhook(secret).sign(message_id, timestamp, body) for secret in secrets_in_force)
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": signature,
    }
