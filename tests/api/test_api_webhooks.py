"""The webhooks API: register (secret once), list, change, rotate, remove; the delivery log and resend."""

import pytest

from jobs.outbound.models import WebhookDelivery, WebhookEndpoint
from jobs.outbound.record import outbound_event_record
from tests.factories import creator_create

pytestmark = pytest.mark.django_db

HOOK = "http://127.0.0.1:9/hook"  # loopback is allowed outside production; nothing is sent in these tests


def test_an_endpoint_is_registered_and_its_secret_shown_only_then(api):
    created = api.post("/webhooks/endpoints", {"url": HOOK, "events": ["take.ready", "credits.low"]})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_") and body["events"] == ["take.ready", "credits.low"]
    listed = api.get("/webhooks/endpoints").json()
    assert [endpoint["id"] for endpoint in listed] == [body["id"]] and "secret" not in listed[0]
    rotated = api.post(f"/webhooks/endpoints/{body['id']}/rotate-secret").json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != body["secret"]


@pytest.mark.parametrize("url, message", [
    ("https://10.1.2.3/hook", "private address"),
    ("http://example.com/hook", "https only"),
])
def test_a_refused_url_is_a_field_error_with_the_reason(api, url, message):
    answer = api.post("/webhooks/endpoints", {"url": url, "events": ["take.ready"]})
    assert answer.status_code == 422
    assert message in answer.json()["errors"]["url"][0]


def test_an_unknown_event_kind_is_refused(api):
    answer = api.post("/webhooks/endpoints", {"url": HOOK, "events": ["take.exploded"]})
    assert answer.status_code == 422 and "events" in str(answer.json()["errors"])


def test_another_creators_endpoint_answers_404(api):
    other = creator_create(username="grace")
    endpoint = WebhookEndpoint.objects.create(owner=other, url=HOOK, event_kinds=["take.ready"], secret="whsec_x")
    assert api.patch(f"/webhooks/endpoints/{endpoint.public_id}", {"enabled": False}).status_code == 404
    assert api.get(f"/webhooks/endpoints/{endpoint.public_id}/deliveries").status_code == 404


def test_the_delivery_log_and_resend(api, creator, django_capture_on_commit_callbacks):
    endpoint_id = api.post("/webhooks/endpoints", {"url": HOOK, "events": ["credits.low"]}).json()["id"]
    outbound_event_record(owner_id=creator.pk, kind="credits.low", data={"available_credits": 3})
    delivery = WebhookDelivery.objects.get()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(state="dead", attempts=3, last_status_code=500)
    log = api.get(f"/webhooks/endpoints/{endpoint_id}/deliveries").json()["items"]
    assert log[0]["event_type"] == "credits.low" and log[0]["state"] == "dead"
    assert log[0]["event_id"] == delivery.event.message_id
    with django_capture_on_commit_callbacks() as sent:
        resent = api.post(f"/webhooks/deliveries/{delivery.pk}/resend")
    assert resent.status_code == 202 and resent.json()["state"] == "pending" and len(sent) == 1


def test_a_disabled_endpoint_is_enabled_again_with_a_fresh_start(api, creator):
    endpoint_id = api.post("/webhooks/endpoints", {"url": HOOK, "events": ["credits.low"]}).json()["id"]
    WebhookEndpoint.objects.update(enabled=False, disabled_reason="failing for days", failing_since="2026-01-01T00:00Z")
    enabled = api.patch(f"/webhooks/endpoints/{endpoint_id}", {"enabled": True}).json()
    assert enabled["enabled"] and enabled["disabled_reason"] == "" and enabled["failing_since"] is None
    assert api.client.delete(f"/api/webhooks/endpoints/{endpoint_id}",
                             headers={"Authorization": f"Bearer {api.key}"}).status_code == 204
    assert not WebhookEndpoint.objects.exists()
