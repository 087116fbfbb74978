"""The prompt cache: an identical compiled request reuses the creator's stored output for free."""

import io
import random

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from billing.models import CreditAccount, LedgerEntry
from billing.selectors import credit_accounts_out_of_balance
from jobs.models import Take
from studio.services.images import character_image_add
from studio.services.projects import character_create, shot_update
from studio.services.takes import shot_take_quote, shot_take_request
from tests.factories import creator_create, project_for, shot_for
from tests.jobs.test_pipeline import take_made_ready


def png_upload(seed: int) -> SimpleUploadedFile:
    """A detailed picture: a flat colour would give the animatic nothing to move, and look frozen."""
    buffer = io.BytesIO()
    size = (320, 240)
    Image.frombytes("RGB", size, random.Random(seed).randbytes(size[0] * size[1] * 3)).save(buffer, format="PNG")
    return SimpleUploadedFile("ref.png", buffer.getvalue(), content_type="image/png")

pytestmark = pytest.mark.django_db


def test_an_unchanged_shot_reuses_its_ready_take_without_a_charge(catalog, creator, shot):
    first = take_made_ready(shot_take_request(user=creator, shot=shot))
    balance = CreditAccount.objects.get(user=creator).balance
    quote = shot_take_quote(shot=shot)
    assert quote.cached == first and quote.charge_credits == 0

    again = shot_take_request(user=creator, shot=shot)

    assert again.pk != first.pk
    assert (again.state, again.cached_from, again.price_credits, again.reservation) == ("ready", first, 0, None)
    assert (again.seed, again.cache_key, again.evaluation) == (first.seed, first.cache_key, first.evaluation)
    assert again.video.name != first.video.name  # a copy: either take's retention can delete its own files
    with again.video.open("rb") as copy, first.video.open("rb") as original:
        assert copy.read() == original.read()
    assert list(again.events.values_list("to_state", flat=True)) == ["queued", "ready"]
    assert "reused take #" in again.events.last().detail
    assert CreditAccount.objects.get(user=creator).balance == balance
    assert LedgerEntry.objects.filter(kind="reserve").count() == 1
    assert credit_accounts_out_of_balance() == []


def test_a_fresh_take_ignores_the_cache_and_pays(catalog, creator, shot):
    first = take_made_ready(shot_take_request(user=creator, shot=shot))
    assert shot_take_quote(shot=shot, fresh=True).cached is None
    fresh = shot_take_request(user=creator, shot=shot, fresh=True)
    assert (fresh.state, fresh.cached_from, fresh.price_credits) == ("queued", None, first.price_credits)
    assert fresh.reservation is not None


@pytest.mark.parametrize("change", ["prompt", "duration", "reference image"])
def test_any_change_to_the_request_misses_the_cache(catalog, creator, shot, change):
    first = take_made_ready(shot_take_request(user=creator, shot=shot))
    if change == "prompt":
        shot_update(shot=shot, motion="The seller turns to camera")
    elif change == "duration":
        shot_update(shot=shot, duration_seconds=3)
    else:
        character = character_create(project=shot.project, name="Mei", description="the lantern seller")
        character_image_add(character=character, upload=png_upload(1))
        shot.characters.add(character)
    quote = shot_take_quote(shot=shot)
    assert quote.cached is None and quote.cache_key != first.cache_key


def test_the_same_picture_under_another_name_still_hits_the_cache(catalog, creator, shot):
    """Inputs are keyed by content: a re-uploaded identical reference keeps the cache."""
    character = character_create(project=shot.project, name="Mei", description="the lantern seller")
    image = character_image_add(character=character, upload=png_upload(1))
    shot.characters.add(character)
    first = take_made_ready(shot_take_request(user=creator, shot=shot))
    image.delete()
    character_image_add(character=character, upload=png_upload(1))
    assert shot_take_quote(shot=shot).cache_key == first.cache_key


def test_the_cache_is_per_creator_and_skips_expired_or_failed_takes(catalog, creator, shot):
    first = take_made_ready(shot_take_request(user=creator, shot=shot))
    other = creator_create(username="bob")
    other_shot = shot_for(project_for(other))  # the same fields, so the same request
    assert shot_take_quote(shot=other_shot).cache_key == first.cache_key
    assert shot_take_quote(shot=other_shot).cached is None  # never another creator's video

    Take.objects.filter(pk=first.pk).update(files_expired_at=first.finished_at)
    assert shot_take_quote(shot=shot).cached is None
