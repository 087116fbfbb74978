"""Tell a creator's open pages that their credits changed (sent after commit).

A live update is a courtesy: when it cannot be sent (Redis away), it is logged and dropped, and
never raised into the transaction's other after-commit work; pages reload the balance themselves.
"""

import logging
from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

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
