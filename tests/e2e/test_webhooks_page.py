"""The account's webhooks page in a real Chromium: add an endpoint, see its secret once, read the
delivery log of a delivery that really reached a loopback receiver; nothing refused by the CSP."""

import pytest
from playwright.sync_api import expect

from jobs.outbound.delivery import webhook_delivery_attempt
from jobs.outbound.endpoints import webhook_endpoint_create
from jobs.outbound.models import WebhookDelivery
from jobs.outbound.record import outbound_event_record
from tests.e2e.test_csp_pages import VIOLATIONS_RECORDED, session_cookie
from tests.factories import creator_create
from tests.outbound.receiver import Answer, LoopbackReceiver

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def receiver():
    with LoopbackReceiver(lambda count, request: Answer(503, body=b'{"error":"busy"}') if count == 0 else Answer()) as server:
        yield server


@pytest.fixture
def creator_with_a_delivery_log(receiver):
    """Made before the browser starts its event loop in this thread: one delivery that failed once
    (503) and then went through, both attempts real requests to the receiver."""
    creator = creator_create(username="wh")
    endpoint = webhook_endpoint_create(owner=creator, url=receiver.url, event_kinds=["credits.low", "take.ready"],
                                       description="Render farm bridge").endpoint
    outbound_event_record(owner_id=creator.pk, kind="credits.low", data={"available_credits": 42})
    delivery = WebhookDelivery.objects.get()
    webhook_delivery_attempt(delivery_id=delivery.pk)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=delivery.created_at)  # due again now
    webhook_delivery_attempt(delivery_id=delivery.pk)
    return creator, endpoint


def test_a_creator_adds_an_endpoint_sees_the_secret_once_and_reads_the_delivery_log(
        creator_with_a_delivery_log, receiver, live_server_url, page, screenshots):
    creator, endpoint = creator_with_a_delivery_log
    page.add_init_script(VIOLATIONS_RECORDED)
    page.context.add_cookies([session_cookie(creator, live_server_url)])

    page.goto("/account/webhooks/")
    page.get_by_label("Endpoint URL").fill(receiver.url.replace("/hook", "/second"))
    page.get_by_label("credits.low").check()
    page.get_by_role("button", name="Add endpoint").click()
    secret = page.get_by_label("Signing secret")
    expect(secret).to_contain_text("whsec_")
    page.screenshot(path=str(screenshots / "webhook-secret.png"), full_page=True)

    page.goto("/account/webhooks/")
    expect(page.get_by_role("link", name=endpoint.url)).to_be_visible()
    page.screenshot(path=str(screenshots / "webhooks.png"), full_page=True)
    page.get_by_role("link", name=endpoint.url).click()
    expect(page.get_by_text("Delivered")).to_be_visible()
    expect(page.get_by_text('{"error":"busy"}')).to_have_count(0)  # the newest attempt's answer is shown: "ok"
    expect(page.locator(".attempt-list li")).to_have_count(2)
    page.screenshot(path=str(screenshots / "webhook-log.png"), full_page=True)
    assert page.evaluate("window.__cspViolations") == [] and page.errors == []
