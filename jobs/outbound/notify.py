"""Telling a creator their endpoint was disabled: an email (the page shows the reason too)."""

import logging

from django.conf import settings
from django.core.mail import send_mail

from jobs.outbound.models import WebhookEndpoint

logger = logging.getLogger(__name__)


def endpoint_disabled_notify(*, endpoint_id: int) -> None:
    endpoint = WebhookEndpoint.objects.select_related("owner").get(pk=endpoint_id)
    if not endpoint.owner.email:
        return
    try:
        send_mail(
            subject="Shotcraft: a webhook endpoint was disabled",
            message=(f"Deliveries to {endpoint.url} kept failing, so we stopped sending to it.\n\n"
                     f"{endpoint.disabled_reason}\n\nFix the endpoint, then enable it again on your account's "
                     f"webhooks page: {settings.PUBLIC_BASE_URL}/account/webhooks/ (failed deliveries can be resent there)."),
            from_email=None, recipient_list=[endpoint.owner.email],
        )
    except Exception as error:  # mail away: the page shows the reason anyway
        logger.warning("could not email the owner of webhook endpoint %s: %s", endpoint_id, error)
