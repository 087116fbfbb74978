"""API tokens: a random key shown once; only its SHA-256 is stored and looked up."""

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from studio.models import ApiToken

KEY_PREFIX = "sc_"
KEY_MAX_LENGTH = 100  # real keys are 46 characters; anything much longer is not ours
LAST_USED_RESOLUTION = timedelta(minutes=1)  # record use at most this often, not on every request


def api_key_hash(key: str) -> str:
    # A fast hash is right here: the key is 256 random bits, so there is nothing to brute-force.
    return hashlib.sha256(key.encode()).hexdigest()


@transaction.atomic
def api_token_create(*, user, name: str) -> tuple[ApiToken, str]:
    """Create a token for `user`. Returns the token and its key; the key cannot be recovered later."""
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user=user, name=name.strip(), key_prefix=key[:8], key_hash=api_key_hash(key))
    token.full_clean()
    token.save()
    return token, key


def api_token_revoke(*, token: ApiToken) -> ApiToken:
    """Revoke a token from now on. Revoking a revoked token keeps its first revocation time."""
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    token.refresh_from_db(fields=["revoked_at"])
    return token


def api_token_authenticate(*, key: str) -> ApiToken | None:
    """The live token for `key` with its user, or None for unknown, revoked or inactive-user keys."""
    if not key or len(key) > KEY_MAX_LENGTH:
        return None
    token = (
        ApiToken.objects.select_related("user")
        .filter(key_hash=api_key_hash(key), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
