"""Take events for open pages, sent to the take's Channels group after commit.

Events are small dicts of ids; consumers load and render what they need.
"""

from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction


def _send_take_changed(group: str, take_id: int) -> None:
    async_to_sync(get_channel_layer().group_send)(group, {"type": "take.changed", "take_id": take_id})


def take_changed_publish_on_commit(*, group: str, take_id: int) -> None:
    transaction.on_commit(robust=True, func=partial(_send_take_changed, group, take_id))
