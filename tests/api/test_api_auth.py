"""Bearer-token authentication, the token services, the management command and the admin."""

import hashlib
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from studio.models import ApiToken
from studio.services.tokens import api_token_create, api_token_revoke
from tests.api.conftest import ApiClient

pytestmark = pytest.mark.django_db

PROTECTED = [
    ("get", "/projects"), ("post", "/projects"), ("get", "/projects/1"),
    ("get", "/projects/1/shots"), ("post", "/projects/1/shots"),
    ("get", "/shots/1"), ("patch", "/shots/1"), ("get", "/shots/1/quote"),
    ("get", "/shots/1/takes"), ("post", "/shots/1/takes"),
    ("get", "/takes/1"), ("post", "/takes/1/approve"), ("post", "/takes/1/reject"),
    ("get", "/credits"),
]


def _call(api: ApiClient, method: str, path: str):
    if method == "get":
        return api.get(path)
    return getattr(api, method)(path, {})


def _assert_401(response):
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_operation_needs_a_key(anonymous, shot, method, path):
    _assert_401(_call(anonymous, method, path))


@pytest.mark.parametrize("header", ["Bearer sc_not-a-real-key", "Bearer ", "Token sc_whatever", "sc_whatever"])
def test_unknown_or_malformed_keys_are_refused(client, creator, header):
    _assert_401(client.get("/api/credits", headers={"Authorization": header}))


def test_a_revoked_key_is_refused(client, creator):
    token, key = api_token_create(user=creator, name="laptop")
    assert ApiClient(client, key).get("/credits").status_code == 200
    api_token_revoke(token=token)
    _assert_401(ApiClient(client, key).get("/credits"))


def test_a_deactivated_users_key_is_refused(client, creator, api_key):
    get_user_model().objects.filter(pk=creator.pk).update(is_active=False)
    _assert_401(ApiClient(client, api_key).get("/credits"))


def test_only_a_hash_of_the_key_is_stored_and_use_is_recorded(api, creator, api_key):
    token = ApiToken.objects.get(user=creator)
    assert api_key.startswith("sc_") and len(api_key) >= 40
    assert token.key_prefix == api_key[:8]
    assert token.key_hash == hashlib.sha256(api_key.encode()).hexdigest()
    assert api_key not in {str(value) for value in ApiToken.objects.values().get().values()}
    assert token.last_used_at is None
    assert api.get("/credits").status_code == 200
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_keys_are_unique_and_revoking_twice_keeps_the_first_time(creator):
    (first, key_one), (_, key_two) = api_token_create(user=creator, name="a"), api_token_create(user=creator, name="b")
    assert key_one != key_two
    revoked_at = api_token_revoke(token=first).revoked_at
    assert revoked_at is not None
    assert api_token_revoke(token=first).revoked_at == revoked_at


def test_the_command_prints_a_working_key(client, creator):
    out, err = io.StringIO(), io.StringIO()
    call_command("api_token_create", "ada", "--name", "render script", stdout=out, stderr=err)
    key = out.getvalue().strip()
    assert ApiToken.objects.get(user=creator).name == "render script"
    assert "cannot be shown again" in err.getvalue()
    assert ApiClient(client, key).get("/credits").status_code == 200


def test_the_command_refuses_unknown_users_and_empty_names(creator):
    with pytest.raises(CommandError, match="No user named"):
        call_command("api_token_create", "nobody", "--name", "x", stdout=io.StringIO(), stderr=io.StringIO())
    with pytest.raises(CommandError):
        call_command("api_token_create", "ada", "--name", "  ", stdout=io.StringIO(), stderr=io.StringIO())
    assert not ApiToken.objects.exists()


def test_admin_lists_tokens_without_the_key_and_revokes_through_the_service(client, creator, api_key):
    admin = get_user_model().objects.create_superuser(username="ops", password="a-long-test-password", email="ops@example.com")
    client.force_login(admin)
    token = ApiToken.objects.get(user=creator)
    page = client.get("/admin/studio/apitoken/")
    assert page.status_code == 200
    assert token.key_prefix in page.text and api_key not in page.text and token.key_hash not in page.text
    assert client.get("/admin/studio/apitoken/add/").status_code == 403
    detail = client.get(f"/admin/studio/apitoken/{token.pk}/change/")
    assert detail.status_code == 200 and token.key_hash not in detail.text
    response = client.post("/admin/studio/apitoken/", {"action": "revoke", "_selected_action": [token.pk]})
    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    client.logout()
    _assert_401(ApiClient(client, api_key).get("/credits"))
