"""The account's webhooks page: add an endpoint (secret once), refused URLs, the delivery log, resend, admin."""

import pytest

from jobs.outbound.endpoints import webhook_endpoint_create
from jobs.outbound.models import WebhookDelivery, WebhookEndpoint
from jobs.outbound.record import outbound_event_record

pytestmark = pytest.mark.django_db


def test_adding_an_endpoint_shows_its_secret_once(creator_client):
    page = creator_client.post("/account/webhooks/", {"url": "http://127.0.0.1:9/hook", "events": ["take.ready"]})
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.secret in page.content.decode()
    later = creator_client.get(f"/account/webhooks/{endpoint.public_id}/").content.decode()
    assert endpoint.secret not in later and creator_client.get("/account/webhooks/").status_code == 200


def test_a_private_url_is_refused_on_the_form_with_the_reason(creator_client, settings):
    settings.PRODUCTION = True
    page = creator_client.post("/account/webhooks/", {"url": "http://127.0.0.1:9/hook", "events": ["take.ready"]})
    assert page.status_code == 422 and "https only" in page.content.decode()
    assert not WebhookEndpoint.objects.exists()


def test_the_delivery_log_shows_attempts_and_resends(creator_client, creator):
    endpoint = webhook_endpoint_create(owner=creator, url="http://127.0.0.1:9/hook", event_kinds=["credits.low"]).endpoint
    outbound_event_record(owner_id=creator.pk, kind="credits.low", data={})
    delivery = WebhookDelivery.objects.get()
    delivery.attempt_log.create(number=1, status_code=503, response_excerpt="upstream busy", duration_ms=12)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(state="dead", attempts=1)
    log = creator_client.get(f"/account/webhooks/{endpoint.public_id}/").content.decode()
    assert "upstream busy" in log and "Dead-lettered" in log and delivery.event.message_id in log
    creator_client.post(f"/account/webhooks/deliveries/{delivery.pk}/resend/")
    assert WebhookDelivery.objects.get().state == "pending"


def test_another_creators_endpoint_is_404(creator_client):
    from tests.factories import creator_create

    other = webhook_endpoint_create(owner=creator_create(username="grace"), url="http://127.0.0.1:9/h",
                                    event_kinds=["take.ready"]).endpoint
    assert creator_client.get(f"/account/webhooks/{other.public_id}/").status_code == 404
    assert creator_client.post(f"/account/webhooks/{other.public_id}/delete/").status_code == 404


def test_admin_lists_endpoints_deliveries_and_events_without_secrets(admin_client, creator):
    endpoint = webhook_endpoint_create(owner=creator, url="http://127.0.0.1:9/hook", event_kinds=["credits.low"]).endpoint
    outbound_event_record(owner_id=creator.pk, kind="credits.low", data={})
    delivery = WebhookDelivery.objects.get()
    for url in ("/admin/outbound/webhookendpoint/", f"/admin/outbound/webhookendpoint/{endpoint.pk}/change/",
                "/admin/outbound/webhookdelivery/", f"/admin/outbound/webhookdelivery/{delivery.pk}/change/",
                "/admin/outbound/outboxevent/"):
        page = admin_client.get(url)
        assert page.status_code == 200, url
        assert endpoint.secret not in page.content.decode()
