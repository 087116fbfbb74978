"""The HTTP edge for vendor callbacks: verify, parse, hand over to the service, answer."""

import json
import logging
from uuid import UUID

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from jobs.pipeline.callbacks import SIGNED_CALLBACK_FAMILIES, callback_apply, callback_apply_by_job, callback_token_check
from providers.base import WebhookRejected
from providers.registry import adapter_for, api_family_configured

logger = logging.getLogger(__name__)

# A replayed event id, or news about an attempt that is already settled or not this take's, is
# refused (4xx) and changes nothing; a vendor that retries it learns nothing new either way.
# An orphan (a second job a resend started) is heard and recorded: 200, so the vendor stops retrying.
OUTCOME_STATUS = {"applied": 200, "orphan": 200, "duplicate": 409, "stale": 409, "unknown job": 404}


def _outcome_response(outcome: str) -> JsonResponse:
    return JsonResponse({"status": outcome}, status=OUTCOME_STATUS[outcome])


@csrf_exempt
@require_POST
def provider_callback(request: HttpRequest, family: str, public_id: UUID, token: str) -> HttpResponse:
    if not api_family_configured(family):
        return JsonResponse({"detail": "unknown provider"}, status=404)
    try:
        attempt_number = callback_token_check(family=family, public_id=public_id, token=token)
    except WebhookRejected:
        logger.warning("refused %s callback for take %s: bad token", family, public_id)
        return JsonResponse({"detail": "bad callback token"}, status=401)
    try:
        headers = {key.lower(): value for key, value in request.headers.items()}
        event = adapter_for(family).parse_webhook(headers=headers, body=request.body)
        if event.reply is not None:
            return JsonResponse(event.reply)
        outcome = callback_apply(family=family, public_id=public_id, event=event, attempt_number=attempt_number)
    except (WebhookRejected, json.JSONDecodeError, UnicodeDecodeError) as rejected:
        logger.warning("refused %s callback for take %s: %s", family, public_id, rejected)
        return JsonResponse({"detail": f"rejected: {rejected}"}, status=400)
    return _outcome_response(outcome)


@csrf_exempt
@require_POST
def provider_family_callback(request: HttpRequest, family: str) -> HttpResponse:
    """One address per vendor, for vendors that sign their callbacks (no per-take token needed)."""
    if family not in SIGNED_CALLBACK_FAMILIES or not api_family_configured(family):
        return JsonResponse({"detail": "unknown provider"}, status=404)
    try:
        headers = {key.lower(): value for key, value in request.headers.items()}
        event = adapter_for(family).parse_webhook(headers=headers, body=request.body)
        outcome = callback_apply_by_job(family=family, event=event)
    except (WebhookRejected, json.JSONDecodeError, UnicodeDecodeError) as rejected:
        logger.warning("refused %s callback: %s", family, rejected)
        return JsonResponse({"detail": f"rejected: {rejected}"}, status=400)
    return _outcome_response(outcome)
