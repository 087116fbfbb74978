"""Vendor callbacks through our real endpoint: verified, deduplicated, applied once, forgeries refused."""

import json

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs.models import Attempt, Take, WebhookDelivery
from jobs.pipeline import enqueue
from jobs.pipeline.callbacks import callback_token, callback_url_for
from jobs.pipeline.submit import take_submit
from providers.emulators.sandbox import emulator_create
from providers.models import ProviderModel
from studio.services.takes import shot_take_request
from tests.factories import shot_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def fal(settings, catalog):
    with emulator_create("fal", latency_seconds=0.3) as emulator:
        settings.PROVIDER_SANDBOX_URLS = {"fal": emulator.url}
        settings.PUBLIC_BASE_URL = "http://127.0.0.1:9"  # nothing listens: we deliver callbacks by hand
        ProviderModel.objects.filter(slug="local-animatic").update(enabled=False)
        yield emulator


@pytest.fixture
def submitted_take(fal, creator, project):
    take = shot_take_request(user=creator, shot=shot_for(project, duration_seconds=5))
    assert take.provider_model.api_family == "fal"
    take_submit(take_id=take.pk)
    take.refresh_from_db()
    assert take.state == "generating"
    return take


def signed_callback(fal, take, phase="succeeded"):
    import time

    job = next(iter(fal.jobs.values()))
    while fal.job_phase(job)[0] != phase:
        time.sleep(0.05)
    return fal.callback_request(job, phase)


def post(client, take, body, headers, token=None):
    token = token or callback_token(family="fal", public_id=take.public_id, attempt=1)
    url = reverse("provider-callback", args=["fal", take.public_id, token])
    extra = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in headers.items() if name.lower() != "content-type"}
    return client.post(url, data=body, content_type="application/json", **extra)


def test_the_callback_url_carries_our_per_take_token(submitted_take, fal):
    url = callback_url_for(family="fal", take=submitted_take, attempt=1)
    assert url.startswith("http://127.0.0.1:9/webhooks/fal/")
    assert callback_token(family="fal", public_id=submitted_take.public_id, attempt=1) in url
    sent = [r for r in fal.requests_seen if r.method == "POST" and "fal_webhook" in r.query]
    assert sent and sent[0].query["fal_webhook"] == url


def test_a_verified_callback_is_applied_once_and_asks_for_a_poll(client, submitted_take, fal, django_capture_on_commit_callbacks):
    body, headers = signed_callback(fal, submitted_take)
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(client, submitted_take, body, headers)
    assert response.status_code == 200 and response.json() == {"status": "applied"}
    sends = [cb for cb in callbacks if cb.func.__name__ == "take_stage_send"]
    assert [cb.args for cb in sends] == [(submitted_take.pk, "poll")]
    assert Take.objects.get(pk=submitted_take.pk).wake_at <= timezone.now()  # stored: recovery polls if the send is lost
    replay = post(client, submitted_take, body, headers)
    assert replay.status_code == 409 and replay.json() == {"status": "duplicate"}
    assert WebhookDelivery.objects.count() == 1


def test_a_wrong_token_is_refused_and_changes_nothing(client, submitted_take, fal):
    body, headers = signed_callback(fal, submitted_take)
    for forged in ("0" * 40, "1.AAAA", "2." + callback_token(family="fal", public_id=submitted_take.public_id, attempt=1)[2:]):
        assert post(client, submitted_take, body, headers, token=forged).status_code == 401
    assert WebhookDelivery.objects.count() == 0


def test_a_token_signed_before_the_secret_key_was_rotated_is_still_accepted(client, submitted_take, fal, settings):
    body, headers = signed_callback(fal, submitted_take)
    token = callback_token(family="fal", public_id=submitted_take.public_id, attempt=1)
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-secret-key-after-rotation-" + "x" * 30
    assert post(client, submitted_take, body, headers, token=token).status_code == 200
    settings.SECRET_KEY_FALLBACKS = []
    assert post(client, submitted_take, body, headers, token=token).status_code == 401


def test_a_callback_heard_while_the_broker_is_down_is_kept_and_acted_on_later(
    client, submitted_take, fal, monkeypatch, django_capture_on_commit_callbacks,
):
    def broker_down(*args, **kwargs):
        raise ConnectionError("Redis is restarting")

    monkeypatch.setattr(enqueue.current_app, "send_task", broker_down)
    body, headers = signed_callback(fal, submitted_take)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, submitted_take, body, headers)
    assert response.status_code == 200 and response.json() == {"status": "applied"}  # heard: no vendor retry needed
    take = Take.objects.get(pk=submitted_take.pk)
    assert take.state == "generating" and take.wake_at <= timezone.now()  # due now: recovery sends the poll


def test_a_callback_that_arrives_before_the_job_id_is_saved_adopts_the_job(client, submitted_take, fal):
    """The vendor called back before our submit recorded its answer (or the submitting worker died)."""
    attempt = submitted_take.attempts.get()
    job_id = attempt.provider_job_id
    Attempt.objects.filter(pk=attempt.pk).update(provider_job_id="", state="submitting")
    body, headers = signed_callback(fal, submitted_take)
    response = post(client, submitted_take, body, headers)
    assert response.status_code == 200 and response.json() == {"status": "applied"}
    assert Attempt.objects.get(pk=attempt.pk).provider_job_id.endswith(json.loads(body)["request_id"])
    assert job_id.endswith(json.loads(body)["request_id"])


def test_a_tampered_or_unsigned_body_is_refused(client, submitted_take, fal):
    body, headers = signed_callback(fal, submitted_take)
    tampered = json.loads(body) | {"status": "ERROR"}
    assert post(client, submitted_take, json.dumps(tampered).encode(), headers).status_code == 400
    unsigned = {k: v for k, v in headers.items() if "signature" not in k.lower()}
    assert post(client, submitted_take, body, unsigned).status_code == 400
    assert WebhookDelivery.objects.count() == 0


def test_a_stale_timestamp_is_refused(client, submitted_take, fal):
    import time

    body, _ = signed_callback(fal, submitted_take)
    job_id = json.loads(body)["request_id"]
    old = fal.signed_headers(body, job_id, timestamp=int(time.time()) - 3600)
    assert post(client, submitted_take, body, old).status_code == 400


def test_a_callback_about_a_settled_attempt_is_recorded_but_changes_nothing(client, submitted_take, fal, django_capture_on_commit_callbacks):
    body, headers = signed_callback(fal, submitted_take)
    submitted_take.attempts.update(state="failed")  # the take moved on from this attempt (a retry, a re-route)
    with django_capture_on_commit_callbacks() as callbacks:
        response = post(client, submitted_take, body, headers)
    assert response.status_code == 409 and response.json() == {"status": "stale"}
    assert callbacks == []
    assert WebhookDelivery.objects.count() == 1


def test_a_callback_from_a_second_job_a_resend_started_is_recorded_as_unbilled_and_cancelled(
    client, submitted_take, fal, django_capture_on_commit_callbacks,
):
    """The first try's job calls back after a resend saved another job for the same attempt."""
    from billing.models import UnbilledProviderCost

    body, headers = signed_callback(fal, submitted_take)
    attempt = submitted_take.attempts.get()
    Attempt.objects.filter(pk=attempt.pk).update(provider_job_id=f"{attempt.provider_job_id}-the-resend")
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, submitted_take, body, headers)
    assert response.status_code == 200 and response.json() == {"status": "orphan"}
    orphan = UnbilledProviderCost.objects.get()
    assert orphan.confirmed and attempt.provider_job_id.endswith(orphan.vendor_job_id)
    assert orphan.usd_micros == submitted_take.provider_cost_usd_micros
    assert [r for r in fal.requests_seen if r.method == "PUT" and r.path.endswith("/cancel")]  # the vendor was told
