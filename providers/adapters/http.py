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
                client: httpx.Client | None = None, allowed_hosts: tuple[str, ...] | None = None) -> Path:
    """Stream a finished video to disk, SSRF-checked, refusing anything over `max_bytes` or not a video.

    `client` lends its headers, auth and hooks (never its transport); `allowed_hosts` limits
    every hop to the provider's own hosts. See providers.adapters.safe_download.
    """
    from providers.adapters.safe_download import download_policy, download_video  # it builds on this module

    policy = download_policy(max_bytes=max_bytes, allowed_hosts=allowed_hosts)
    return download_video(url, destination, policy=policy, headers=headers, client=client)
