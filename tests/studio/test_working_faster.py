"""Working faster on the storyboard: reordering and duplicating shots, importing a shot list through
its pages, and the first steps a new creator sees."""

import re

import pytest
from django.urls import reverse

from studio.models import CharacterReference, Project, Shot
from studio.services.projects import ShotOrderInvalid, character_create, shot_duplicate, shot_order_set
from studio.services.takes import shot_take_request
from tests.factories import creator_create, project_for, shot_for

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def three(project) -> list[Shot]:
    return [shot_for(project, title=title) for title in ("One", "Two", "Three")]


def titles(project) -> list[str]:
    return list(Shot.objects.filter(project=project).order_by("position").values_list("title", flat=True))


def test_a_new_order_numbers_the_shots_from_one_and_moves_their_cards(project, three):
    one, two, three_ = three
    before = Shot.objects.get(pk=one.pk).updated_at

    shot_order_set(project=project, shot_ids=[three_.pk, one.pk, two.pk])

    assert list(Shot.objects.filter(project=project).order_by("position").values_list("title", "position")) == [
        ("Three", 1), ("One", 2), ("Two", 3)]
    assert Shot.objects.get(pk=one.pk).updated_at > before  # the cached card shows the new number


@pytest.mark.parametrize(("order", "message"), [
    (lambda s, other: [s[0].pk, s[1].pk], r"leaves out shot #\d+"),
    (lambda s, other: [s[0].pk, s[1].pk, s[2].pk, other.pk], r"names shot #\d+, which is not in this project"),
    (lambda s, other: [s[0].pk, s[0].pk, s[1].pk, s[2].pk], r"names shot #\d+ more than once"),
    (lambda s, other: [], r"leaves out shot"),
])
def test_an_order_that_is_not_exactly_the_projects_shots_moves_nothing(project, three, order, message):
    other = shot_for(project_for(creator_create(username="bo")), title="Not yours")

    with pytest.raises(ShotOrderInvalid, match=message):
        shot_order_set(project=project, shot_ids=order(three, other))
    assert titles(project) == ["One", "Two", "Three"]


def test_the_order_endpoint_answers_the_renumbered_cards_or_400(creator_client, project, three):
    url = reverse("shot-order", args=[project.pk])
    one, two, three_ = three

    moved = creator_client.post(url, {"shot": [two.pk, three_.pk, one.pk]}, follow=True, **HTMX)
    refused = creator_client.post(url, {"shot": [two.pk, three_.pk]}, **HTMX)
    garbage = creator_client.post(url, {"shot": [two.pk, "x", one.pk]}, **HTMX)

    assert moved.status_code == 200
    html = moved.content.decode()
    assert html.index(f'id="shot-{two.pk}"') < html.index(f'id="shot-{three_.pk}"') < html.index(f'id="shot-{one.pk}"')
    assert re.search(r'class="shot-number">Shot 1</span>.*?class="shot-title">Two</h3>', html, re.S)
    assert refused.status_code == 400 and "leaves out shot" in refused.content.decode()
    assert garbage.status_code == 400 and "shot numbers only" in garbage.content.decode()
    assert titles(project) == ["Two", "Three", "One"]


def test_someone_elses_storyboard_cannot_be_reordered(client, project, three):
    client.force_login(creator_create(username="bo"))

    response = client.post(reverse("shot-order", args=[project.pk]), {"shot": [shot.pk for shot in three][::-1]})

    assert response.status_code == 404 and titles(project) == ["One", "Two", "Three"]


def test_a_duplicate_copies_the_spec_and_characters_right_after_the_original_but_no_takes(catalog, creator, project,
                                                                                          three):
    mei = character_create(project=project, name="Mei")
    one = three[0]
    one.characters.set([mei])
    shot_take_request(user=creator, shot=one, idempotency_key="original-take")

    copy = shot_duplicate(shot=one)

    assert titles(project) == ["One", "One (copy)", "Two", "Three"]
    assert (copy.subject, copy.camera, copy.duration_seconds, copy.style) == (one.subject, one.camera, 2, one.style)
    assert list(copy.characters.all()) == [mei]
    assert one.takes.count() == 1 and not copy.takes.exists() and copy.approved_take_id is None


def test_duplicating_through_the_card_opens_the_copy(creator_client, project, three):
    long_title = shot_for(project, title="T" * 120)

    response = creator_client.post(reverse("shot-duplicate", args=[long_title.pk]))

    copy = Shot.objects.get(project=project, position=long_title.position + 1)
    assert response.status_code == 302 and response["Location"] == reverse("shot-detail", args=[copy.pk])
    assert copy.title == "T" * 113 + " (copy)"


def test_import_preview_then_commit_creates_the_shots(creator_client, project):
    character_create(project=project, name="Mei")
    upload_url, commit_url = reverse("shot-import", args=[project.pk]), reverse("shot-import-commit", args=[project.pk])
    csv = b"title,subject,camera,duration,characters\nArrival,Mei walks in,dolly_in,4,Mei\nStall,A grill,pan_left,3,\n"

    preview = creator_client.post(upload_url, {"file": _upload("shots.csv", csv)})

    html = preview.content.decode()
    assert preview.status_code == 200 and "2 shots ready to import" in html and "Create 2 shots" in html
    assert not Shot.objects.filter(project=project).exists()
    token = preview.context["token"]
    forged = creator_client.post(commit_url, {"token": "not-the-token"})
    assert forged.status_code == 302 and not Shot.objects.filter(project=project).exists()

    done = creator_client.post(commit_url, {"token": token})

    assert done.status_code == 302 and done["Location"] == reverse("project-detail", args=[project.pk])
    assert titles(project) == ["Arrival", "Stall"]
    assert list(Shot.objects.get(title="Arrival").characters.values_list("name", flat=True)) == ["Mei"]
    again = creator_client.post(commit_url, {"token": token}, follow=True)  # a second click creates nothing more
    assert "no longer current" in again.content.decode() and Shot.objects.filter(project=project).count() == 2


def test_an_import_with_errors_shows_them_per_row_and_offers_no_commit(creator_client, project):
    csv = b"title,subject,camera,duration\nGood,Fine,static,5\nBad,Fine,zoom,40\n"

    response = creator_client.post(reverse("shot-import", args=[project.pk]), {"file": _upload("shots.csv", csv)})

    html = response.content.decode()
    assert response.status_code == 422 and "1 of 2 rows has errors" in html
    assert "Unknown camera “zoom”" in html and "Duration 40 s is out of range" in html
    assert "Create 2 shots" not in html and "shot-import:" + str(project.pk) not in creator_client.session


def test_an_oversized_upload_is_refused_before_it_is_read(creator_client, project):
    response = creator_client.post(reverse("shot-import", args=[project.pk]),
                                   {"file": _upload("big.csv", b"title,subject\n" + b"A,B\n" * 200_000)})

    assert response.status_code == 422 and "a shot list may be up to 512 KB" in response.content.decode()


def test_a_new_creator_sees_first_steps_and_gets_the_sample_project_in_one_click(creator_client, creator):
    empty = creator_client.get(reverse("project-list")).content.decode()
    assert "Open a sample project" in empty and "Generate a draft" in empty

    response = creator_client.post(reverse("sample-project"))
    creator_client.post(reverse("sample-project"))  # a second click adds nothing

    project = Project.objects.get(owner=creator)
    assert response.status_code == 302 and response["Location"] == reverse("project-detail", args=[project.pk])
    assert project.shots.count() == 3 and CharacterReference.objects.get(project=project).images.count() == 1
    assert project.score_threshold == 30  # what the sandbox's clips reach, so a first run escalates


def test_an_empty_storyboard_offers_adding_and_importing_shots(creator_client, project):
    html = creator_client.get(reverse("project-detail", args=[project.pk])).content.decode()

    assert "Add the first shot" in html and reverse("shot-import", args=[project.pk]) in html


def _upload(name: str, data: bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, data, content_type="text/csv")
