"""Live updates for one project's pages: take cards and the credit balance, as htmx swaps.

Who may listen is decided once, at connect: the project's owner joins its group. Take cards
arrive already rendered (studio.live renders each change once for all its pages) and are only
forwarded here; the credit balance is the viewer's own, so it is rendered per socket.
"""

import logging

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.template.loader import render_to_string

from billing.events import user_group
from billing.selectors import credit_account_for_user, spend_budget_usage
from studio.models import project_budget_key
from studio.selectors import user_may_see_project

logger = logging.getLogger(__name__)


class ProjectConsumer(AsyncWebsocketConsumer):
    async def connect(self):
        user = self.scope.get("user")
        self.project_id = self.scope["url_route"]["kwargs"]["project_id"]
        if user is None or not user.is_authenticated:
            logger.info("websocket refused: anonymous user for project %s", self.project_id)
            await self.close(code=4401)
            return
        if not await database_sync_to_async(user_may_see_project)(user_id=user.pk, project_id=self.project_id):
            logger.info("websocket refused: user %s may not see project %s", user.pk, self.project_id)
            await self.close(code=4403)
            return
        self.user_id = user.pk
        self.groups_joined = [f"project-{self.project_id}", user_group(user.pk)]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        await self.accept()

    async def disconnect(self, code):
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive(self, text_data=None, bytes_data=None):
        """The page says nothing we act on; updates only flow server → browser."""

    async def live_html(self, event):
        await self.send(text_data=event["html"])

    async def credits_changed(self, event):
        html = await database_sync_to_async(self._render_credits)()
        await self.send(text_data=html)

    def _render_credits(self) -> str:
        account = credit_account_for_user(user_id=self.user_id)
        budget = spend_budget_usage(user_id=self.user_id, key=project_budget_key(self.project_id))
        return render_to_string("studio/live/credits_changed.html", {"credit_account": account, "budget": budget})
