"""The creator-facing pages against the real database: rows, ledger entries and query counts."""

import io
import re

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.template.loader import render_to_string
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from PIL import Image

from billing.models import CreditAccount, LedgerEntry
from jobs.models import Take
from jobs.states import TakeState
from studio.models import CharacterImage, CharacterReference, Project, Shot
from studio.selectors import take_for_card
from studio.services.images import character_image_add
from studio.services.projects import character_create
from studio.services.takes import shot_take_quote, shot_take_request, take_approve
from tests.factories import creator_create, project_for, shot_for
from tests.jobs.test_pipeline import take_run_and_evaluate

HTMX = {"HTTP_HX_REQUEST": "true"}

SHOT_FORM = {
    "title": "Market at dusk", "subject": "A lantern seller lights the first lantern", "scene": "Night market",
    "camera": "pan_left", "motion": "Lanterns sway", "duration_seconds": "3", "style": "warm, 35mm",
    "negative": "text", "aspect_ratio": "9:16",
}


def png_upload(name: str = "face.png", colour: str = "orange") -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def idempotency_key_in(html: str) -> str:
    return re.search(r'name="idempotency_key" value="([^"]+)"', html).group(1)


def ledger_count(user) -> int:
    return LedgerEntry.objects.filter(account__user=user).count()


@pytest.fixture
def ready_take(creator, shot):
    """A take rendered for real by the local animatic renderer, driven step by step."""
    take = shot_take_request(user=creator, shot=shot, idempotency_key="ready-take")
    take_run_and_evaluate(take.pk)
    take.refresh_from_db()
    assert take.state == TakeState.READY, take.failure_reason
    return take


@pytest.fixture
def stranger_client(client, db):
    client.force_login(creator_create(username="mallory"))
    return client


# --- Accounts -----------------------------------------------------------------------------------


def test_signup_creates_the_user_with_starter_credits_and_logs_in(client, db):
    response = client.post(reverse("signup"), {
        "username": "grace", "email": "grace@example.com",
        "password1": "a-long-and-unusual-pass", "password2": "a-long-and-unusual-pass",
    })

    assert response.status_code == 302 and response.url == reverse("project-list")
    user = get_user_model().objects.get(username="grace")
    assert user.email == "grace@example.com"
    assert CreditAccount.objects.get(user=user).balance == settings.STARTER_CREDITS
    assert LedgerEntry.objects.filter(account__user=user, kind="grant", reason="Starter credits").count() == 1
    page = client.get(reverse("project-list"))
    assert "grace" in page.content.decode()
    assert 'id="credit-balance"' in page.content.decode()


def test_signup_with_mismatched_passwords_creates_nothing(client, db):
    response = client.post(reverse("signup"), {
        "username": "grace", "email": "grace@example.com",
        "password1": "a-long-and-unusual-pass", "password2": "something-else-entirely",
    })

    assert response.status_code == 422
    assert "The two password fields didn’t match." in response.content.decode()
    assert not get_user_model().objects.filter(username="grace").exists()
    assert not LedgerEntry.objects.exists()


def test_login_page_and_logout(client, creator):
    assert client.get(reverse("login")).status_code == 200
    response = client.post(reverse("login"), {"username": "ada", "password": "a-long-test-password"})
    assert response.status_code == 302 and response.url == reverse("project-list")

    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert client.get(reverse("project-list")).status_code == 302


def test_pages_need_a_login(client, shot):
    for url in (reverse("project-list"), reverse("project-detail", args=[shot.project_id]),
                reverse("shot-detail", args=[shot.pk])):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith(reverse("login"))


# --- Projects -----------------------------------------------------------------------------------


def test_project_list_empty_state(creator_client):
    html = creator_client.get(reverse("project-list")).content.decode()

    assert "No projects yet — create your first" in html
    assert 'action="/projects/new/"' in html


def test_project_list_shows_the_creators_projects_only(creator_client, project):
    project_for(creator_create(username="other"), name="Someone else's film")

    html = creator_client.get(reverse("project-list")).content.decode()

    assert "Night market" in html
    assert "Someone else" not in html
    assert "No projects yet" not in html


def test_project_create(creator_client, creator):
    response = creator_client.post(reverse("project-create"), {"name": "  Harbour  ", "description": "Fog"})

    project = Project.objects.get(owner=creator)
    assert response.status_code == 302 and response.url == reverse("project-detail", args=[project.pk])
    assert (project.name, project.description) == ("Harbour", "Fog")


NUL_REFUSED = "Null characters are not allowed."  # PostgreSQL cannot store NUL; Django's CharField refuses it


@pytest.mark.parametrize("name, error", [("", "This field is required."), ("x" * 121, "at most 120 characters"),
                                         ("Har\x00bour", NUL_REFUSED)])
def test_project_create_rejects_bad_names(creator_client, creator, name, error):
    response = creator_client.post(reverse("project-create"), {"name": name})

    assert response.status_code == 422
    assert error in response.content.decode()
    assert not Project.objects.exists()


def test_a_form_post_over_the_upload_limit_is_a_413_page(creator, settings):
    client = Client(enforce_csrf_checks=True)  # the CSRF check reads the form first, as it does in production
    client.force_login(creator)
    client.get(reverse("project-create"))
    name = "x" * (13 * 1024 * 1024)
    assert len(name) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE

    response = client.post(reverse("project-create"), {"name": name, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})

    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    assert "Too large" in response.content.decode()
    assert not Project.objects.exists()


def test_storyboard_empty_state(creator_client, project):
    html = creator_client.get(reverse("project-detail", args=[project.pk])).content.decode()

    assert "No shots yet — add the first shot" in html
    assert reverse("shot-create", args=[project.pk]) in html
    assert f'ws-connect="/ws/projects/{project.pk}/"' in html


def test_storyboard_shows_shots_in_order_with_the_approved_take(creator_client, creator, project, shot, ready_take):
    second = shot_for(project, title="Lantern close-up", camera="orbit", duration_seconds=4, aspect_ratio="1:1")
    take_approve(take=ready_take)

    html = creator_client.get(reverse("project-detail", args=[project.pk])).content.decode()

    assert html.index(f'id="shot-{shot.pk}"') < html.index(f'id="shot-{second.pk}"')
    first_card = html[html.index(f'id="shot-{shot.pk}"'):html.index(f'id="shot-{second.pk}"')]
    assert 'data-approved="true"' in first_card and "Approved" in first_card
    assert ready_take.thumbnail.url in first_card
    assert "Dolly in" in first_card and "2 s" in first_card and "16:9" in first_card and "1 take" in first_card
    assert "Orbit (parallax)" in html and "0 takes" in html and "No approved take yet" in html


def test_storyboard_query_count_does_not_grow_with_shots(creator_client, creator, project, shot, ready_take):
    take_approve(take=ready_take)
    character = character_create(project=project, name="Mei")
    character_image_add(character=character, upload=png_upload())
    shot_for(project, title="Second")
    url = reverse("project-detail", args=[project.pk])

    with CaptureQueriesContext(connection) as with_two:
        assert creator_client.get(url).status_code == 200
    for number in range(10):
        shot_for(project, title=f"Shot {number + 3}")
    with CaptureQueriesContext(connection) as with_twelve:
        html = creator_client.get(url).content.decode()

    assert html.count('class="shot-card') == 12
    assert len(with_twelve.captured_queries) == len(with_two.captured_queries)


def test_storyboard_shots_partial(creator_client, project, shot):
    response = creator_client.get(reverse("project-shots", args=[project.pk]), **HTMX)

    html = response.content.decode()
    assert response.status_code == 200
    assert f'id="shot-{shot.pk}"' in html and "<html" not in html


# --- Characters ---------------------------------------------------------------------------------


def test_character_create_and_reference_image_upload(creator_client, project):
    response = creator_client.post(reverse("character-create", args=[project.pk]), {"name": "Mei", "description": "Lantern seller"})
    assert response.status_code == 302
    character = CharacterReference.objects.get(project=project)

    response = creator_client.post(reverse("character-image-add", args=[project.pk, character.pk]),
                                   {"image": png_upload()}, **HTMX)

    assert response.status_code == 200
    picture = CharacterImage.objects.get(character=character)
    html = response.content.decode()
    assert 'id="characters"' in html and picture.image.url in html
    assert "Reference image added to Mei." in html


def test_character_duplicate_name_is_a_clear_error(creator_client, project):
    character_create(project=project, name="Mei")

    response = creator_client.post(reverse("character-create", args=[project.pk]), {"name": "Mei"}, **HTMX)

    assert response.status_code == 422
    assert "already exists" in response.content.decode()
    assert CharacterReference.objects.filter(project=project).count() == 1


def test_a_character_name_with_a_nul_character_is_refused(creator_client, project):
    response = creator_client.post(reverse("character-create", args=[project.pk]), {"name": "Me\x00i"}, **HTMX)

    assert response.status_code == 422
    assert NUL_REFUSED in response.content.decode()
    assert not CharacterReference.objects.exists()


def test_a_text_file_named_png_is_refused_as_reference_image(creator_client, project):
    character = character_create(project=project, name="Mei")
    fake = SimpleUploadedFile("x.png", b"just some text, not an image", content_type="image/png")

    response = creator_client.post(reverse("character-image-add", args=[project.pk, character.pk]), {"image": fake})

    assert response.status_code == 422
    html = response.content.decode()
    assert "That file is not a JPEG, PNG or WebP image we can read." in html
    assert f'aria-describedby="reference-{character.pk}-error"' in html
    assert not CharacterImage.objects.exists()


def test_upload_to_another_projects_character_is_404(creator_client, creator, project):
    other_project = project_for(creator, name="Second film")
    character = character_create(project=other_project, name="Mei")

    response = creator_client.post(reverse("character-image-add", args=[project.pk, character.pk]), {"image": png_upload()})

    assert response.status_code == 404
    assert not CharacterImage.objects.exists()


# --- Shot editor --------------------------------------------------------------------------------


def test_shot_create(creator_client, project):
    mei = character_create(project=project, name="Mei")

    response = creator_client.post(reverse("shot-create", args=[project.pk]), {**SHOT_FORM, "characters": [mei.pk]})

    shot = Shot.objects.get(project=project)
    assert response.status_code == 302 and response.url == reverse("shot-detail", args=[shot.pk])
    assert (shot.title, shot.camera, shot.duration_seconds, shot.aspect_ratio) == ("Market at dusk", "pan_left", 3, "9:16")
    assert list(shot.characters.all()) == [mei]
    assert shot.position == 1


def test_shot_create_page_has_labelled_fields(creator_client, project):
    html = creator_client.get(reverse("shot-create", args=[project.pk])).content.decode()

    for field in ("title", "subject", "scene", "camera", "motion", "duration_seconds", "style", "negative", "aspect_ratio"):
        assert f'<label class="label" for="id_{field}">' in html
    assert 'min="1"' in html and 'max="20"' in html


def test_shot_edit(creator_client, shot):
    response = creator_client.post(reverse("shot-detail", args=[shot.pk]), {**SHOT_FORM, "title": "Renamed"})

    assert response.status_code == 302
    shot.refresh_from_db()
    assert (shot.title, shot.camera, shot.aspect_ratio) == ("Renamed", "pan_left", "9:16")


BAD_SHOT_INPUT = [
    ("title", "", "This field is required."),
    ("title", "x" * 121, "Ensure this value has at most 120 characters (it has 121)."),
    ("subject", "", "This field is required."),
    ("subject", "x" * 501, "Ensure this value has at most 500 characters (it has 501)."),
    ("aspect_ratio", "7:3", "Select a valid choice. 7:3 is not one of the available choices."),
    ("camera", "crane", "Select a valid choice. crane is not one of the available choices."),
    ("duration_seconds", "0", "Ensure this value is greater than or equal to 1."),
    ("duration_seconds", "21", "Ensure this value is less than or equal to 20."),
    *[(field, "x\x00y", NUL_REFUSED) for field in ("title", "subject", "scene", "motion", "style", "negative")],
]


@pytest.mark.parametrize("field, value, error", BAD_SHOT_INPUT)
def test_shot_create_rejects_bad_input(creator_client, project, field, value, error):
    response = creator_client.post(reverse("shot-create", args=[project.pk]), {**SHOT_FORM, field: value})

    assert response.status_code == 422
    html = response.content.decode()
    assert error in html
    assert "Nothing was saved." in html
    assert not Shot.objects.exists()


@pytest.mark.parametrize("field, value, error", BAD_SHOT_INPUT)
def test_shot_edit_rejects_bad_input_and_changes_nothing(creator_client, shot, field, value, error):
    before = {name: getattr(shot, name) for name in SHOT_FORM}

    response = creator_client.post(reverse("shot-detail", args=[shot.pk]), {**SHOT_FORM, field: value})

    assert response.status_code == 422
    html = response.content.decode()
    assert error in html
    assert "<h1>Opening</h1>" in html  # the page shows the saved shot, not the rejected edit
    shot.refresh_from_db()
    assert {name: getattr(shot, name) for name in SHOT_FORM} == before


def test_shot_cannot_use_another_projects_character(creator_client, creator, project, shot):
    stranger = character_create(project=project_for(creator, name="Other"), name="Stranger")

    response = creator_client.post(reverse("shot-detail", args=[shot.pk]), {**SHOT_FORM, "characters": [stranger.pk]})

    assert response.status_code == 422
    assert "is not one of the available choices" in response.content.decode()
    assert not shot.characters.exists()


def test_shot_page_shows_the_price_before_generating(creator_client, shot):
    quote = shot_take_quote(shot=shot)

    html = creator_client.get(reverse("shot-detail", args=[shot.pk])).content.decode()

    assert f"Draft on <strong>{quote.provider_model.name}</strong>: <strong class=\"quote-credits\">{quote.credits} credits</strong>" in html
    assert "You have 500 credits available." in html
    generate_button = re.search(r"<button[^>]*>Generate draft</button>", html).group(0)
    assert "disabled" not in generate_button
    assert 'hx-disabled-elt="find button"' in html
    assert f'hx-post="{reverse("take-create", args=[shot.pk])}"' in html


def test_shot_page_says_what_a_draft_holds_when_a_fallback_costs_more(creator_client, shot, settings):
    settings.PROVIDER_SANDBOX_URLS = {"kling": "http://127.0.0.1:9"}  # a dearer draft model behind the animatic
    shot.duration_seconds = 5
    shot.save()
    quote = shot_take_quote(shot=shot)
    assert quote.hold_credits > quote.credits

    html = creator_client.get(reverse("shot-detail", args=[shot.pk])).content.decode()

    assert (f"Generating holds {quote.hold_credits} (enough for a fallback provider) while it renders; "
            f"{quote.credits} are charged if the take comes out ready on {quote.provider_model.name}") in html
    assert f"Best of 2 · {2 * quote.credits} credits (holds {2 * quote.hold_credits})" in html


# --- Generating ---------------------------------------------------------------------------------


def test_generate_with_too_few_credits_is_refused_and_changes_nothing(client, db):
    poor = creator_create(username="poor", credits=0)
    shot = shot_for(project_for(poor))
    client.force_login(poor)
    quote = shot_take_quote(shot=shot)
    entries_before = ledger_count(poor)

    page = client.get(reverse("shot-detail", args=[shot.pk])).content.decode()
    response = client.post(reverse("take-create", args=[shot.pk]), {"idempotency_key": "k-poor"}, **HTMX)

    generate_button = re.search(r"<button[^>]*>Generate draft</button>", page).group(0)
    assert "disabled" in generate_button and 'aria-describedby="generate-blocked"' in generate_button
    assert f"Not enough credits: this draft needs {quote.hold_credits} and you have 0 available." in page
    assert response.status_code == 422
    assert f"This needs {quote.credits} credits but only 0 are available." in response.content.decode()
    assert 'id="generate-panel"' in response.content.decode()
    assert not Take.objects.exists()
    assert ledger_count(poor) == entries_before


def test_generate_without_htmx_redirects_with_the_error(client, db):
    poor = creator_create(username="poor", credits=0)
    shot = shot_for(project_for(poor))
    client.force_login(poor)

    response = client.post(reverse("take-create", args=[shot.pk]), {"idempotency_key": "k-poor"}, follow=True)

    assert response.redirect_chain == [(reverse("shot-detail", args=[shot.pk]), 302)]
    assert "only 0 are available" in response.content.decode()
    assert not Take.objects.exists()


def test_generate_creates_one_take_per_idempotency_key(creator_client, creator, shot):
    url = reverse("take-create", args=[shot.pk])
    key = idempotency_key_in(creator_client.get(reverse("shot-detail", args=[shot.pk])).content.decode())

    first = creator_client.post(url, {"idempotency_key": key}, **HTMX)
    second = creator_client.post(url, {"idempotency_key": key}, **HTMX)

    take = Take.objects.get()
    assert (take.owner, take.shot, take.idempotency_key, take.state) == (creator, shot, key, TakeState.QUEUED)
    assert LedgerEntry.objects.filter(account__user=creator, kind="reserve").count() == 1
    for response in (first, second):
        html = response.content.decode()
        assert response.status_code == 200
        assert f'id="take-{take.pk}"' in html and 'data-live-upsert' in html
        assert 'id="generate-panel"' in html
        assert idempotency_key_in(html) != key  # the next click is a new request
        assert 'id="credit-balance"' in html


def test_generate_new_key_makes_a_second_take(creator_client, shot):
    url = reverse("take-create", args=[shot.pk])

    first = creator_client.post(url, {"idempotency_key": "key-one"}, **HTMX)
    creator_client.post(url, {"idempotency_key": idempotency_key_in(first.content.decode())}, **HTMX)

    assert Take.objects.filter(shot=shot).count() == 2


def test_generate_reusing_a_key_for_a_different_request_is_refused(creator_client, shot):
    url = reverse("take-create", args=[shot.pk])
    creator_client.post(url, {"idempotency_key": "same-key"}, **HTMX)
    creator_client.post(reverse("shot-detail", args=[shot.pk]), {**SHOT_FORM, "title": "Changed"})

    response = creator_client.post(url, {"idempotency_key": "same-key"}, **HTMX)

    assert response.status_code == 422
    assert "already used for a different request" in response.content.decode()
    assert Take.objects.count() == 1


def test_generate_without_htmx_redirects_to_the_shot(creator_client, shot):
    response = creator_client.post(reverse("take-create", args=[shot.pk]), {"idempotency_key": "plain"}, follow=True)

    take = Take.objects.get()
    assert response.redirect_chain == [(reverse("shot-detail", args=[shot.pk]), 302)]
    html = response.content.decode()
    assert f"Draft take requested: {take.price_credits} credits reserved." in html
    assert f'id="take-{take.pk}"' in html and 'data-state="queued"' in html


def test_shot_takes_partial_lists_the_takes(creator_client, creator, shot):
    take = shot_take_request(user=creator, shot=shot, idempotency_key="listed")

    response = creator_client.get(reverse("shot-takes", args=[shot.pk]), **HTMX)

    html = response.content.decode()
    assert f'id="take-{take.pk}"' in html and "<html" not in html
    assert "hx-swap-oob" not in html
    assert "<progress" in html and "cheapest match" in html.lower()


# --- Reviewing ----------------------------------------------------------------------------------


def test_ready_take_card_shows_video_checks_and_review_buttons(creator_client, ready_take):
    html = creator_client.get(reverse("shot-detail", args=[ready_take.shot_id])).content.decode()

    card = html[html.index(f'id="take-{ready_take.pk}"'):]
    assert 'data-state="ready"' in card and 'data-review="pending"' in card
    assert f'src="{ready_take.video.url}"' in card and f'poster="{ready_take.poster.url}"' in card
    assert 'controls preload="metadata"' in card
    assert "Passed 5 quality checks" in card and "48 frames of 854x480 decoded" in card
    assert reverse("take-approve", args=[ready_take.pk]) in card and reverse("take-reject", args=[ready_take.pk]) in card
    assert "<progress" not in card


def test_approve_then_reject(creator_client, ready_take):
    response = creator_client.post(reverse("take-approve", args=[ready_take.pk]), **HTMX)

    assert response.status_code == 200
    assert 'data-review="approved"' in response.content.decode()
    ready_take.refresh_from_db()
    assert ready_take.review == Take.Review.APPROVED
    assert Shot.objects.get(pk=ready_take.shot_id).approved_take_id == ready_take.pk

    response = creator_client.post(reverse("take-reject", args=[ready_take.pk]), **HTMX)

    assert response.status_code == 200
    assert 'data-review="rejected"' in response.content.decode()
    ready_take.refresh_from_db()
    assert ready_take.review == Take.Review.REJECTED
    assert Shot.objects.get(pk=ready_take.shot_id).approved_take_id is None


def test_approve_without_htmx_redirects_with_a_message(creator_client, ready_take):
    response = creator_client.post(reverse("take-approve", args=[ready_take.pk]), follow=True)

    assert response.redirect_chain == [(reverse("shot-detail", args=[ready_take.shot_id]), 302)]
    assert "Take approved" in response.content.decode()


@pytest.mark.parametrize("name", ["take-approve", "take-reject"])
def test_reviewing_a_take_that_is_not_ready_is_a_clear_error(creator_client, creator, shot, name):
    take = shot_take_request(user=creator, shot=shot, idempotency_key="not-ready")

    response = creator_client.post(reverse(name, args=[take.pk]), **HTMX)

    assert response.status_code == 422
    assert "Only a ready take can be" in response.content.decode()
    take.refresh_from_db()
    assert take.review == Take.Review.PENDING
    assert Shot.objects.get(pk=shot.pk).approved_take_id is None


# --- Other creators' things ---------------------------------------------------------------------


def test_another_creators_objects_are_404(stranger_client, creator, project, shot):
    take = shot_take_request(user=creator, shot=shot, idempotency_key="mine")
    character = character_create(project=project, name="Mei")
    gets = [
        reverse("project-detail", args=[project.pk]), reverse("project-shots", args=[project.pk]),
        reverse("shot-create", args=[project.pk]), reverse("shot-detail", args=[shot.pk]),
        reverse("shot-takes", args=[shot.pk]),
    ]
    posts = [
        (reverse("shot-create", args=[project.pk]), SHOT_FORM),
        (reverse("shot-detail", args=[shot.pk]), SHOT_FORM),
        (reverse("take-create", args=[shot.pk]), {"idempotency_key": "theirs"}),
        (reverse("take-approve", args=[take.pk]), {}),
        (reverse("take-reject", args=[take.pk]), {}),
        (reverse("character-create", args=[project.pk]), {"name": "Intruder"}),
        (reverse("character-image-add", args=[project.pk, character.pk]), {"image": png_upload()}),
    ]

    for url in gets:
        assert stranger_client.get(url).status_code == 404, url
    for url, data in posts:
        assert stranger_client.post(url, data).status_code == 404, url

    assert Take.objects.count() == 1 and Shot.objects.count() == 1
    assert not CharacterImage.objects.exists() and CharacterReference.objects.count() == 1


# --- Live update templates (rendered by studio.consumers) ---------------------------------------


def test_live_take_changed_renders_out_of_band_swaps(ready_take):
    take = take_for_card(take_id=ready_take.pk)

    html = render_to_string("studio/live/take_changed.html", {"take": take, "shot": take.shot})

    take_tag = re.search(rf'<article id="take-{take.pk}"[^>]*>', html).group(0)
    shot_tag = re.search(rf'<article id="shot-{take.shot_id}"[^>]*>', html).group(0)
    assert 'hx-swap-oob="true"' in take_tag and 'data-state="ready"' in take_tag
    assert 'hx-swap-oob="true"' in shot_tag
    assert "1 take" in html


def test_live_credits_changed_renders_the_balance(creator):
    account = CreditAccount.objects.get(user=creator)

    html = render_to_string("studio/live/credits_changed.html", {"credit_account": account})

    assert re.search(r'<span id="credit-balance"[^>]*hx-swap-oob="true"', html)
    assert "500" in html
