"""One signed POST to an endpoint under the webhook policy, reported as an outcome (never raised)."""

import threading
import time
from dataclasses import dataclass

import httpx

from jobs.outbound.exceptions import WebhookUrlRefused
from jobs.outbound.policy import webhook_policy, webhook_url_check
from providers.adapters.safe_download import DownloadPolicy, checked_client
from providers.base import BadRequest

EXCERPT_CHARS = 1000
USER_AGENT = "Shotcraft-Webhooks/1"


@dataclass(frozen=True)
class SendOutcome:
    status_code: int | None
    error: str = ""
    response_excerpt: str = ""
    retry_after: str | None = None
    duration_ms: int = 0
    refused: bool = False  # our policy refused it: trying again cannot help

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def webhook_post(*, url: str, body: bytes, headers: dict[str, str], policy: DownloadPolicy | None = None) -> SendOutcome:
    policy = policy or webhook_policy()
    started = time.monotonic()
    try:
        webhook_url_check(url, resolve=False)  # the shape; addresses are checked on connect
        outcome = _post(url, body, headers, policy, deadline=started + policy.max_seconds)
    except WebhookUrlRefused as refused:
        outcome = SendOutcome(status_code=None, error=str(refused), refused=True)
    except BadRequest as refused:  # the checked transport refused the address it resolved
        outcome = SendOutcome(status_code=None, error=str(refused).replace("fetch a video from", "send to"), refused=True)
    except httpx.TimeoutException:
        outcome = SendOutcome(status_code=None, error=f"No answer within {policy.max_seconds:g} s (timed out).")
    except httpx.HTTPError as error:
        outcome = SendOutcome(status_code=None, error=f"Could not connect: {type(error).__name__}: {error}"[:500])
    return SendOutcome(**{**outcome.__dict__, "duration_ms": int((time.monotonic() - started) * 1000)})


_clients = threading.local()


def _client(policy: DownloadPolicy) -> httpx.Client:
    """One checked client per worker thread and policy, kept: building one loads the CA bundle
    (tens of ms of CPU), and a kept one reuses its connections to endpoints (checked when opened)."""
    key = (policy.private_hosts, policy.max_bytes, policy.max_seconds, policy.verify is True)
    cached = getattr(_clients, "by_policy", None)
    if cached is None:
        cached = _clients.by_policy = {}
    if key not in cached:
        cached[key] = checked_client(policy)
    return cached[key]


def _post(url: str, body: bytes, headers: dict, policy: DownloadPolicy, *, deadline: float) -> SendOutcome:
    headers = {"content-type": "application/json", "user-agent": USER_AGENT, **headers}
    with _client(policy).stream("POST", url, content=body, headers=headers) as response:
        excerpt, error = _read_capped(response, policy.max_bytes, deadline)
        if response.is_redirect:
            error = (f"The endpoint redirected to {response.headers.get('location', '?')[:200]}; "
                     "webhooks never follow redirects (register the final URL).")
        return SendOutcome(status_code=response.status_code, error=error, response_excerpt=excerpt,
                           retry_after=response.headers.get("retry-after"), refused=response.is_redirect)


def _read_capped(response: httpx.Response, max_bytes: int, deadline: float) -> tuple[str, str]:
    """The start of the answer for the log; reading stops at `max_bytes` or the deadline (the
    connection is then dropped), so a 10 MB body or a trickling host costs us nothing more."""
    received, head = 0, b""
    for chunk in response.iter_raw():
        received += len(chunk)
        if len(head) < EXCERPT_CHARS:
            head += chunk[:EXCERPT_CHARS]
        if received > max_bytes:
            return _text(head), f"Answer cut off after {max_bytes} bytes."
        if time.monotonic() > deadline:
            return _text(head), "Answer cut off: the endpoint was still sending at the time limit."
    return _text(head), ""


def _text(head: bytes) -> str:
    return head[:EXCERPT_CHARS].decode("utf-8", errors="replace")
