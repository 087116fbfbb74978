"""Addresses a vendor can fetch our reference images (and finals to upscale) from, valid for a day and signed.

With S3 storage the bucket's own presigned URL is used; with local storage the app serves the
file itself behind a signed token, so private media is never listed or guessable.
"""

from django.conf import settings
from django.core import signing
from django.core.files.storage import FileSystemStorage, default_storage
from django.http import FileResponse, Http404
from django.urls import reverse

SALT = "provider-media"
MAX_AGE_SECONDS = 24 * 3600
SHAREABLE_PREFIX = ("references/", "takes/final/")  # a final's video goes to the upscaler


def provider_media_url(storage_name: str) -> str:
    if not isinstance(default_storage, FileSystemStorage):
        return default_storage.url(storage_name)
    token = signing.dumps(storage_name, salt=SALT)  # URL-safe, unlike the bare name
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("provider-media", args=[token])


def provider_media(request, token: str) -> FileResponse:
    try:
        name = signing.loads(token, salt=SALT, max_age=MAX_AGE_SECONDS)
    except signing.BadSignature:
        raise Http404("This link is not valid or has expired.") from None
    if not name.startswith(SHAREABLE_PREFIX) or not default_storage.exists(name):
        raise Http404("No such file.")
    return FileResponse(default_storage.open(name, "rb"))
