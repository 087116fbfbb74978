"""Endpoint signing secrets are stored sealed (Fernet: AES-128-CBC with an HMAC-SHA256), never in
plain text: a copy of the database alone does not let anyone sign as us.

The key is derived from Django's SECRET_KEY, so there is nothing new to configure. Rotation is
Django's own: put the old key in SECRET_KEY_FALLBACKS, and secrets sealed under it still open
(MultiFernet tries each key) while new ones are sealed under the new key; `manage.py
webhook_secrets_reseal` then seals every stored secret under the new key, after which the old
one can be dropped.
"""

import base64
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.utils.crypto import salted_hmac
from django.utils.encoding import force_bytes

KEY_SALT = "shotcraft.outbound.endpoint-secret"


class SecretUnsealable(ImproperlyConfigured):
    """A stored secret was sealed under a key that is neither SECRET_KEY nor in SECRET_KEY_FALLBACKS."""


def secret_seal(plain: str) -> str:
    return _fernet(_keys()).encrypt(force_bytes(plain)).decode("ascii")


def secret_unseal(sealed: str) -> str:
    try:
        return _fernet(_keys()).decrypt(force_bytes(sealed)).decode("utf-8")
    except InvalidToken as error:
        raise SecretUnsealable("A webhook endpoint's secret cannot be opened: SECRET_KEY changed and the key it was "
                               "sealed under is not in SECRET_KEY_FALLBACKS. Put the old key back there.") from error


def _keys() -> tuple[str, ...]:
    return (settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", ()))


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    """The first key seals; every key opens."""
    return MultiFernet([Fernet(base64.urlsafe_b64encode(salted_hmac(KEY_SALT, "", secret=key, algorithm="sha256").digest()))
                        for key in keys])


class SealedSecretField(models.CharField):
    """A CharField whose value is sealed on the way into the database and opened on the way out;
    in Python it is always the plain secret, so signing code needs no change."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 255)
        super().__init__(*args, **kwargs)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return secret_seal(value) if value else value

    def from_db_value(self, value, expression, connection):
        return secret_unseal(value) if value else value
