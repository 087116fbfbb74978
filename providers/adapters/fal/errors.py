"""fal's errors in our terms (shared/provider_contracts.md §2 "Errors / limits / pricing").

Error bodies are `{"detail": [{"loc", "msg", "type", "url", "ctx"}]}` (validation, content
checks) or `{"detail": "<text>"}` (gateway: auth, locked accounts); `X-Fal-Retryable` says
whether trying again can help.
"""

import re

import httpx

from providers.adapters.http import error_for_status, retry_after_seconds
from providers.base import (
    AuthenticationFailed,
    ContentPolicyRejected,
    InsufficientVendorCredit,
    ProviderError,
    RateLimited,
    TransientProviderError,
)

# 403 "User is locked. Reason: Exhausted balance. Top up …" or "User is locked. Reason: TOP_UP."
# (3P: fal-ai/fal issues). An "Admin lock" is not a balance problem: it stays an auth failure.
BALANCE_LOCK = re.compile(r"exhausted balance|reason:\s*top_up", re.IGNORECASE)
# The exact type string of content-checker rejections is UNCONFIRMED; "content_policy_violation"
# is the documented-most-likely one, and any type naming a content policy counts.
CONTENT_POLICY_MARKER = "content_policy"
STATUS_CODE_IN_TEXT = re.compile(r"status code:?\s*(\d{3})", re.IGNORECASE)


def is_content_policy(error_type: str | None) -> bool:
    return bool(error_type) and CONTENT_POLICY_MARKER in error_type.lower()


def detail_of(body) -> tuple[str, str | None]:
    """(message, machine type) from a fal error body, whichever shape it has."""
    if not isinstance(body, dict):
        return "", None
    detail = body.get("detail")
    if isinstance(detail, list) and detail and isinstance(detail[0], dict):
        messages = "; ".join(_item_message(item) for item in detail if isinstance(item, dict))
        return messages, detail[0].get("type") or body.get("error_type")
    return str(detail or body.get("error") or ""), body.get("error_type")


def _item_message(item: dict) -> str:
    """The field (last `loc` part) and pydantic's words, e.g. "duration: Input should be '5' or '10'"."""
    loc = [str(part) for part in item.get("loc") or [] if part != "body"]
    return f"{loc[-1]}: {item.get('msg', '')}" if loc else str(item.get("msg", ""))


def classify(status: int, message: str, error_type: str | None, headers=None) -> ProviderError:
    """One fal answer as a ProviderError: balance locks, content checks, then X-Fal-Retryable."""
    headers = headers or {}
    if status == 429:
        return RateLimited(f"fal is rate limiting us: {message}", retry_after_seconds=retry_after_seconds(headers))
    if status in (401, 403):
        if BALANCE_LOCK.search(message):
            return InsufficientVendorCredit(f"Our fal balance is exhausted: {message}")
        return AuthenticationFailed(f"fal refused our key: {message}")
    if is_content_policy(error_type):
        return ContentPolicyRejected(f"fal's content checker refused this prompt: {message}")
    retryable = (headers.get("x-fal-retryable") or headers.get("x-fal-needs-retry") or "").lower()
    if retryable == "true":
        return TransientProviderError(f"fal had a temporary problem ({status}): {message}")
    if retryable == "false" and status >= 500:
        return ProviderError(f"fal could not generate the video ({status}): {message}")
    return error_for_status(status, message, headers)


def error_from_response(response: httpx.Response) -> ProviderError:
    try:
        body = response.json()
    except ValueError:
        body = None
    message, error_type = detail_of(body)
    error_type = error_type or response.headers.get("x-fal-error-type")
    return classify(response.status_code, message or response.text[:200], error_type, response.headers)


def job_failure(error: str | None, error_type: str | None) -> ProviderError:
    """A request that COMPLETED with `error`/`error_type`, or a webhook with status ERROR."""
    message = error or error_type or "unknown error"
    if is_content_policy(error_type):
        return ContentPolicyRejected(f"fal's content checker refused this prompt: {message}")
    code = STATUS_CODE_IN_TEXT.search(message)
    if code and int(code.group(1)) < 500:  # webhook errors read "Invalid status code: 422"
        return classify(int(code.group(1)), message, error_type)
    # A runner's 5xx reaches us only after fal re-queued it (up to 10 times): not worth a retry here.
    return ProviderError(f"fal could not generate the video: {message}")
