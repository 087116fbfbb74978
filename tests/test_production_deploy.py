"""The production shape: `check --deploy` clean with production settings; static files collected,
hashed, compressed and served by whitenoise from daphne; local media only through signed, expiring
links; one process file for `make run` and production."""

import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from studio.config.media import link_expiry
from studio.devstack import procfile_command, procfile_processes, stack_commands
from tests.stack import ROOT, daphne_server

PRODUCTION = {"DJANGO_ENV": "production", "SECRET_KEY": "k" * 20 + "-production-test-secret-" + "z" * 30,
              "PUBLIC_BASE_URL": "https://studio.example.com", "ALLOWED_HOSTS": "studio.example.com,127.0.0.1",
              "CSRF_TRUSTED_ORIGINS": "https://studio.example.com", "METRICS_TOKEN": "m" * 40}


def manage(*arguments: str, **env: str) -> subprocess.CompletedProcess:
    clean = {key: value for key, value in os.environ.items() if key not in ("DEBUG", "SERVE_STATIC", "PROVIDER_SANDBOX_URLS")}
    clean.update(DJANGO_SETTINGS_MODULE="studio.config.settings", **PRODUCTION, **env)
    return subprocess.run([sys.executable, "manage.py", *arguments], cwd=ROOT, env=clean, capture_output=True,
                          text=True, timeout=300)


def test_check_deploy_is_clean_with_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


@pytest.mark.django_db(transaction=True)
@pytest.mark.stack
def test_daphne_in_production_serves_hashed_compressed_static_files_through_whitenoise(tmp_path):
    static_root = tmp_path / "static"
    collected = manage("collectstatic", "--noinput", STATIC_ROOT=str(static_root))
    assert collected.returncode == 0, collected.stderr
    env = {**PRODUCTION, "STATIC_ROOT": str(static_root), "SERVE_STATIC": "0", "PROVIDER_SANDBOX_URLS": "{}"}
    with daphne_server(tmp_path / "daphne.log", **env) as url:
        behind_nginx = {"X-Forwarded-Proto": "https", "Host": "studio.example.com"}
        login = urllib.request.urlopen(urllib.request.Request(f"{url}/login/", headers=behind_nginx)).read().decode()
        stylesheet = re.search(r'href="(/static/css/app\.[0-9a-f]{12}\.css)"', login)
        assert stylesheet, login[:2000]
        request = urllib.request.Request(url + stylesheet[1], headers={**behind_nginx, "Accept-Encoding": "gzip"})
        with urllib.request.urlopen(request) as answer:
            assert answer.status == 200 and answer.headers["Content-Encoding"] == "gzip"
            assert "immutable" in answer.headers["Cache-Control"]
        ready = urllib.request.urlopen(urllib.request.Request(f"{url}/readyz/", headers=behind_nginx))
        assert ready.status == 200


@pytest.mark.django_db
def test_local_media_is_served_only_through_a_signed_unexpired_link(client):
    name = default_storage.save("takes/draft/signed-test/poster.jpg", ContentFile(b"\xff\xd8 a poster"))
    url = default_storage.url(name)
    assert re.fullmatch(r"/media/takes/draft/signed-test/poster\.jpg\?s=\d+\.[\w-]+", url), url
    answer = client.get(url)
    assert answer.status_code == 200 and b"".join(answer.streaming_content) == b"\xff\xd8 a poster"
    assert answer["Cache-Control"].startswith("private, max-age=")
    bare, query = url.split("?")
    assert client.get(bare).status_code == 404
    assert client.get(bare.replace("poster", "other") + "?" + query).status_code == 404  # signed for another file
    expiry, signature = query.removeprefix("s=").split(".")
    assert client.get(f"{bare}?s={int(expiry) + 3600}.{signature}").status_code == 404  # a later expiry is not signed
    assert link_expiry(now=time.time()) - time.time() > 3600  # a link lives at least an hour


@pytest.mark.django_db
def test_signed_media_answers_byte_ranges_so_players_can_seek(client):
    name = default_storage.save("takes/draft/ranged/video.mp4", ContentFile(bytes(range(100))))
    url = default_storage.url(name)
    middle = client.get(url, HTTP_RANGE="bytes=10-19")
    assert middle.status_code == 206 and middle["Content-Range"] == "bytes 10-19/100"
    assert b"".join(middle.streaming_content) == bytes(range(10, 20)) and middle["Content-Type"] == "video/mp4"
    assert b"".join(client.get(url, HTTP_RANGE="bytes=95-").streaming_content) == bytes(range(95, 100))
    assert b"".join(client.get(url, HTTP_RANGE="bytes=-3").streaming_content) == bytes(range(97, 100))
    assert client.get(url, HTTP_RANGE="bytes=100-")["Content-Range"] == "bytes */100"
    assert client.get(url, HTTP_RANGE="bytes=100-").status_code == 416
    whole = client.get(url)
    assert whole.status_code == 200 and whole["Accept-Ranges"] == "bytes"
    assert client.get(url.split("?")[0], HTTP_RANGE="bytes=0-9").status_code == 404  # still signed only


def test_make_run_starts_the_procfiles_processes_and_production_runs_the_self_hosted_and_webhooks_workers():
    processes = procfile_processes()
    assert {"release", "web", "worker", "evaluator", "webhooks", "models", "beat"} <= set(processes)
    schedule = Path("/tmp/beat-schedule")
    development = stack_commands(8123, schedule, env={})
    assert set(development) == set(processes) - {"release", "models"}
    assert development["web"][-4:] == ["127.0.0.1", "-p", "8123", "studio.config.asgi:application"]
    for name in development:
        production_line = procfile_command(processes[name], {"BIND_ADDRESS": "127.0.0.1", "PORT": "8123",
                                                             "CELERY_BEAT_SCHEDULE_FILE": str(schedule)})
        assert development[name] == production_line
    with_models = stack_commands(8123, schedule, env={"SELF_HOSTED_MODEL_DIR": "/models"})
    assert "models" in with_models
    assert "collectstatic" in processes["release"]


def test_every_queue_the_app_sends_to_has_a_process_consuming_it(settings):
    env = {"CELERY_QUEUE_PREFIX": os.environ.get("CELERY_QUEUE_PREFIX", "")}  # this test run's (tests/settings.py)
    consumed = set()
    for line in procfile_processes().values():
        queues = re.search(r"-Q (\S+)", " ".join(procfile_command(line, env)))
        if queues:
            consumed |= set(queues[1].split(","))
    assert {settings.CELERY_TASK_DEFAULT_QUEUE, settings.EVALUATION_QUEUE, settings.LOCAL_RENDER_QUEUE,
            settings.SELF_HOSTED_QUEUE, settings.WEBHOOK_QUEUE} <= consumed
