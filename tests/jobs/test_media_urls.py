from urllib.parse import urlparse

import pytest
from django.core import signing
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from jobs.media_urls import SALT, provider_media_url

pytestmark = pytest.mark.django_db


def path_of(url: str) -> str:
    return urlparse(url).path


def test_a_signed_link_serves_the_reference_image(client, settings):
    settings.PUBLIC_BASE_URL = "https://studio.example.com"
    name = default_storage.save("references/9/ab/image.jpeg", ContentFile(b"\xff\xd8jpeg-bytes"))
    url = provider_media_url(name)
    assert url.startswith("https://studio.example.com/provider-media/")
    response = client.get(path_of(url))
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"\xff\xd8jpeg-bytes"


def test_forged_expired_and_unshareable_links_are_refused(client, settings):
    name = default_storage.save("references/9/cd/image.jpeg", ContentFile(b"x"))
    assert client.get(f"/provider-media/{signing.dumps(name, salt='other')}/").status_code == 404
    settings.PUBLIC_BASE_URL = "http://testserver"
    secret = default_storage.save("takes/draft/secret.mp4", ContentFile(b"x"))
    assert client.get(f"/provider-media/{signing.dumps(secret, salt=SALT)}/").status_code == 404
    stale = signing.TimestampSigner(salt=SALT).sign_object(name, compress=False)
    assert client.get(f"/provider-media/{stale}/").status_code in (200, 404)  # the same format: valid for a day
    import time
    from unittest import mock

    token = signing.dumps(name, salt=SALT)
    with mock.patch("django.core.signing.time.time", return_value=time.time() + 2 * 24 * 3600):
        assert client.get(f"/provider-media/{token}/").status_code == 404
