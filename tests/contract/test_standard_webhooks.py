"""Standard Webhooks verification, shared by the OpenAI and Replicate adapters and emulators."""

import base64
import json

import pytest
from openai.lib._webhooks import webhook_signature_matches
from replicate.webhook import Webhooks, WebhookSigningSecret

from providers.adapters import standard_webhooks
from providers.base import WebhookRejected

SECRET = "whsec_" + base64.b64encode(b"a shared secret of 32 bytes long").decode()
BODY = json.dumps({"id": "evt_1", "type": "video.completed", "data": {"id": "video_1"}}).encode()
NOW = 1_800_000_000


def signed(body: bytes = BODY, *, secret: str = SECRET, timestamp: int = NOW, webhook_id: str = "msg_1") -> dict:
    return standard_webhooks.sign(body, secret, webhook_id=webhook_id, timestamp=timestamp)


def test_a_signed_delivery_verifies_and_returns_its_id():
    assert standard_webhooks.verify(signed(), BODY, SECRET, now=NOW) == "msg_1"


def test_the_published_standard_webhooks_example_verifies():
    # The example in the Standard Webhooks spec (and Svix's docs): fixed secret, id, time, body.
    headers = {"webhook-id": "msg_p5jXN8AQM9LWM0D4loKWxJek", "webhook-timestamp": "1614265330",
               "webhook-signature": "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="}
    body = b'{"test": 2432232314}'
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    assert standard_webhooks.verify(headers, body, secret, now=1614265330) == "msg_p5jXN8AQM9LWM0D4loKWxJek"


def test_our_signatures_pass_both_official_sdks():
    headers = standard_webhooks.sign(BODY, SECRET)  # now
    assert webhook_signature_matches(BODY, headers, secret=SECRET, tolerance=300)
    Webhooks.validate(headers=headers, body=BODY.decode(), secret=WebhookSigningSecret(key=SECRET), tolerance=300)
    forged = {**headers, "webhook-signature": headers["webhook-signature"][:-4] + "AAA="}
    assert not webhook_signature_matches(BODY, forged, secret=SECRET, tolerance=300)


def test_header_names_are_matched_case_insensitively():
    headers = {name.title(): value for name, value in signed().items()}
    assert standard_webhooks.verify(headers, BODY, SECRET, now=NOW) == "msg_1"


def test_any_matching_entry_of_a_rotated_signature_list_is_accepted():
    old = signed(secret=standard_webhooks.new_secret())["webhook-signature"]
    headers = {**signed(), "webhook-signature": f"{old} {signed()['webhook-signature']}"}
    assert standard_webhooks.verify(headers, BODY, SECRET, now=NOW) == "msg_1"


def test_a_secret_without_prefix_is_used_as_raw_bytes_like_the_openai_sdk():
    headers = signed(secret="plain-secret")
    assert standard_webhooks.verify(headers, BODY, "plain-secret", now=NOW)
    assert webhook_signature_matches(BODY, headers, secret="plain-secret", tolerance=10**10)


@pytest.mark.parametrize("offset", [-300, 0, 300])
def test_timestamps_within_300_seconds_either_way_are_fresh(offset):
    assert standard_webhooks.verify(signed(), BODY, SECRET, now=NOW + offset)


@pytest.mark.parametrize("offset", [-301, 301, 86_400])
def test_timestamps_beyond_300_seconds_either_way_are_rejected(offset):
    with pytest.raises(WebhookRejected, match="timestamp"):
        standard_webhooks.verify(signed(), BODY, SECRET, now=NOW + offset)


def test_a_tampered_body_is_rejected():
    with pytest.raises(WebhookRejected, match="signature"):
        standard_webhooks.verify(signed(), BODY.replace(b"completed", b"failed"), SECRET, now=NOW)


def test_a_replayed_signature_with_a_new_timestamp_is_rejected():
    headers = {**signed(), "webhook-timestamp": str(NOW + 10)}
    with pytest.raises(WebhookRejected, match="signature"):
        standard_webhooks.verify(headers, BODY, SECRET, now=NOW)


def test_a_changed_id_is_rejected():
    headers = {**signed(), "webhook-id": "msg_2"}
    with pytest.raises(WebhookRejected, match="signature"):
        standard_webhooks.verify(headers, BODY, SECRET, now=NOW)


def test_the_wrong_secret_is_rejected():
    with pytest.raises(WebhookRejected, match="signature"):
        standard_webhooks.verify(signed(secret=standard_webhooks.new_secret()), BODY, SECRET, now=NOW)


def test_signatures_of_another_scheme_version_do_not_count():
    bare = signed()["webhook-signature"].removeprefix("v1,")
    for entry in (bare, f"v1a,{bare}", f"v2,{bare}"):
        with pytest.raises(WebhookRejected, match="signature"):
            standard_webhooks.verify({**signed(), "webhook-signature": entry}, BODY, SECRET, now=NOW)


@pytest.mark.parametrize("missing", ["webhook-id", "webhook-timestamp", "webhook-signature"])
def test_each_missing_header_is_rejected(missing):
    headers = {name: value for name, value in signed().items() if name != missing}
    with pytest.raises(WebhookRejected, match=missing):
        standard_webhooks.verify(headers, BODY, SECRET, now=NOW)


def test_a_timestamp_that_is_not_a_number_is_rejected():
    with pytest.raises(WebhookRejected, match="not a number"):
        standard_webhooks.verify({**signed(), "webhook-timestamp": "yesterday"}, BODY, SECRET, now=NOW)


@pytest.mark.parametrize("secret", ["", "whsec_not*base64!"])
def test_a_missing_or_broken_secret_rejects_everything(secret):
    with pytest.raises(WebhookRejected, match="secret"):
        standard_webhooks.verify(signed(), BODY, secret, now=NOW)


def test_new_secrets_are_random_and_usable():
    first, second = standard_webhooks.new_secret(), standard_webhooks.new_secret()
    assert first != second and first.startswith("whsec_")
    assert standard_webhooks.verify(signed(secret=first), BODY, first, now=NOW)
