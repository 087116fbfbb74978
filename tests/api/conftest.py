import json

import pytest

from studio.services.tokens import api_token_create
from tests.factories import creator_create, project_for, shot_for


class ApiClient:
    """Django's test client against the real /api/ URLs, with a bearer key and JSON bodies."""

    def __init__(self, client, key: str | None):
        self.client = client
        self.key = key

    def _headers(self, headers: dict | None) -> dict:
        auth = {"Authorization": f"Bearer {self.key}"} if self.key else {}
        return {**auth, **(headers or {})}

    def get(self, path: str, *, headers: dict | None = None, **query):
        return self.client.get(f"/api{path}", query, headers=self._headers(headers))

    def post(self, path: str, data: dict | None = None, *, headers: dict | None = None):
        return self.client.post(f"/api{path}", json.dumps(data or {}), content_type="application/json",
                                headers=self._headers(headers))

    def patch(self, path: str, data: dict, *, headers: dict | None = None):
        return self.client.patch(f"/api{path}", json.dumps(data), content_type="application/json",
                                 headers=self._headers(headers))


@pytest.fixture
def api_key(creator) -> str:
    _, key = api_token_create(user=creator, name="tests")
    return key


@pytest.fixture
def api(client, api_key) -> ApiClient:
    return ApiClient(client, api_key)


@pytest.fixture
def anonymous(client) -> ApiClient:
    return ApiClient(client, None)


@pytest.fixture
def other_shot(db):
    """A shot that belongs to someone else."""
    return shot_for(project_for(creator_create(username="grace")), title="Not yours")
