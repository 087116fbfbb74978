"""The token in a share link's URL: its public id, signed (django.core.signing) so that a forged or
mangled token is refused before any lookup, and a guessed public id alone opens nothing."""

from django.core import signing

SHARE_LINK_SALT = "studio.share-link"


def share_token_sign(public_id) -> str:
    return signing.dumps(str(public_id), salt=SHARE_LINK_SALT)


def share_token_public_id(token: str) -> str | None:
    """The public id a token was signed for, or None for a forged or mangled token."""
    try:
        value = signing.loads(token, salt=SHARE_LINK_SALT)
    except signing.BadSignature:
        return None
    return value if isinstance(value, str) else None
