"""A live update that cannot be sent (Redis away for a moment) never stops a take or the work
that follows it: the page catches up by itself, the take's stages must not wait for it."""

import pytest
import redis
from channels_redis.core import RedisChannelLayer

from billing.selectors import credit_accounts_out_of_balance
from studio.config.celery import app
from studio.services.takes import shot_take_request
from tests.factories import creator_create, project_for, shot_for
from tests.pipeline import take_drive


@pytest.fixture
def channel_layer_down(monkeypatch):
    async def group_send(self, group, message):
        raise redis.exceptions.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(RedisChannelLayer, "group_send", group_send)


def queued_messages(queue: str) -> int:
    with app.connection_for_read() as connection:
        return connection.default_channel.client.llen(queue)


@pytest.mark.django_db
def test_a_failed_live_update_does_not_stop_the_task_sent_after_it(
    catalog, creator, shot, channel_layer_down, settings, django_capture_on_commit_callbacks,
):
    waiting = queued_messages(settings.CELERY_TASK_DEFAULT_QUEUE)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        take = shot_take_request(user=creator, shot=shot)
    names = [callback.func.__name__ for callback in callbacks]
    assert names.index("take_changed_publish") < names.index("take_stage_send")  # the failing publish runs first…
    assert queued_messages(settings.CELERY_TASK_DEFAULT_QUEUE) == waiting + 1  # …and the take's submit is sent anyway
    assert take.state == "queued"


@pytest.mark.django_db(transaction=True)
def test_a_take_is_rendered_evaluated_and_charged_while_no_live_update_gets_through(catalog, channel_layer_down):
    creator = creator_create()
    take = take_drive(shot_take_request(user=creator, shot=shot_for(project_for(creator))).pk)
    assert take.state == "ready", take.failure_reason
    assert take.reservation.state == "captured"
    assert credit_accounts_out_of_balance() == []
