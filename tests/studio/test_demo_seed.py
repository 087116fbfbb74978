"""`manage.py demo_seed`: one demo creator with a ready-to-try project, however often it runs."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from PIL import Image

from billing.models import LedgerEntry
from billing.selectors import credit_account_for_user
from studio.models import CharacterImage, CharacterReference, Project, Shot

pytestmark = pytest.mark.django_db


def _seed(*args: str) -> str:
    out = StringIO()
    call_command("demo_seed", *args, stdout=out)
    return out.getvalue()


def test_running_twice_leaves_one_demo_creator_with_one_ready_project():
    _seed()
    output = _seed()

    user = get_user_model().objects.get(username="demo")
    assert get_user_model().objects.filter(username="demo").count() == 1
    assert user.check_password("shotcraft-demo")
    project = Project.objects.get(owner=user)
    assert project.name == "Neon Night Market"
    shots = list(Shot.objects.filter(project=project))
    assert len(shots) == 3
    assert len({shot.camera for shot in shots}) == 3
    assert all(3 <= shot.duration_seconds <= 5 for shot in shots)
    character = CharacterReference.objects.get(project=project)
    assert character.name == "Mei"
    assert CharacterImage.objects.filter(character=character).count() == 1
    assert [shot.title for shot in shots if character in shot.characters.all()] == ["Mei arrives"]
    assert credit_account_for_user(user_id=user.pk).available >= 500
    assert "Demo login: username 'demo', password shotcraft-demo" in output


def test_the_reference_image_is_a_stored_portrait():
    _seed()

    picture = CharacterImage.objects.get(character__name="Mei")
    with picture.image.open("rb") as handle, Image.open(handle) as image:
        assert image.height > image.width >= 512
        assert len(image.getcolors(maxcolors=1_000_000) or []) > 100  # a picture, not a flat fill


def test_credits_are_granted_once_and_topped_up_to_500(settings):
    settings.STARTER_CREDITS = 200
    _seed()
    _seed()

    user = get_user_model().objects.get(username="demo")
    grants = LedgerEntry.objects.filter(account__user=user, kind=LedgerEntry.Kind.GRANT)
    assert sorted(grants.values_list("reason", "amount")) == [("Demo top-up", 300), ("Starter credits", 200)]
    assert credit_account_for_user(user_id=user.pk).available == 500


def test_the_password_comes_from_demo_password_and_is_not_printed(monkeypatch):
    monkeypatch.setenv("DEMO_PASSWORD", "another-long-password")

    output = _seed()

    assert get_user_model().objects.get(username="demo").check_password("another-long-password")
    assert "another-long-password" not in output


def test_refuses_to_run_in_production_unless_forced(settings):
    settings.PRODUCTION = True

    with pytest.raises(CommandError, match="production"):
        _seed()
    assert not get_user_model().objects.filter(username="demo").exists()

    _seed("--force")
    assert get_user_model().objects.filter(username="demo").exists()
