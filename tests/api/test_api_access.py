"""Another creator's objects look exactly like missing ones: 404, and nothing changes."""

import pytest

from jobs.models import Take
from studio.models import Project, Shot
from studio.services.takes import shot_take_request

pytestmark = pytest.mark.django_db

OTHERS = [
    ("get", "/projects/{project}"), ("get", "/projects/{project}/shots"), ("post", "/projects/{project}/shots"),
    ("get", "/shots/{shot}"), ("patch", "/shots/{shot}"), ("get", "/shots/{shot}/quote"),
    ("get", "/shots/{shot}/takes"), ("post", "/shots/{shot}/takes"),
    ("get", "/takes/{take}"), ("post", "/takes/{take}/approve"), ("post", "/takes/{take}/reject"),
]
SHOT = {"title": "Mine now", "subject": "Anything"}


@pytest.fixture
def others_take(catalog, other_shot):
    return shot_take_request(user=other_shot.project.owner, shot=other_shot)


@pytest.mark.parametrize(("method", "template"), OTHERS)
@pytest.mark.parametrize("missing", [False, True], ids=["not-yours", "missing"])
def test_other_creators_objects_are_not_found(api, other_shot, others_take, method, template, missing):
    ids = {"project": other_shot.project_id, "shot": other_shot.pk, "take": others_take.pk}
    if missing:
        ids = {name: 999_999 for name in ids}
    path = template.format(**ids)
    before = (Project.objects.count(), Shot.objects.count(), Take.objects.count(), other_shot.title)
    if method == "get":
        response = api.get(path)
    else:
        response = getattr(api, method)(path, SHOT, headers={"Idempotency-Key": "k-1"})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    other_shot.refresh_from_db()
    assert (Project.objects.count(), Shot.objects.count(), Take.objects.count(), other_shot.title) == before


def test_lists_show_only_your_own(api, project, other_shot):
    assert [item["id"] for item in api.get("/projects").json()["items"]] == [project.pk]
