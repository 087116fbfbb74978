"""SSRF-safe downloads of finished videos from a provider's URL.

The URL comes from a vendor's answer (or a callback), so it is treated as hostile:

* https only; plain http only for hosts on the private allow-list (local emulators);
* when the adapter names its hosts, every hop must be one of them;
* every connection resolves the name itself, refuses any address that is not globally routable
  (loopback, RFC 1918, link-local 169.254/16, CGNAT 100.64/10, ULA, IPv4 embedded in IPv6, …)
  and connects to the very address it checked, so a second DNS answer cannot rebind it;
* redirects are followed by hand, a few hops at most, each one checked like the first, and the
  caller's headers, auth and client hooks (credentials) never cross to another origin;
* the body is capped in bytes and in time, and must start like a real video (ISO BMFF `ftyp`
  or WebM/Matroska EBML), whatever its Content-Type claims.
"""

import ipaddress
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import httpcore
import httpx
from django.conf import settings

from providers.adapters.http import DEFAULT_TIMEOUT, error_for_status, transport_error
from providers.base import BadRequest

Resolver = Callable[[str, int], list[str]]
Dialer = Callable[[str, int], tuple[str, int]]

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
TEXTUAL_CONTENT_TYPES = ("text/", "application/json", "application/xml", "application/problem+json", "application/xhtml")
EBML_MAGIC = b"\x1a\x45\xdf\xa3"


class UnsafeDownload(BadRequest):
    """The URL (or a hop of it) points somewhere we do not fetch from."""


class NotAVideo(BadRequest):
    """The provider's file is not a video we can store."""


def system_resolver(host: str, port: int) -> list[str]:
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise UnsafeDownload(f"The video host {host} could not be resolved.") from None
    return list(dict.fromkeys(answer[4][0] for answer in answers))


@dataclass(frozen=True)
class DownloadPolicy:
    """Where a download may go and how much it may bring back.

    `private_hosts`: host names (or IP literals) that may be plain http and resolve to private
    addresses — local emulators only. `allowed_hosts`: when not empty, the only hosts any hop may
    reach (`*.example.com` matches sub-domains). `resolver` and `dial` are seams for tests and for
    an egress proxy: `dial` maps a checked (ip, port) to the socket address actually opened.
    """

    max_bytes: int
    max_seconds: float = 300.0
    max_redirects: int = 3
    allowed_hosts: tuple[str, ...] = ()
    private_hosts: frozenset[str] = frozenset()
    resolver: Resolver = system_resolver
    dial: Dialer | None = None
    verify: ssl.SSLContext | bool = True
    timeout: httpx.Timeout = field(default_factory=lambda: DEFAULT_TIMEOUT)


LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


def download_policy(*, max_bytes: int, allowed_hosts: Iterable[str] | None = None) -> DownloadPolicy:
    """The policy from settings.

    PROVIDER_DOWNLOAD_ALLOW_PRIVATE_HOSTS lists the emulator hosts that may be http and private.
    Unset, it is the hosts of PROVIDER_SANDBOX_URLS, plus loopback outside production (where the
    contract tests' emulators live); production with the setting unset allows none.
    """
    return DownloadPolicy(
        max_bytes=max_bytes, allowed_hosts=tuple(allowed_hosts or ()), private_hosts=private_hosts_allowed(),
        max_seconds=float(getattr(settings, "PROVIDER_DOWNLOAD_MAX_SECONDS", 300)),
        max_redirects=int(getattr(settings, "PROVIDER_DOWNLOAD_MAX_REDIRECTS", 3)),
    )


def private_hosts_allowed() -> frozenset[str]:
    configured = getattr(settings, "PROVIDER_DOWNLOAD_ALLOW_PRIVATE_HOSTS", None)
    if configured is not None:
        return frozenset(host.lower() for host in configured)
    sandbox_hosts = {httpx.URL(url).host for url in getattr(settings, "PROVIDER_SANDBOX_URLS", {}).values()}
    if not getattr(settings, "PRODUCTION", False):
        sandbox_hosts |= LOOPBACK_NAMES
    return frozenset(host.lower() for host in sandbox_hosts if host)


# -- addresses ------------------------------------------------------------------------------


def address_is_public(address: str) -> bool:
    """Globally routable unicast only; IPv4 hidden inside IPv6 is judged as the IPv4 it is."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = ip.ipv4_mapped or (ip.sixtofour) or (ip.teredo[1] if ip.teredo else None) or _nat64(ip)
        if embedded is not None and not address_is_public(str(embedded)):
            return False
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_unspecified or ip.is_loopback)


def _nat64(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip in ipaddress.ip_network("64:ff9b::/96"):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def host_matches(host: str, patterns: Iterable[str]) -> bool:
    host = host.lower().rstrip(".")
    for pattern in patterns:
        pattern = pattern.lower().rstrip(".")
        if host == pattern or (pattern.startswith("*.") and host.endswith(pattern[1:])):
            return True
    return False


def url_check(url: httpx.URL, policy: DownloadPolicy) -> None:
    """Refuse a URL by its shape, before any connection (addresses are checked on connect)."""
    host = url.host
    if url.scheme not in ("http", "https") or not host:
        raise UnsafeDownload(f"Refused to fetch a video from a {url.scheme or 'relative'} URL.")
    if url.userinfo:
        raise UnsafeDownload("Refused to fetch a video from a URL carrying credentials.")
    private_ok = host_matches(host, policy.private_hosts)
    if url.scheme != "https" and not private_ok:
        raise UnsafeDownload(f"Refused to fetch a video over plain http from {host}.")
    if policy.allowed_hosts and not private_ok and not host_matches(host, policy.allowed_hosts):
        raise UnsafeDownload(f"Refused to fetch a video from {host}: not one of the provider's hosts.")


class _CheckedBackend(httpcore.SyncBackend):
    """Resolves once, checks every answer, then dials the address it checked."""

    def __init__(self, policy: DownloadPolicy):
        self._policy = policy

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        addresses = self._policy.resolver(host, port)
        if not addresses:
            raise UnsafeDownload(f"The video host {host} has no address.")
        if not host_matches(host, self._policy.private_hosts):
            refused = [address for address in addresses if not address_is_public(address)]
            if refused:
                raise UnsafeDownload(f"Refused to fetch a video from {host}: it resolves to a private address ({refused[0]}).")
        ip, dial_port = self._policy.dial(addresses[0], port) if self._policy.dial else (addresses[0], port)
        return super().connect_tcp(ip, dial_port, timeout=timeout, local_address=local_address,
                                   socket_options=socket_options)


class _CheckedTransport(httpx.HTTPTransport):
    def __init__(self, policy: DownloadPolicy):
        super().__init__(verify=policy.verify, trust_env=False)
        self._pool = httpcore.ConnectionPool(ssl_context=self._pool._ssl_context, max_connections=4,
                                             network_backend=_CheckedBackend(policy))


def checked_client(policy: DownloadPolicy, like: httpx.Client | None = None) -> httpx.Client:
    """A client on the checked transport; `like` lends its headers, auth, hooks and timeout."""
    options = {"timeout": policy.timeout}
    if like is not None:
        options = {"timeout": like.timeout, "headers": like.headers, "auth": like.auth, "event_hooks": like.event_hooks}
    return httpx.Client(transport=_CheckedTransport(policy), follow_redirects=False, trust_env=False, **options)


# -- the download ---------------------------------------------------------------------------


def download_video(url: str, destination: Path, *, policy: DownloadPolicy, headers: dict | None = None,
                   client: httpx.Client | None = None) -> Path:
    """Fetch a video to `destination` under `policy`; raise a ProviderError subclass when refused.

    The caller's `headers` and `client` (its headers, auth and hooks) apply to the URL's own
    origin only; a redirect elsewhere is fetched with neither.
    """
    destination.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + policy.max_seconds
    with checked_client(policy, like=client) as keyed, checked_client(policy) as bare:
        try:
            response = _follow(keyed, bare, httpx.URL(url), headers or {}, policy)
            try:
                _stream_checked(response, destination, policy.max_bytes, deadline)
            finally:
                response.close()
        except httpx.HTTPError as error:
            destination.unlink(missing_ok=True)
            raise transport_error(error) from None
        except BadRequest:
            destination.unlink(missing_ok=True)
            raise
    return destination


def _follow(keyed: httpx.Client, bare: httpx.Client, url: httpx.URL, headers: dict,
            policy: DownloadPolicy) -> httpx.Response:
    origin = (url.scheme, url.host, url.port)
    for _hop in range(policy.max_redirects + 1):
        url_check(url, policy)
        if (url.scheme, url.host, url.port) == origin:
            response = keyed.send(keyed.build_request("GET", url, headers=headers), stream=True)
        else:
            response = bare.send(bare.build_request("GET", url), stream=True)
        if response.status_code not in REDIRECT_STATUSES:
            if response.status_code != 200:
                response.read()
                response.close()
                raise error_for_status(response.status_code, "download failed", response.headers)
            return response
        location = response.headers.get("location")
        response.close()
        if not location:
            raise UnsafeDownload("The provider redirected the download without saying where.")
        url = url.join(location)
    raise UnsafeDownload(f"The provider's download redirected more than {policy.max_redirects} times.")


def _stream_checked(response: httpx.Response, destination: Path, max_bytes: int, deadline: float) -> None:
    content_type = response.headers.get("content-type", "").lower()
    if content_type.startswith(TEXTUAL_CONTENT_TYPES):
        raise NotAVideo(f"The provider sent {content_type.split(';')[0]} instead of a video.")
    declared = int(response.headers.get("content-length") or 0)
    if declared > max_bytes:
        raise BadRequest(f"The provider's video is {declared} bytes, over our {max_bytes} byte limit.")
    written, head = 0, b""
    with destination.open("wb") as sink:
        for chunk in response.iter_bytes():
            written += len(chunk)
            if written > max_bytes:
                raise BadRequest(f"The provider's video is over our {max_bytes} byte limit.")
            if time.monotonic() > deadline:
                raise BadRequest("The provider's video took too long to download.")
            if len(head) < 16:
                head += chunk[:16]
            sink.write(chunk)
    if not looks_like_video(head):
        raise NotAVideo("The provider's file is not a video (no MP4 or WebM header).")


def looks_like_video(head: bytes) -> bool:
    """ISO BMFF (MP4, MOV: a box whose type is `ftyp`) or WebM/Matroska (EBML magic)."""
    return head[4:8] == b"ftyp" or head[:4] == EBML_MAGIC
