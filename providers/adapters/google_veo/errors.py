"""google.rpc.Status errors, in HTTP error bodies and in finished operations, as ProviderErrors."""

from providers.adapters.http import error_for_status, retry_after_seconds
from providers.base import (
    AuthenticationFailed,
    BadRequest,
    ContentPolicyRejected,
    InsufficientVendorCredit,
    ProviderError,
    RateLimited,
    TransientProviderError,
)

GRPC_STATUS_NAMES = {
    1: "CANCELLED", 2: "UNKNOWN", 3: "INVALID_ARGUMENT", 4: "DEADLINE_EXCEEDED", 5: "NOT_FOUND",
    6: "ALREADY_EXISTS", 7: "PERMISSION_DENIED", 8: "RESOURCE_EXHAUSTED", 9: "FAILED_PRECONDITION",
    10: "ABORTED", 11: "OUT_OF_RANGE", 12: "UNIMPLEMENTED", 13: "INTERNAL", 14: "UNAVAILABLE",
    15: "DATA_LOSS", 16: "UNAUTHENTICATED",
}
TRANSIENT = {"UNAVAILABLE", "INTERNAL", "DEADLINE_EXCEEDED", "UNKNOWN", "ABORTED", "DATA_LOSS"}
REFUSED = {"INVALID_ARGUMENT", "FAILED_PRECONDITION", "NOT_FOUND", "OUT_OF_RANGE", "ALREADY_EXISTS", "UNIMPLEMENTED"}
# UNCONFIRMED wording of a synchronous prompt refusal (Google's "Responsible AI practices" 400s).
POLICY_WORDING = ("responsible ai", "usage guidelines")


def http_error(status: int, body, headers=None) -> ProviderError:
    """An HTTP error answer: `{"error": {"code", "message", "status", "details"}}`."""
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return error_for_status(status, "no error body", headers)
    return rpc_error(error, http_status=status, headers=headers)


def rpc_error(error: dict, *, http_status: int | None = None, headers=None) -> ProviderError:
    """Classify by the status name (an operation's `error` may carry only the gRPC code)."""
    name = error.get("status") or GRPC_STATUS_NAMES.get(error.get("code"), "")
    message = f"{name or 'error'}: {error.get('message') or 'no message'}"
    reasons = _details(error, "ErrorInfo", "reason")
    if "BILLING_DISABLED" in reasons:  # UNCONFIRMED for the Gemini API: the Google Cloud convention
        return InsufficientVendorCredit(f"Billing is not active on our Google project: {message}")
    if "API_KEY_INVALID" in reasons or name in ("UNAUTHENTICATED", "PERMISSION_DENIED"):
        return AuthenticationFailed(f"Google refused our API key: {message}")
    if name == "RESOURCE_EXHAUSTED":
        wait = retry_after_seconds(headers) if headers else None
        return RateLimited(f"Veo quota exhausted: {message}", retry_after_seconds=wait or _retry_delay(error))
    if name in TRANSIENT:
        return TransientProviderError(f"Veo had a temporary problem: {message}")
    if name == "INVALID_ARGUMENT" and any(words in message.lower() for words in POLICY_WORDING):
        return ContentPolicyRejected(f"Google's safety rules refused this prompt: {message}")
    if name in REFUSED:
        return BadRequest(f"Veo refused the request: {message}")
    if http_status:
        return error_for_status(http_status, message, headers)
    return ProviderError(f"Veo could not make this take: {message}")


def _details(error: dict, type_name: str, field: str) -> list:
    details = error.get("details") if isinstance(error.get("details"), list) else []
    return [detail.get(field) for detail in details
            if isinstance(detail, dict) and str(detail.get("@type", "")).endswith(f".{type_name}")]


def _retry_delay(error: dict) -> float | None:
    """google.rpc.RetryInfo's `retryDelay` (a JSON Duration such as "27s")."""
    for delay in _details(error, "RetryInfo", "retryDelay"):
        try:
            return max(0.0, float(str(delay).removesuffix("s")))
        except ValueError:
            continue
    return None

