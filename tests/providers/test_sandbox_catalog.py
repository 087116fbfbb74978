"""Every enabled remote catalog row renders a take end to end against its vendor's emulator.

This is where the catalog's figures, the prompt compiler, each adapter and each emulator must
agree: durations, aspect ratios, model ids and the image inputs the row claims.
"""


import pytest

from providers.catalog import catalog_defaults_read
from providers.emulators.sandbox import EMULATORS, emulator_create
from providers.models import ProviderModel
from studio.services.images import character_image_add
from studio.services.projects import character_create, shot_update
from studio.services.takes import shot_take_request
from tests.factories import project_for, shot_for
from tests.jobs.test_pipeline import png_upload
from tests.jobs.test_remote_pipeline import drive

pytestmark = pytest.mark.django_db

# Upscalers render no take from a shot: tests/jobs/test_upscale.py and tests/contract/test_upscalers.py run them.
REMOTE_ROWS = [row for row in catalog_defaults_read()
               if row["enabled"] and row["api_family"] in EMULATORS and not row.get("video_upscale")]


@pytest.fixture(scope="module")
def emulators():
    running = {family: emulator_create(family, latency_seconds=0.3).start() for family in EMULATORS}
    yield running
    for emulator in running.values():
        emulator.stop()


def test_the_catalog_has_a_row_for_every_vendor_the_issue_names():
    names = " ".join(f"{row['vendor']} {row['name']}" for row in catalog_defaults_read())
    for expected in ["Veo 3", "Veo 3.1 Fast", "Veo 3.1 Standard", "Kling 2.", "Kling 3.0", "Gen-4", "Gen-4.5 Turbo", "Aleph",
                     "Sora 2", "Sora 2 Pro", "Dream Machine", "Ray3.14", "Hailuo 2.3", "Pika 2.2", "Seedance 2.0", "PixVerse",
                     "Wan 2.", "LTX-2", "CogVideoX", "HunyuanVideo", "Stable Video Diffusion", "Animatic"]:
        assert expected in names, expected


def test_every_row_and_price_cites_its_source():
    for row in catalog_defaults_read():
        assert row["source"], row["slug"]
        assert all(price["source"] for price in row["prices"]), row["slug"]


@pytest.mark.parametrize("row", REMOTE_ROWS, ids=[row["slug"] for row in REMOTE_ROWS])
def test_each_enabled_remote_model_renders_a_take_in_the_sandbox(row, emulators, settings, catalog, creator):
    settings.PROVIDER_SANDBOX_URLS = {family: emulator.url for family, emulator in emulators.items()}
    settings.PUBLIC_BASE_URL = "http://127.0.0.1:9"
    ProviderModel.objects.exclude(slug=row["slug"]).update(enabled=False)
    duration = (row["allowed_durations"] or [min(5, row["max_duration_seconds"])])[0]
    project = project_for(creator)
    shot = shot_for(project, duration_seconds=duration, aspect_ratio=row["aspect_ratios"][0], camera="pan_left")
    if row["image_to_video"]:
        character = character_create(project=project, name="Lead")
        character_image_add(character=character, upload=png_upload((40, 120, 200), size=(640, 360)))
        shot_update(shot=shot, characters=[character])
    tier = "draft" if row["tier"] == "draft" else "final"
    take = shot_take_request(user=creator, shot=shot, tier=tier)
    assert take.provider_model.slug == row["slug"]
    take = drive(take.pk, timeout=60)
    assert take.state == "ready", f"{row['slug']}: {take.failure_reason} / {list(take.events.values_list('detail', flat=True))}"
    assert take.sandbox and take.attempts.count() == 1
