"""Endpoint URLs and answers under the SSRF policy of downloads: real requests to loopback receivers."""

import json
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook

from jobs.outbound.exceptions import WebhookUrlRefused
from jobs.outbound.policy import webhook_url_check
from jobs.outbound.sending import webhook_post
from jobs.outbound.signing import secret_new, signed_headers
from tests.outbound.receiver import Answer, LoopbackReceiver


@pytest.mark.parametrize("url, reason", [
    ("https://10.0.0.7/hook", "private address (10.0.0.7)"),
    ("https://169.254.169.254/latest/meta-data", "private address (169.254.169.254)"),
    ("https://[::ffff:127.0.0.1]/hook", "private address"),
    ("https://127.0.0.1/hook", "private address (127.0.0.1)"),
    ("http://hooks.example.com/hook", "https only"),
    ("https://user:pw@hooks.example.com/hook", "user name or password"),
    ("ftp://hooks.example.com/x", "must start with https://"),
])
def test_production_refuses_private_and_plain_urls_with_a_reason(settings, url, reason):
    settings.PRODUCTION = True
    with pytest.raises(WebhookUrlRefused, match=reason.replace("(", r"\(").replace(")", r"\)")):
        webhook_url_check(url)


def test_loopback_is_allowed_outside_production_only(settings):
    webhook_url_check("http://127.0.0.1:9/hook")
    settings.PRODUCTION = True
    with pytest.raises(WebhookUrlRefused):
        webhook_url_check("http://127.0.0.1:9/hook")


def _signed(body: bytes, secret: str) -> dict:
    return signed_headers(message_id="msg_test", timestamp=datetime.now(UTC), body=body, secrets_in_force=[secret])


def test_a_signed_post_verifies_with_the_standardwebhooks_library():
    secret, body = secret_new(), json.dumps({"type": "take.ready"}).encode()
    with LoopbackReceiver() as receiver:
        outcome = webhook_post(url=receiver.url, body=body, headers=_signed(body, secret))
    assert outcome.succeeded and outcome.response_excerpt == "ok"
    request = receiver.received[0]
    assert Webhook(secret).verify(request.body, request.headers) == {"type": "take.ready"}
    with pytest.raises(Exception, match="signature"):
        Webhook(secret_new()).verify(request.body, request.headers)


def test_a_redirect_is_never_followed_and_not_retried():
    with LoopbackReceiver(lambda n, r: Answer(302, {"location": "http://169.254.169.254/"})) as receiver:
        outcome = webhook_post(url=receiver.url, body=b"{}", headers=_signed(b"{}", secret_new()))
    assert outcome.status_code == 302 and outcome.refused
    assert "never follow redirects" in outcome.error
    assert len(receiver.received) == 1


def test_a_hanging_host_is_cut_off_at_the_timeout(settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 1
    with LoopbackReceiver(lambda n, r: Answer(delay=4)) as receiver:
        outcome = webhook_post(url=receiver.url, body=b"{}", headers=_signed(b"{}", secret_new()))
    assert outcome.status_code is None and "timed out" in outcome.error and not outcome.refused


def test_a_trickling_answer_is_cut_off_at_the_deadline(settings):
    settings.WEBHOOK_TIMEOUT_SECONDS = 2
    with LoopbackReceiver(lambda n, r: Answer(200, body=b"x" * 160, trickle=True)) as receiver:
        outcome = webhook_post(url=receiver.url, body=b"{}", headers=_signed(b"{}", secret_new()))
    assert "still sending" in outcome.error


def test_a_ten_megabyte_answer_is_cut_off_and_only_an_excerpt_kept():
    with LoopbackReceiver(lambda n, r: Answer(200, body=b"y" * (10 * 1024 * 1024))) as receiver:
        outcome = webhook_post(url=receiver.url, body=b"{}", headers=_signed(b"{}", secret_new()))
    assert outcome.succeeded
    assert "cut off after 65536 bytes" in outcome.error
    assert len(outcome.response_excerpt) == 1000


def test_a_host_resolving_to_a_private_address_is_refused_on_connect(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_HOSTS = ["127.0.0.1"]  # "localhost" is not on the list
    with LoopbackReceiver() as receiver:
        outcome = webhook_post(url=receiver.url.replace("127.0.0.1", "localhost").replace("http:", "https:"),
                               body=b"{}", headers={})
    assert outcome.refused and "private address" in outcome.error
    assert receiver.received == []
