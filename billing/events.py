"""Tell a creator's open pages that their credits changed (sent after commit)."""

from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def user_group(user_id: int) -> str:
    return f"user-{user_id}"


def _send_credits_changed(user_id: int) -> None:
    async_to_sync(get_channel_layer().group_send)(user_group(user_id), {"type": "credits.changed", "user_id": user_id})


def credits_changed_publish_on_commit(*, user_id: int) -> None:
    transaction.on_commit(robust=True, func=partial(_send_credits_changed, user_id))
