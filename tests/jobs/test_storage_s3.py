"""Take outputs through django-storages' S3 backend, against moto's S3 server on a local port.

The STORAGES setting is the one production uses when AWS_STORAGE_BUCKET_NAME is set, pointed at
the emulator; the pipeline, the preview, the export and draft expiry all go through it.
"""

import json
import socket
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from django.core.files import File
from django.core.management import call_command
from django.utils import timezone
from moto.server import ThreadedMotoServer

from jobs.media import video_preview
from jobs.models import Take
from jobs.provenance import take_export_store
from studio.services.takes import shot_take_request
from tests.jobs.test_pipeline import take_run_and_evaluate

pytestmark = pytest.mark.django_db
BUCKET = "shotcraft-test-media"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "region_name": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint():
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(settings, s3_endpoint):
    client = boto3.client("s3", endpoint_url=s3_endpoint, **CREDENTIALS)
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {"bucket_name": BUCKET, "endpoint_url": s3_endpoint, "region_name": "us-east-1",
                        "access_key": "testing", "secret_key": "testing",
                        "querystring_auth": True, "file_overwrite": False},
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    yield client
    keys = [item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    if keys:
        client.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": key} for key in keys]})
    client.delete_bucket(Bucket=BUCKET)


def _keys(client) -> set[str]:
    return {item["Key"] for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])}


@pytest.fixture
def ready_take(s3, catalog, creator, shot):
    take = shot_take_request(user=creator, shot=shot)
    take_run_and_evaluate(take.pk)
    take.refresh_from_db()
    assert take.state == "ready", take.failure_reason
    return take


def test_a_takes_outputs_are_stored_in_and_read_from_the_bucket(s3, ready_take):
    folder = f"takes/draft/{ready_take.public_id}/"
    assert {ready_take.video.name, ready_take.poster.name, ready_take.thumbnail.name} <= _keys(s3)
    assert all(name.startswith(folder) for name in (ready_take.video.name, ready_take.poster.name))
    stored = s3.get_object(Bucket=BUCKET, Key=ready_take.video.name)["Body"].read()
    with ready_take.video.open("rb") as handle:
        assert handle.read() == stored and stored[4:8] == b"ftyp"
    assert ready_take.poster.width == 854  # Pillow read the poster back through the storage
    url = ready_take.video.url
    assert url.startswith("http://127.0.0.1") and "Signature=" in url  # private bucket, signed URL


def test_the_animated_preview_and_the_export_are_stored_beside_the_take(s3, ready_take, tmp_path, settings):
    local = tmp_path / "take.mp4"
    with ready_take.video.open("rb") as handle:
        local.write_bytes(handle.read())
    preview = video_preview(local, tmp_path / "stills")
    with preview.open("rb") as handle:
        ready_take.video.storage.save(f"takes/draft/{ready_take.public_id}/{preview.name}", File(handle))
    settings.C2PA_SIGNING_CERT_PATH = ""
    names = take_export_store(ready_take)
    assert names["video"] == ready_take.video.name  # unsigned: the stored video is the export
    sidecar = json.loads(s3.get_object(Bucket=BUCKET, Key=names["sidecar"])["Body"].read())
    assert sidecar["take"]["id"] == str(ready_take.public_id)
    assert f"takes/draft/{ready_take.public_id}/preview.webp" in _keys(s3)


def test_expired_drafts_lose_their_files_in_the_bucket_but_keep_their_rows(s3, ready_take, catalog, creator, shot):
    final = shot_take_request(user=creator, shot=shot)
    take_run_and_evaluate(final.pk)
    Take.objects.filter(pk=final.pk).update(tier=Take.Tier.FINAL)  # finals are kept, whatever their age
    long_ago = timezone.now() - timedelta(days=40)
    Take.objects.filter(pk__in=[ready_take.pk, final.pk]).update(finished_at=long_ago)
    final.refresh_from_db()
    kept = {final.video.name, final.poster.name, final.thumbnail.name}

    call_command("takes_expire_drafts", days=30, stdout=open("/dev/null", "w"))

    keys = _keys(s3)
    assert not [key for key in keys if key.startswith(f"takes/draft/{ready_take.public_id}/")]
    assert kept <= keys
    ready_take.refresh_from_db()
    assert (ready_take.video.name, ready_take.poster.name, ready_take.thumbnail.name) == ("", "", "")
    assert ready_take.state == "ready" and ready_take.files_expired_at
    assert not final.files_expired_at
    assert Path(final.video.name).parent.name == str(final.public_id)
