"""HTTP plumbing shared by the adapters: error classification, Retry-After, capped downloads."""

import email.utils
import json
import time
from pathlib import Path

import httpx

from providers.base import (
    AuthenticationFailed,
    BadRequest,
    InsufficientVendorCredit,
    ProviderError,
    RateLimited,
    TransientProviderError,
)

DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=5.0)


def retry_after_seconds(headers) -> float | None:
    """Retry-After as seconds, whether the vendor sent seconds or an HTTP date."""
    raw = headers.get("retry-after") if headers else None
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        parsed = email.utils.parsedate_to_datetime(raw)
        return max(0.0, parsed.timestamp() - time.time()) if parsed else None


def error_for_status(status: int, message: str, headers=None) -> ProviderError:
    """The default meaning of an HTTP status; families refine it from their own error bodies."""
    if status == 429:
        return RateLimited(f"Rate limited: {message}", retry_after_seconds=retry_after_seconds(headers))
    if status in (401, 403):
        return AuthenticationFailed(f"The provider refused our credentials: {message}")
    if status == 402:
        return InsufficientVendorCredit(f"Our account at the provider is out of credit: {message}")
    if status == 408 or status >= 500:
        return TransientProviderError(f"The provider had a temporary problem ({status}): {message}")
    return BadRequest(f"The provider refused the request ({status}): {message}")


def json_body(response: httpx.Response):
    """The response's JSON, or a transient error: a garbled answer is worth retrying."""
    try:
        return response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise TransientProviderError(f"The provider sent a malformed answer (HTTP {response.status_code}).") from None


def transport_error(error: httpx.HTTPError) -> ProviderError:
    if isinstance(error, httpx.TimeoutException):
        return TransientProviderError("The provider did not answer in time.")
    return TransientProviderError(f"Could not reach the provider: {error.__class__.__name__}.")


def download_to(url: str, destination: Path, *, max_bytes: int, headers: dict | None = None,
                client: httpx.Client | None = None) -> Path:
    """Stream a finished video to disk, refusing anything larger than `max_bytes`."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    owned = client is None
    client = client or httpx.Client(timeout=DEFAULT_TIMEOUT, follow_redirects=False)
    try:
        with client.stream("GET", url, headers=headers or {}) as response:
            if response.status_code != 200:
                response.read()
                raise error_for_status(response.status_code, "download failed", response.headers)
            _stream_capped(response, destination, max_bytes)
    except httpx.HTTPError as error:
        raise transport_error(error) from None
    finally:
        if owned:
            client.close()
    return destination


def _stream_capped(response: httpx.Response, destination: Path, max_bytes: int) -> None:
    declared = int(response.headers.get("content-length") or 0)
    if declared > max_bytes:
        raise BadRequest(f"The provider's video is {declared} bytes, over our {max_bytes} byte limit.")
    written = 0
    with destination.open("wb") as sink:
        for chunk in response.iter_bytes():
            written += len(chunk)
            if written > max_bytes:
                sink.close()
                destination.unlink(missing_ok=True)
                raise BadRequest(f"The provider's video is over our {max_bytes} byte limit.")
            sink.write(chunk)
