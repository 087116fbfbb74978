"""The settings module fails fast on unsafe production settings and parses DATABASE_URL."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from studio.config.env import database_from_url

ROOT = Path(__file__).resolve().parent.parent


def _django_setup(*, then: str = "", **env) -> subprocess.CompletedProcess:
    """Start Django with the real settings module in a fresh interpreter, then run `then`."""
    clean = {key: value for key, value in os.environ.items()
             if key not in ("SECRET_KEY", "DEBUG", "DJANGO_ENV", "PUBLIC_BASE_URL")}
    clean.update(DJANGO_SETTINGS_MODULE="studio.config.settings", **env)
    return subprocess.run([sys.executable, "-c", f"import django; django.setup(); {then}"], cwd=ROOT, env=clean,
                          capture_output=True, text=True, timeout=60)


def _content_security_policy(**env) -> dict[str, list[str]]:
    result = _django_setup(then="from django.conf import settings; import json; "
                                "print(json.dumps(settings.CONTENT_SECURITY_POLICY))", **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_refuses_to_start_without_secret_key():
    result = _django_setup(DJANGO_ENV="production")

    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY must be set when DJANGO_ENV=production" in result.stderr


def test_production_refuses_to_start_with_debug_on():
    result = _django_setup(DJANGO_ENV="production", SECRET_KEY="x" * 50, DEBUG="true")

    assert result.returncode != 0
    assert "ImproperlyConfigured: DEBUG must be off when DJANGO_ENV=production" in result.stderr


def test_production_starts_with_a_secret_key_and_debug_off_by_default():
    result = _django_setup(DJANGO_ENV="production", SECRET_KEY="x" * 50, PUBLIC_BASE_URL="https://studio.example.com")

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("public_base_url", [None, "http://studio.example.com"])
def test_production_refuses_to_start_without_its_https_public_address(public_base_url):
    env = {"PUBLIC_BASE_URL": public_base_url} if public_base_url else {}
    result = _django_setup(DJANGO_ENV="production", SECRET_KEY="x" * 50, **env)

    assert result.returncode != 0
    assert "PUBLIC_BASE_URL must be set to this app's https:// address" in result.stderr


def test_a_boolean_variable_with_a_bad_value_is_refused():
    result = _django_setup(DEBUG="maybe")

    assert result.returncode != 0
    assert "DEBUG must be a boolean" in result.stderr


def test_postgres_url_becomes_a_postgresql_database():
    config = database_from_url("postgres://shot%40craft:p%3Ass@db.internal:6543/shotcraft?sslmode=require")

    assert config["ENGINE"] == "django.db.backends.postgresql"
    assert (config["NAME"], config["USER"], config["PASSWORD"]) == ("shotcraft", "shot@craft", "p:ss")
    assert (config["HOST"], config["PORT"]) == ("db.internal", "6543")
    assert config["OPTIONS"] == {"sslmode": "require"}


def test_postgres_url_without_password_or_port():
    config = database_from_url("postgresql://postgres@127.0.0.1/shotcraft")

    assert (config["USER"], config["PASSWORD"], config["HOST"], config["PORT"]) == ("postgres", "", "127.0.0.1", "")
    assert config["NAME"] == "shotcraft"


def test_sqlite_url_becomes_a_sqlite_database():
    assert database_from_url("sqlite:////tmp/shotcraft.sqlite3") == {
        "ENGINE": "django.db.backends.sqlite3", "NAME": "/tmp/shotcraft.sqlite3",
    }
    assert database_from_url("sqlite:///var/shotcraft.sqlite3")["NAME"] == "var/shotcraft.sqlite3"
    assert database_from_url("sqlite://")["NAME"] == ":memory:"


@pytest.mark.parametrize("url", ["mysql://root@127.0.0.1/shotcraft", "shotcraft.sqlite3", ""])
def test_other_database_urls_are_refused(url):
    with pytest.raises(ImproperlyConfigured, match="DATABASE_URL scheme must be postgres:// or sqlite://"):
        database_from_url(url)


def test_the_channel_layer_read_timeout_outlasts_its_blocking_receive(settings):
    """Else redis-py's read timeout ends an idle receive first and the websocket closes with 1011."""
    from channels_redis.core import RedisChannelLayer

    (host,) = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"]
    assert host["socket_timeout"] > RedisChannelLayer.brpop_timeout


def _database_settings(**env) -> dict:
    """settings.DATABASES["default"] as the real settings module builds it from `env`."""
    import json

    script = "import json, django; django.setup(); from django.conf import settings; print(json.dumps(settings.DATABASES['default'], default=str))"
    clean = {key: value for key, value in os.environ.items() if not key.startswith("DATABASE_")}
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
                            env={**clean, "DJANGO_SETTINGS_MODULE": "studio.config.settings", **env})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_postgresql_connections_are_pooled_per_process_unless_the_pool_is_turned_off():
    url = "postgres://postgres@127.0.0.1:5432/shotcraft"

    pooled = _database_settings(DATABASE_URL=url, DATABASE_POOL_MAX_SIZE="7", DATABASE_POOL_TIMEOUT_SECONDS="3")
    unpooled = _database_settings(DATABASE_URL=url, DATABASE_POOL_MAX_SIZE="0")

    assert pooled["CONN_MAX_AGE"] == unpooled["CONN_MAX_AGE"] == 0
    assert (pooled["OPTIONS"]["pool"]["max_size"], pooled["OPTIONS"]["pool"]["timeout"]) == (7, 3)
    assert "pool" not in unpooled["OPTIONS"]


def test_sqlite_has_no_pool():
    assert "pool" not in _database_settings(DATABASE_URL="sqlite:////tmp/shotcraft-settings-test.sqlite3")["OPTIONS"]


def test_the_content_security_policy_allows_media_only_from_here_by_default():
    policy = _content_security_policy()

    assert policy["img-src"] == policy["media-src"] == ["'self'"]
    assert policy["form-action"] == ["'self'"]


def test_the_content_security_policy_allows_media_from_the_s3_bucket():
    policy = _content_security_policy(AWS_STORAGE_BUCKET_NAME="shotcraft-media", AWS_S3_REGION_NAME="eu-west-1")

    assert policy["img-src"] == policy["media-src"] == [
        "'self'", "https://shotcraft-media.s3.amazonaws.com", "https://shotcraft-media.s3.eu-west-1.amazonaws.com"]


def test_the_content_security_policy_allows_media_from_an_s3_compatible_endpoint():
    policy = _content_security_policy(AWS_STORAGE_BUCKET_NAME="media", AWS_S3_ENDPOINT_URL="https://minio.example.com:9000/")

    assert policy["img-src"] == policy["media-src"] == ["'self'", "https://minio.example.com:9000"]


def test_the_content_security_policy_lets_forms_go_on_to_stripe_checkout_when_purchases_are_on():
    policy = _content_security_policy(STRIPE_SECRET_KEY="sk_test_x", STRIPE_WEBHOOK_SECRET="whsec_x")

    assert policy["form-action"] == ["'self'", "https://checkout.stripe.com"]
