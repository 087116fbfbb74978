"""Local media behind signed, expiring URLs, as S3's presigned URLs are: a file under MEDIA_ROOT is
reachable only through a link the app handed out, for an hour or two, never by its bare path.

Links expire on the hour boundary after next (one to two hours from now), so a page rendered
twice within the hour carries the same URLs and the browser's cache keeps working; cached
storyboard cards (STORYBOARD_CACHE_SECONDS) must stay shorter-lived than that.
"""

import mimetypes
import re
import time
from pathlib import Path

from django.core import signing
from django.core.files.storage import FileSystemStorage
from django.http import Http404, HttpResponse, StreamingHttpResponse
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
    response = _ranged(request, path, document_root) or serve(request, path, document_root=document_root)
    response["Accept-Ranges"] = "bytes"  # players seek with byte ranges; without them a video cannot seek
    response["Cache-Control"] = f"private, max-age={max(int(expires - time.time()), 0)}"
    return response


_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def _ranged(request, path: str, document_root) -> HttpResponse | None:
    """A 206 for one byte range (what video players ask for), 416 for one past the end, or None to
    serve the whole file. Only after `serve`'s own checks would pass: the path stays under the root."""
    match = _RANGE.match(request.headers.get("Range", "").strip())
    root = Path(document_root).resolve()
    file = (root / path).resolve()
    if match is None or not file.is_relative_to(root) or not file.is_file() or match.groups() == ("", ""):
        return None
    size = file.stat().st_size
    first, last = match.groups()
    start, end = (size - int(last), size - 1) if not first else (int(first), min(int(last or size - 1), size - 1))
    if start < 0 or start >= size or end < start:
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    handle = file.open("rb")
    handle.seek(start)
    content_type = mimetypes.guess_type(file.name)[0] or "application/octet-stream"
    response = StreamingHttpResponse(_limited(handle, end - start + 1), status=206, content_type=content_type)
    response["Content-Length"] = str(end - start + 1)
    response["Content-Range"] = f"bytes {start}-{end}/{size}"
    return response


def _limited(handle, remaining: int, chunk: int = 64 * 1024):
    with handle:
        while remaining > 0:
            data = handle.read(min(chunk, remaining))
            if not data:
                return
            remaining -= len(data)
            yield data
