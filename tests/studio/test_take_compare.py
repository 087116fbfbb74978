"""Side by side: two to four ready takes of one shot, their facts in aligned columns with the
differences marked, approvable from there; anything else is a clear error or a 404."""

import re

import pytest
from django.urls import reverse

from jobs.models import Take
from studio.services.takes import shot_take_request
from tests.factories import creator_create, project_for, shot_for

pytestmark = pytest.mark.django_db


def ready_take(creator, shot, *, score: float | None, price: int, defects: list[str]) -> Take:
    """A take made ready by hand: the page reads only its row, never the video file itself."""
    take = shot_take_request(user=creator, shot=shot, fresh=True)
    evaluation = {"aggregate": score, "defects": [{"kind": kind, "start": 0.5, "end": 1.0, "value": 1.0} for kind in defects]}
    Take.objects.filter(pk=take.pk).update(state="ready", progress=100, video=f"takes/{take.pk}.mp4",
                                           price_credits=price, evaluation=evaluation)
    return Take.objects.get(pk=take.pk)


@pytest.fixture
def three_takes(catalog, creator, shot):
    return [ready_take(creator, shot, score=72.0, price=30, defects=["flicker"]),
            ready_take(creator, shot, score=88.0, price=30, defects=["flicker", "frozen"]),
            ready_take(creator, shot, score=64.0, price=12, defects=["flicker"])]


def compare_url(shot, *takes) -> str:
    return reverse("shot-compare", args=[shot.pk]) + "?" + "&".join(f"take={getattr(t, 'pk', t)}" for t in takes)


def cells(page: str, fact: str) -> list[str]:
    return re.findall(rf'<span class="compare-cell[^"]*" role="cell" data-fact="{fact}"[^>]*>', page)


def test_the_takes_are_in_columns_with_best_score_lowest_price_and_differing_defects_marked(creator_client, shot, three_takes):
    first, second, third = three_takes
    response = creator_client.get(compare_url(shot, first, second, third))

    page = response.content.decode()
    assert response.status_code == 200
    assert re.findall(r'data-take="(\d+)"', page) == [str(first.pk), str(second.pk), str(third.pk)]
    assert page.count("data-compare-video") == 3
    assert ["data-best" in cell for cell in cells(page, "score")] == [False, True, False]
    assert ["data-best" in cell for cell in cells(page, "price")] == [False, False, True]
    flicker = re.search(r'data-defect-row="Flicker"[^>]*>', page).group(0)
    frozen = re.search(r'data-defect-row="Frozen"[^>]*>', page).group(0)
    assert "data-differs" not in flicker and "data-differs" in frozen  # in every take vs. in one only
    assert page.count("Approve take #") == 3


def test_a_tie_marks_no_best(creator, creator_client, shot, catalog):
    takes = [ready_take(creator, shot, score=80.0, price=30, defects=[]) for _ in range(2)]
    page = creator_client.get(compare_url(shot, *takes)).content.decode()
    assert "data-best" not in page and "✓ None found" in page


def test_approving_from_the_compare_page_approves_that_take(creator_client, shot, three_takes):
    response = creator_client.post(reverse("take-approve", args=[three_takes[1].pk]))
    assert response.status_code == 302
    assert shot.__class__.objects.get(pk=shot.pk).approved_take_id == three_takes[1].pk
    page = creator_client.get(compare_url(shot, *three_takes)).content.decode()
    assert page.count("Approve take #") == 2 and "✓ Approved" in page


@pytest.mark.parametrize("selection, message", [
    (lambda takes: takes[:1], "Select 2 to 4 takes to compare (1 selected)."),
    (lambda takes: [], "Select 2 to 4 takes to compare (0 selected)."),
    (lambda takes: [takes[0], takes[0]], "The same take is selected twice"),
    (lambda takes: [takes[0], "abc"], "Take ids are numbers"),
])
def test_a_bad_selection_says_why(creator_client, shot, three_takes, selection, message):
    response = creator_client.get(compare_url(shot, *selection(three_takes)))
    assert response.status_code == 422 and message in response.content.decode()


def test_five_takes_are_too_many(creator, creator_client, shot, three_takes):
    more = three_takes + [ready_take(creator, shot, score=50.0, price=30, defects=[]) for _ in range(2)]
    response = creator_client.get(compare_url(shot, *more))
    assert response.status_code == 422 and "(5 selected)" in response.content.decode()


def test_takes_of_another_shot_or_not_ready_are_refused(creator, creator_client, project, shot, three_takes):
    other_shot = shot_for(project, title="Alley")
    elsewhere = ready_take(creator, other_shot, score=90.0, price=30, defects=[])
    response = creator_client.get(compare_url(shot, three_takes[0], elsewhere))
    assert response.status_code == 422 and f"Take #{elsewhere.pk} is not a take of this shot." in response.content.decode()

    queued = shot_take_request(user=creator, shot=shot, fresh=True)
    response = creator_client.get(compare_url(shot, three_takes[0], queued))
    assert response.status_code == 422 and f"Take #{queued.pk} has no video yet" in response.content.decode()


def test_another_creators_shot_is_a_404(client, shot, three_takes):
    client.force_login(creator_create(username="mallory"))
    assert client.get(compare_url(shot, *three_takes[:2])).status_code == 404
    assert client.get(compare_url(shot, three_takes[0])).status_code == 404  # a bad selection tells nothing either
    theirs = shot_for(project_for(creator_create(username="mal2")), title="Theirs")
    assert client.get(compare_url(theirs, *three_takes[:2])).status_code == 404


def test_the_shot_page_offers_ready_takes_for_comparison(creator_client, shot, three_takes):
    page = creator_client.get(reverse("shot-detail", args=[shot.pk])).content.decode()
    assert 'id="compare-form"' in page and page.count('form="compare-form"') == 3
