"""Draft retention on local storage: old drafts lose their files, keep their rows; finals are kept."""

import io
from datetime import timedelta

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.utils import timezone

from jobs.models import Take
from jobs.retention import takes_expire_drafts
from studio.services.takes import shot_take_request
from tests.jobs.test_pipeline import take_run_and_evaluate

pytestmark = pytest.mark.django_db


def _ready(creator, shot, *, age_days: int, tier=Take.Tier.DRAFT) -> Take:
    take = shot_take_request(user=creator, shot=shot)
    take_run_and_evaluate(take.pk)
    Take.objects.filter(pk=take.pk).update(tier=tier, finished_at=timezone.now() - timedelta(days=age_days))
    take.refresh_from_db()
    assert take.state == "ready", take.failure_reason
    return take


def _run(*args, **options) -> str:
    out = io.StringIO()
    call_command("takes_expire_drafts", *args, stdout=out, **options)
    return out.getvalue()


def test_old_drafts_lose_their_files_and_say_so(catalog, creator, shot, settings):
    settings.DRAFT_RETENTION_DAYS = 30
    old = _ready(creator, shot, age_days=31)
    extra = default_storage.save(f"takes/draft/{old.public_id}/export/take.json", ContentFile(b"{}"))
    names = [old.video.name, old.poster.name, old.thumbnail.name, old.preview.name, extra]

    assert "Expired the files of 1 draft(s) older than 30 days." in _run()

    assert not any(default_storage.exists(name) for name in names)
    old.refresh_from_db()
    assert (old.video.name, old.poster.name, old.thumbnail.name, old.preview.name) == ("", "", "", "")
    assert old.state == "ready" and old.files_expired_at
    note = old.events.last()
    assert note.from_state == note.to_state == "ready" and "5 files deleted" in note.detail


def test_young_drafts_active_drafts_and_finals_are_kept(catalog, creator, shot, settings):
    settings.DRAFT_RETENTION_DAYS = 30
    young = _ready(creator, shot, age_days=29)
    final = _ready(creator, shot, age_days=400, tier=Take.Tier.FINAL)
    active = shot_take_request(user=creator, shot=shot)
    Take.objects.filter(pk=active.pk).update(created_at=timezone.now() - timedelta(days=90))
    assert takes_expire_drafts() == 0
    for take in (young, final):
        assert default_storage.exists(take.video.name) and not take.files_expired_at


def test_expiry_runs_once_and_zero_days_turns_it_off(catalog, creator, shot):
    old = _ready(creator, shot, age_days=10)
    assert takes_expire_drafts(retention_days=0) == 0
    assert "1 draft(s) older than 7 days would expire" in _run(days=7, dry_run=True)
    assert default_storage.exists(old.video.name)
    assert takes_expire_drafts(retention_days=7) == 1
    assert takes_expire_drafts(retention_days=7) == 0
    assert old.events.filter(detail__startswith="files expired:").count() == 1
