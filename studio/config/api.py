"""The JSON API: one NinjaAPI, routers from the apps, domain errors turned into HTTP here.

Also here: the parser that refuses text the database cannot store, the answers for a dependency
that is down (503) or a body too large (413), and a middleware that gives Django's own answers
under /api/ (unknown path, wrong method, unreadable request) the same body.

Every error answers with one body: {"detail": "<safe to show>", "code": "<stable name>"},
plus fields particular to the error (validation "errors" by field, "needed"/"available" credits,
the providers "excluded" and why).
"""

from django.core.exceptions import NON_FIELD_ERRORS, RequestDataTooBig
from django.core.exceptions import ValidationError as ModelValidationError
from django.http import Http404
from django.urls import reverse
from django.utils.deprecation import MiddlewareMixin
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as RequestValidationError
from ninja.parser import Parser

from billing.exceptions import BillingError, InsufficientCredits
from jobs.exceptions import (
    IdempotencyKeyInProgress,
    IdempotencyKeyReused,
    NoProviderAvailable,
    TakeError,
)
from jobs.outbound.exceptions import OutboundError, WebhookUrlRefused
from studio.api import routers
from studio.config.error_pages import upload_limit
from studio.config.outages import (
    DEPENDENCY_DOWN_ERRORS,
    RETRY_AFTER_SECONDS,
    dependency_down_log,
)
from studio.cuts.api import cuts_router
from studio.cuts.exceptions import CutError
from studio.exceptions import StudioError
from studio.schemas import text_unstorable_reason


class StorableTextParser(Parser):
    """Query and form values the database could not store are refused as invalid fields.

    JSON bodies are checked field by field by their schemas (`studio.schemas._In`).
    """

    def parse_querydict(self, data, list_fields, request):
        unstorable = _unstorable_values(data)
        if unstorable:
            source = "query" if data is request.GET else "form"
            raise RequestValidationError([{"loc": (source, name), "msg": reason} for name, reason in unstorable.items()])
        return super().parse_querydict(data, list_fields, request)


def _unstorable_values(data) -> dict[str, str]:
    """Name → why one of its text values could not be stored; uploaded files are not text."""
    reasons = {}
    for name, values in data.lists():
        for value in values:
            reason = isinstance(value, str) and text_unstorable_reason(value)
            if reason:
                reasons[name] = reason
    return reasons


api = NinjaAPI(
    title="Shotcraft API", version="1", docs_url="/docs", urls_namespace="api", parser=StorableTextParser(),
    description="Projects, shots and takes of the Shotcraft studio. Authenticate with `Authorization: Bearer <key>`; "
                "create a key with `manage.py api_token_create <username> --name NAME`.",
)
for router in (*routers, cuts_router):
    api.add_router("/", router)


def _error(request, status: int, code: str, detail: str, **extra):
    return api.create_response(request, {"detail": detail, "code": code, **extra}, status=status)


def _invalid(request, errors: dict[str, list[str]]):
    return _error(request, 422, "invalid", "Some fields are not valid.", errors=errors)


HTTP_ERROR_CODES = {400: "bad_request", 401: "not_authenticated", 403: "forbidden", 404: "not_found",
                    405: "method_not_allowed", 413: "too_large", 429: "throttled", 503: "unavailable"}


class DjangoAnswersAsApiErrors(MiddlewareMixin):
    """Under /api/, what Django answers before any operation runs (no such path, a method the path
    does not take, a request it cannot read) comes in the API's error body, not as an HTML page."""

    def process_response(self, request, response):
        if response.status_code in DJANGO_ANSWERS and _under_api(request) and not _is_json(response):
            return _django_answer_as_api_error(request, response)
        return response


DJANGO_ANSWERS = {400: "The request could not be read.", 404: "There is no API endpoint at this address.",
                  405: "This endpoint does not take {method}; it takes {allow}."}


def _under_api(request) -> bool:
    return request.path_info.startswith(reverse("api:api-root"))


def _is_json(response) -> bool:
    return response.get("Content-Type", "").startswith("application/json")


def _django_answer_as_api_error(request, response):
    status = response.status_code
    detail = DJANGO_ANSWERS[status].format(method=request.method, allow=response.get("Allow", ""))
    answer = _error(request, status, HTTP_ERROR_CODES[status], detail)
    if "Allow" in response:
        answer["Allow"] = response["Allow"]
    return answer


@api.exception_handler(AuthenticationError)
def _not_authenticated(request, exc):
    response = _error(request, 401, "not_authenticated",
                      "Send a valid API key as `Authorization: Bearer <key>`; this one is missing, unknown or revoked.")
    response["WWW-Authenticate"] = 'Bearer realm="api"'
    return response


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    code = getattr(exc, "code", None) or HTTP_ERROR_CODES.get(exc.status_code, "error")
    return _error(request, exc.status_code, code, str(exc))


def _dependency_down(request, exc):
    dependency_down_log(request, exc)
    response = _error(request, 503, "unavailable", "A service Shotcraft depends on is not answering right now. "
                      f"Try again in {RETRY_AFTER_SECONDS} seconds; a take request may repeat its Idempotency-Key.")
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


for dependency_error in DEPENDENCY_DOWN_ERRORS:
    api.add_exception_handler(dependency_error, _dependency_down)


@api.exception_handler(RequestDataTooBig)
def _too_large(request, exc):
    return _error(request, 413, "too_large", f"The request body is over the {upload_limit()} the API accepts.")


@api.exception_handler(Http404)
def _not_found(request, exc):
    return _error(request, 404, "not_found", str(exc) or "Not found.")


@api.exception_handler(RequestValidationError)
def _request_invalid(request, exc: RequestValidationError):
    errors: dict[str, list[str]] = {}
    for error in exc.errors:
        errors.setdefault(_request_error_field(error.get("loc", ())), []).append(error.get("msg", "Invalid value."))
    return _invalid(request, errors)


def _request_error_field(loc) -> str:
    """("body", "payload", "title") → "title"; ("query", "limit") → "limit"; ("body", "payload") → "__all__"."""
    parts = [str(part) for part in loc]
    field = parts[2:] if parts[:1] == ["body"] else parts[1:]
    return ".".join(field) or NON_FIELD_ERRORS


@api.exception_handler(ModelValidationError)
def _model_invalid(request, exc: ModelValidationError):
    errors = exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.messages}
    return _invalid(request, errors)


@api.exception_handler(InsufficientCredits)
def _insufficient_credits(request, exc: InsufficientCredits):
    return _error(request, 402, "insufficient_credits", str(exc), needed=exc.needed, available=exc.available)


@api.exception_handler(BillingError)
def _billing_error(request, exc: BillingError):
    return _error(request, 409, "billing_error", str(exc))


@api.exception_handler(NoProviderAvailable)
def _no_provider(request, exc: NoProviderAvailable):
    excluded = [{"provider": slug, "reason": reason} for slug, reason in exc.exclusions]
    return _error(request, 422, "no_provider_available", str(exc), excluded=excluded)


@api.exception_handler(IdempotencyKeyReused)
def _idempotency_key_reused(request, exc: IdempotencyKeyReused):
    return _error(request, 422, "idempotency_key_reused", str(exc))


@api.exception_handler(IdempotencyKeyInProgress)
def _idempotency_key_in_progress(request, exc: IdempotencyKeyInProgress):
    response = _error(request, 409, "idempotency_key_in_progress", str(exc))
    response["Retry-After"] = "1"
    return response


@api.exception_handler(TakeError)
def _take_error(request, exc: TakeError):
    return _error(request, 409, "take_error", str(exc))


@api.exception_handler(CutError)
def _cut_error(request, exc: CutError):
    return _error(request, 409, "cut_error", str(exc))


@api.exception_handler(StudioError)
def _studio_error(request, exc: StudioError):
    return _error(request, 409, "not_allowed_now", str(exc))



@api.exception_handler(WebhookUrlRefused)
def _webhook_url_refused(request, exc: WebhookUrlRefused):
    return _invalid(request, {"url": [str(exc)]})


@api.exception_handler(OutboundError)
def _outbound_error(request, exc: OutboundError):
    return _error(request, 422, "webhook_error", str(exc))
