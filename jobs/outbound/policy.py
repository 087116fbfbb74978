"""Where webhooks may be sent: the SSRF policy of provider downloads (providers/adapters/safe_download.py),
with webhook wording and webhook limits.

https only in production; no address that is not globally routable (loopback, RFC 1918,
link-local, CGNAT, ULA, IPv4 inside IPv6), checked at registration and again on every connection
(the checked transport dials the address it checked, so DNS cannot rebind it); redirects are never
followed; a response is read up to WEBHOOK_RESPONSE_MAX_BYTES and for WEBHOOK_TIMEOUT_SECONDS at most.
"""

import httpx
from django.conf import settings

from jobs.outbound.exceptions import WebhookUrlRefused
from providers.adapters.safe_download import (
    LOOPBACK_NAMES,
    DownloadPolicy,
    address_is_public,
    host_matches,
    system_resolver,
)
from providers.base import BadRequest


def private_hosts_allowed() -> frozenset[str]:
    """WEBHOOK_ALLOW_PRIVATE_HOSTS when set; else loopback outside production and nothing in it."""
    configured = getattr(settings, "WEBHOOK_ALLOW_PRIVATE_HOSTS", None)
    if configured is not None:
        return frozenset(host.lower() for host in configured)
    return frozenset() if settings.PRODUCTION else LOOPBACK_NAMES


def webhook_policy() -> DownloadPolicy:
    timeout = float(settings.WEBHOOK_TIMEOUT_SECONDS)
    return DownloadPolicy(
        max_bytes=settings.WEBHOOK_RESPONSE_MAX_BYTES, max_seconds=timeout, max_redirects=0,
        private_hosts=private_hosts_allowed(), timeout=httpx.Timeout(timeout, connect=min(5.0, timeout)),
    )


def webhook_url_check(url: str, *, resolve: bool = True) -> None:
    """Refuse a URL we would not send to, saying why. `resolve` also checks where its name points now."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise WebhookUrlRefused("That is not a valid URL.") from None
    host = parsed.host
    if parsed.scheme not in ("http", "https") or not host:
        raise WebhookUrlRefused("The URL must start with https://.")
    if parsed.userinfo:
        raise WebhookUrlRefused("The URL must not carry a user name or password; authenticate with the signature.")
    private_ok = host_matches(host, private_hosts_allowed())
    if parsed.scheme != "https" and not private_ok:
        raise WebhookUrlRefused(f"Webhooks are sent over https only ({host} was given with plain http).")
    if not resolve or private_ok:
        return
    try:
        addresses = system_resolver(host, parsed.port or 443)
    except BadRequest:
        raise WebhookUrlRefused(f"The host {host} could not be resolved.") from None
    private = [address for address in addresses if not address_is_public(address)]
    if private:
        raise WebhookUrlRefused(f"The host {host} resolves to a private address ({private[0]}); "
                                "webhooks go to public addresses only.")
