"""Local media behind signed, expiring URLs, as S3's presigned URLs are: a file under MEDIA_ROOT is
reachable only through a link the app handed out, for an hour or two, never by its bare path.

Links expire on the hour boundary after next (one to two hours from now), so a page rendered
twice within the hour carries the same URLs and the browser's cache keeps working; cached
storyboard cards (STORYBOARD_CACHE_SECONDS) must stay shorter-lived than that.
"""

import time

from django.core import signing
from django.core.files.storage import FileSystemStorage
from django.http import Http404
from django.utils.crypto import constant_time_compare
from django.views.static import serve

SALT = "studio.media"
LINK_PERIOD_SECONDS = 3600


def _signature(name: str, expires: int) -> str:
    return signing.Signer(salt=SALT).signature(f"{name}\n{expires}")


def link_expiry(now: float | None = None) -> int:
    now = time.time() if now is None else now
    return (int(now) // LINK_PERIOD_SECONDS + 2) * LINK_PERIOD_SECONDS


class SignedFileSystemStorage(FileSystemStorage):
    """FileSystemStorage whose url() is signed and expires (see the module's docstring)."""

    def url(self, name: str | None) -> str:
        # One query value ("?s=EXPIRY.SIGNATURE", URL-safe characters only), so the link reads the
        # same in HTML, where a second parameter's "&" would be escaped.
        expires = link_expiry()
        return f"{super().url(name)}?s={expires}.{_signature(name.replace(chr(92), '/'), expires)}"


def signed_media(request, path: str, *, document_root):
    """Serve a file from MEDIA_ROOT if the link's signature matches and has not expired."""
    expiry, _, signature = request.GET.get("s", "").partition(".")
    if not expiry.isdigit():
        raise Http404("This media link is not valid.")
    expires = int(expiry)
    if expires < time.time() or not constant_time_compare(signature, _signature(path, expires)):
        raise Http404("This media link is not valid or has expired.")
    response = serve(request, path, document_root=document_root)
    response["Cache-Control"] = f"private, max-age={max(int(expires - time.time()), 0)}"
    return response
