"""Tell a creator's open pages that their credits changed (sent after commit).

A live update is a courtesy: when it cannot be sent (Redis away), it is logged and dropped, and
never raised into the transaction's other after-commit work; pages reload the balance themselves.
"""

import logging
from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils.module_loading import import_string

logger = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    return f"user-{user_id}"


def _send_credits_changed(user_id: int) -> None:
    try:
        async_to_sync(get_channel_layer().group_send)(user_group(user_id), {"type": "credits.changed", "user_id": user_id})
    except Exception as error:
        logger.warning("live credits update for user %s not sent: %s", user_id, error)


def credits_changed_publish_on_commit(*, user_id: int) -> None:
    transaction.on_commit(partial(_send_credits_changed, user_id))


def outbound_event_record(*, user_id: int, kind: str, data: dict) -> None:
    """Tell the creator's webhook endpoints, inside the caller's transaction (the outbox).

    billing imports no sibling app: settings.BILLING_EVENT_RECORDER names the function that records
    it (jobs/outbound); unset, billing runs on its own and nothing is recorded.
    """
    recorder = getattr(settings, "BILLING_EVENT_RECORDER", "")
    if recorder:
        import_string(recorder)(user_id=user_id, kind=kind, data=data)
