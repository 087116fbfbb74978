"""Projects, shots, quotes and credits over the JSON API."""

import pytest
from django.forms.models import model_to_dict

from providers.models import ProviderModel
from studio.models import Project, Shot
from studio.services.takes import shot_take_quote, shot_take_request
from tests.api.conftest import ApiClient
from tests.factories import creator_create, project_for, shot_for

pytestmark = pytest.mark.django_db


def test_projects_list_create_and_detail(api, creator, project, shot):
    listed = api.get("/projects").json()
    assert listed["count"] == 1
    assert listed["items"][0] | {"created_at": None, "updated_at": None} == {
        "id": project.pk, "name": "Night market", "description": "A short film", "shot_count": 1,
        "created_at": None, "updated_at": None,
    }

    response = api.post("/projects", {"name": "  Harbour  ", "description": "Dawn"})
    assert response.status_code == 201
    created = Project.objects.get(pk=response.json()["id"])
    assert (created.owner, created.name, created.description) == (creator, "Harbour", "Dawn")
    assert api.get("/projects").json()["count"] == 2

    detail = api.get(f"/projects/{project.pk}")
    assert detail.status_code == 200
    assert detail.json()["shot_count"] == 1


@pytest.mark.parametrize(("payload", "field"), [
    ({"name": ""}, "name"), ({"name": "   "}, "name"), ({"name": "x" * 121}, "name"),
    ({"name": "ok", "description": "x" * 2001}, "description"), ({}, "name"), ({"name": 7}, "name"),
    ({"name": "ok", "owner": 2}, "owner"),
])
def test_invalid_projects_are_refused(api, creator, payload, field):
    response = api.post("/projects", payload)
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid" and body["errors"][field]
    assert not Project.objects.exists()


def test_shots_list_create_detail_and_patch(api, project, shot):
    listed = api.get(f"/projects/{project.pk}/shots").json()
    assert [item["id"] for item in listed["items"]] == [shot.pk]

    response = api.post(f"/projects/{project.pk}/shots", {"title": "Harbour", "subject": "Boats at dawn", "duration_seconds": 3})
    assert response.status_code == 201
    created = Shot.objects.get(pk=response.json()["id"])
    assert (created.project, created.position, created.duration_seconds, created.camera) == (project, 2, 3, "static")
    assert response.json()["aspect_ratio"] == "16:9"

    detail = api.get(f"/shots/{shot.pk}").json()
    assert detail | {"created_at": None, "updated_at": None} == {
        "id": shot.pk, "project_id": project.pk, "position": 1, "title": "Opening",
        "subject": "A lantern seller under neon signs", "scene": "Rainy night market", "camera": "dolly_in",
        "motion": "Steam rises from a food stall", "duration_seconds": 2, "style": "cinematic, 35mm",
        "negative": "text, watermark", "aspect_ratio": "16:9", "approved_take_id": None, "approval_stale": False,
        "created_at": None, "updated_at": None,
    }

    response = api.patch(f"/shots/{shot.pk}", {"title": " Opening, take two ", "camera": "orbit", "duration_seconds": 4})
    assert response.status_code == 200
    shot.refresh_from_db()
    assert (shot.title, shot.camera, shot.duration_seconds, shot.subject) == (
        "Opening, take two", "orbit", 4, "A lantern seller under neon signs",
    )
    assert response.json()["title"] == "Opening, take two"


BAD_SHOT_FIELDS = [
    ({"title": ""}, "title"), ({"subject": "  "}, "subject"), ({"title": "x" * 121}, "title"),
    ({"subject": "x" * 501}, "subject"), ({"negative": "x" * 301}, "negative"),
    ({"aspect_ratio": "2:1"}, "aspect_ratio"), ({"camera": "zoom"}, "camera"),
    ({"duration_seconds": 0}, "duration_seconds"), ({"duration_seconds": 21}, "duration_seconds"),
    ({"duration_seconds": "long"}, "duration_seconds"), ({"title": None}, "title"),
    ({"titel": "Misspelt"}, "titel"), ({"project": 1}, "project"),
]


@pytest.mark.parametrize(("payload", "field"), BAD_SHOT_FIELDS)
def test_invalid_shot_changes_are_refused_and_nothing_changes(api, shot, payload, field):
    before = model_to_dict(Shot.objects.get(pk=shot.pk))
    response = api.patch(f"/shots/{shot.pk}", {"style": "watercolour", **payload})
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "invalid"
    assert list(body["errors"]) == [field] and all(isinstance(message, str) for message in body["errors"][field])
    assert model_to_dict(Shot.objects.get(pk=shot.pk)) == before


@pytest.mark.parametrize(("payload", "field"), [*BAD_SHOT_FIELDS, ({"title": ...}, "title"), ({"subject": ...}, "subject")])
def test_invalid_new_shots_are_refused(api, project, payload, field):
    fields = {"title": "New", "subject": "Something", **payload}
    response = api.post(f"/projects/{project.pk}/shots", {name: value for name, value in fields.items() if value is not ...})
    assert response.status_code == 422
    assert field in response.json()["errors"]
    assert not Shot.objects.exists()


def test_quote_names_the_provider_the_price_and_why(api, catalog, shot):
    response = api.get(f"/shots/{shot.pk}/quote")
    assert response.status_code == 200
    quote = shot_take_quote(shot=shot)
    assert response.json() == {
        "provider": {"slug": quote.provider_model.slug, "name": quote.provider_model.name},
        "credits": quote.credits, "hold_credits": quote.hold_credits, "why": quote.plan.first.reason, "cached_take_id": None,
    }
    assert quote.credits > 0 and quote.plan.first.reason


def test_quote_without_any_provider_says_why(api, catalog, shot):
    ProviderModel.objects.update(enabled=False)
    response = api.get(f"/shots/{shot.pk}/quote")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "no_provider_available"
    assert body["excluded"] and all(item["reason"] == "disabled by ops" for item in body["excluded"])


def test_credits_show_balance_held_and_available(api, catalog, creator, shot):
    assert api.get("/credits").json() == {"balance": 500, "held": 0, "available": 500, "low_balance": False}
    take = shot_take_request(user=creator, shot=shot)
    assert api.get("/credits").json() == {
        "balance": 500, "held": take.price_credits, "available": 500 - take.price_credits, "low_balance": False,
    }


def test_credits_are_zero_without_an_account(client, db):
    from studio.services.tokens import api_token_create

    _, key = api_token_create(user=creator_create(username="newcomer", credits=0), name="t")
    assert ApiClient(client, key).get("/credits").json() == {"balance": 0, "held": 0, "available": 0, "low_balance": True}


def test_lists_are_paginated(api, creator):
    for number in range(3):
        project_for(creator, name=f"Project {number}")
    page = api.get("/projects", limit=2, offset=1).json()
    assert page["count"] == 3 and len(page["items"]) == 2


def test_project_list_queries_do_not_grow_with_projects(api, creator, django_assert_max_num_queries):
    for number in range(5):
        shot_for(project_for(creator, name=f"Project {number}"))
    with django_assert_max_num_queries(4):  # token, last-used touch, count, page
        assert len(api.get("/projects").json()["items"]) == 5


def test_a_body_that_is_not_json_is_a_bad_request(client, api_key, creator):
    response = client.post("/api/projects", "{not json", content_type="application/json",
                           headers={"Authorization": f"Bearer {api_key}"})
    assert response.status_code == 400
    assert response.json()["code"] == "bad_request"
    assert not Project.objects.exists()
