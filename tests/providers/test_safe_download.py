"""The SSRF matrix for provider output downloads.

No real DNS or network: a fake resolver answers for names, and `dial` sends every checked
connection to a local server, so a target that slipped through would show up as a hit there.
Public-looking names are served over real TLS with a certificate from a throwaway test CA.
"""

import datetime
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from providers.adapters.http import download_to
from providers.adapters.safe_download import (
    DownloadPolicy,
    NotAVideo,
    UnsafeDownload,
    address_is_public,
    download_video,
    private_hosts_allowed,
    system_resolver,
)
from providers.base import BadRequest

PUBLIC_IP = "93.184.215.14"
MP4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + b"\x00" * 4000
WEBM = b"\x1a\x45\xdf\xa3" + b"\x00" * 2000
NAMES = {
    "cdn.provider.test": [PUBLIC_IP],
    "files.other.test": ["93.184.215.15"],
    "internal.provider.test": ["10.1.2.3"],
    "mixed.provider.test": [PUBLIC_IP, "10.0.0.1"],
    "metadata.provider.test": ["169.254.169.254"],
    "v6-private.provider.test": ["fd12:3456::1"],
}


def fake_resolver(host, port):
    if host in NAMES:
        return NAMES[host]
    return system_resolver(host, port)  # IP literals only: getaddrinfo answers those without DNS


def _tls_files(tmp_path_factory):
    def name(common):
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])

    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key, leaf_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("Test CA")).issuer_name(name("Test CA"))
          .public_key(ca_key.public_key()).serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
          .not_valid_after(now + datetime.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    sans = x509.SubjectAlternativeName([x509.DNSName(host) for host in NAMES])
    leaf = (x509.CertificateBuilder().subject_name(name("cdn.provider.test")).issuer_name(ca.subject)
            .public_key(leaf_key.public_key()).serial_number(2).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=1)).add_extension(sans, critical=False)
            .sign(ca_key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    (folder / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(leaf_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (folder / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return folder


class Origin:
    """A local server that stands in for every host; it records what reached it."""

    ROUTES = {
        "/video.mp4": (200, "video/mp4", MP4),
        "/video.webm": (200, "video/webm", WEBM),
        "/page.html": (200, "text/html", b"<html>sign in</html>" * 100),
        "/noise": (200, "application/octet-stream", b"\x89PNG\r\n\x1a\n" + b"\x00" * 1000),
        "/missing": (404, "application/json", b"{}"),
    }
    REDIRECTS = {
        "/to-private": "https://10.0.0.5/video.mp4",
        "/to-metadata-name": "https://metadata.provider.test/latest/meta-data/",
        "/to-http": "http://cdn.provider.test/video.mp4",
        "/to-same": "/video.mp4",
        "/to-other": "https://files.other.test/video.mp4",
        "/loop": "/loop",
    }

    def __init__(self, tls_folder=None):
        self.hits: list[dict] = []
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):
                origin.hits.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}})
                if self.path in origin.REDIRECTS:
                    self.send_response(302)
                    self.send_header("Location", origin.REDIRECTS[self.path])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if self.path == "/chunked-big":
                    self.send_response(200)
                    self.send_header("Content-Type", "video/mp4")
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for _ in range(20):
                        self.wfile.write(b"400\r\n" + MP4[:1024] + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                    return
                status, content_type, body = origin.ROUTES.get(self.path, (404, "text/plain", b"no"))
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls_folder:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(tls_folder / "leaf.pem", tls_folder / "key.pem")
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def tls_folder(tmp_path_factory):
    return _tls_files(tmp_path_factory)


@pytest.fixture(scope="module")
def tls_origin(tls_folder):
    server = Origin(tls_folder)
    yield server
    server.close()


@pytest.fixture
def origin(tls_origin):
    tls_origin.hits.clear()
    return tls_origin


@pytest.fixture
def policy(origin, tls_folder):
    """Every checked connection lands on the local TLS origin, whatever address passed the check."""
    def make(**overrides):
        options = dict(max_bytes=1_000_000, resolver=fake_resolver, dial=lambda ip, port: ("127.0.0.1", origin.port),
                       verify=ssl.create_default_context(cafile=str(tls_folder / "ca.pem")))
        options.update(overrides)
        return DownloadPolicy(**options)
    return make


# -- accepted -------------------------------------------------------------------------------


def test_a_video_from_a_public_https_host_is_downloaded(origin, policy, tmp_path):
    path = download_video("https://cdn.provider.test/video.mp4", tmp_path / "take.mp4", policy=policy())
    assert path.read_bytes() == MP4
    assert origin.hits[0]["headers"]["host"] == "cdn.provider.test"  # name kept: TLS and Host match the URL


def test_a_webm_is_accepted_too(policy, tmp_path):
    path = download_video("https://cdn.provider.test/video.webm", tmp_path / "take.webm", policy=policy())
    assert path.read_bytes() == WEBM


def test_a_same_host_redirect_is_followed_after_checking_it(origin, policy, tmp_path):
    download_video("https://cdn.provider.test/to-same", tmp_path / "take.mp4", policy=policy())
    assert [hit["path"] for hit in origin.hits] == ["/to-same", "/video.mp4"]


def test_the_address_checked_is_the_address_connected_dns_rebinding(origin, policy, tmp_path):
    answers = iter([[PUBLIC_IP], ["127.0.0.1"], ["127.0.0.1"]])
    calls = []

    def rebinding(host, port):
        calls.append(host)
        return next(answers)

    download_video("https://cdn.provider.test/video.mp4", tmp_path / "take.mp4", policy=policy(resolver=rebinding))
    assert calls == ["cdn.provider.test"]  # resolved once, and that checked answer was dialled


def test_an_allow_listed_emulator_may_be_plain_http_on_loopback(tmp_path):
    server = Origin()
    try:
        allowed = DownloadPolicy(max_bytes=1_000_000, private_hosts=frozenset({"127.0.0.1"}))
        path = download_video(f"http://127.0.0.1:{server.port}/video.mp4", tmp_path / "take.mp4", policy=allowed)
        assert path.read_bytes() == MP4
    finally:
        server.close()


# -- refused by address ---------------------------------------------------------------------

PRIVATE_TARGETS = [
    "127.0.0.1", "127.1.2.3", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1",
    "0.0.0.0", "224.0.0.1", "[::1]", "[::]", "[fd00::1]", "[fe80::1]", "[::ffff:127.0.0.1]",
    "[::ffff:169.254.169.254]", "[2002:7f00:1::]", "[64:ff9b::a9fe:a9fe]",
]


@pytest.mark.parametrize("target", PRIVATE_TARGETS)
def test_private_loopback_link_local_and_ipv6_targets_are_refused(target, origin, policy, tmp_path):
    with pytest.raises(UnsafeDownload):
        download_video(f"https://{target}/video.mp4", tmp_path / "take.mp4", policy=policy())
    assert origin.hits == []
    assert not (tmp_path / "take.mp4").exists()


@pytest.mark.parametrize("url", ["https://2130706433/video.mp4", "https://0x7f.1/video.mp4", "https://017700000001/video.mp4"])
def test_odd_spellings_of_loopback_are_refused_by_the_address_they_resolve_to(url, origin, policy, tmp_path):
    with pytest.raises(UnsafeDownload):
        download_video(url, tmp_path / "take.mp4", policy=policy(resolver=system_resolver))
    assert origin.hits == []


@pytest.mark.parametrize("host", ["internal.provider.test", "mixed.provider.test", "metadata.provider.test",
                                  "v6-private.provider.test"])
def test_names_that_resolve_to_private_addresses_are_refused(host, origin, policy, tmp_path):
    with pytest.raises(UnsafeDownload, match="private address"):
        download_video(f"https://{host}/video.mp4", tmp_path / "take.mp4", policy=policy())
    assert origin.hits == []


def test_address_classification():
    assert address_is_public(PUBLIC_IP) and address_is_public("2606:4700::1111")
    assert not any(address_is_public(ip) for ip in ("100.127.255.254", "198.18.0.1", "192.0.2.1", "fc00::1",
                                                    "ff02::1", "::ffff:10.0.0.1"))


# -- refused by URL shape -------------------------------------------------------------------


@pytest.mark.parametrize("url", ["http://cdn.provider.test/video.mp4", "ftp://cdn.provider.test/video.mp4",
                                 "file:///etc/passwd", "https://user:pw@cdn.provider.test/video.mp4", "/video.mp4"])
def test_non_https_schemes_and_credentials_in_urls_are_refused(url, origin, policy, tmp_path):
    with pytest.raises(UnsafeDownload):
        download_video(url, tmp_path / "take.mp4", policy=policy())
    assert origin.hits == []


def test_hosts_outside_the_providers_list_are_refused(origin, policy, tmp_path):
    only_cdn = policy(allowed_hosts=("*.provider.test",))
    with pytest.raises(UnsafeDownload, match="not one of the provider's hosts"):
        download_video("https://files.other.test/video.mp4", tmp_path / "take.mp4", policy=only_cdn)
    download_video("https://cdn.provider.test/video.mp4", tmp_path / "take.mp4", policy=only_cdn)


# -- refused redirects ----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/to-private", "/to-metadata-name", "/to-http"])
def test_redirects_to_private_or_plain_http_hosts_are_refused(path, origin, policy, tmp_path):
    with pytest.raises(UnsafeDownload):
        download_video(f"https://cdn.provider.test{path}", tmp_path / "take.mp4", policy=policy())
    assert [hit["path"] for hit in origin.hits] == [path]  # the second hop never connected


def test_a_redirect_off_the_providers_hosts_is_refused(origin, policy, tmp_path):
    with pytest.raises(UnsafeDownload):
        download_video("https://cdn.provider.test/to-other", tmp_path / "take.mp4",
                       policy=policy(allowed_hosts=("cdn.provider.test",)))
    assert len(origin.hits) == 1


def test_redirect_loops_stop(origin, policy, tmp_path):
    with pytest.raises(UnsafeDownload, match="redirected more than 3 times"):
        download_video("https://cdn.provider.test/loop", tmp_path / "take.mp4", policy=policy())
    assert len(origin.hits) == 4


def test_credentials_do_not_follow_a_redirect_to_another_origin(origin, policy, tmp_path):
    download_video("https://cdn.provider.test/to-other", tmp_path / "take.mp4", policy=policy(),
                   headers={"Authorization": "Bearer secret"})
    first, second = origin.hits
    assert first["headers"]["authorization"] == "Bearer secret"
    assert "authorization" not in second["headers"] and second["headers"]["host"] == "files.other.test"


def test_a_callers_client_lends_its_headers_and_hooks_to_its_own_origin_only(origin, policy, tmp_path):
    def stamp(request):
        request.headers["x-hook"] = "ran"

    keyed = httpx.Client(headers={"x-api-key": "secret"}, event_hooks={"request": [stamp]})
    try:
        download_video("https://cdn.provider.test/to-other", tmp_path / "take.mp4", policy=policy(), client=keyed)
    finally:
        keyed.close()
    first, second = origin.hits
    assert first["headers"]["x-api-key"] == "secret" and first["headers"]["x-hook"] == "ran"
    assert "x-api-key" not in second["headers"] and "x-hook" not in second["headers"]


# -- refused content ------------------------------------------------------------------------


def test_a_video_over_the_size_cap_is_refused_by_its_declared_length(policy, tmp_path):
    with pytest.raises(BadRequest, match="byte limit"):
        download_video("https://cdn.provider.test/video.mp4", tmp_path / "take.mp4", policy=policy(max_bytes=1000))
    assert not (tmp_path / "take.mp4").exists()


def test_a_chunked_video_over_the_size_cap_is_cut_off(policy, tmp_path):
    with pytest.raises(BadRequest, match="byte limit"):
        download_video("https://cdn.provider.test/chunked-big", tmp_path / "take.mp4", policy=policy(max_bytes=5000))
    assert not (tmp_path / "take.mp4").exists()


@pytest.mark.parametrize("path", ["/page.html", "/noise"])
def test_content_that_is_not_a_video_is_refused(path, policy, tmp_path):
    with pytest.raises(NotAVideo):
        download_video(f"https://cdn.provider.test{path}", tmp_path / "take.mp4", policy=policy())
    assert not (tmp_path / "take.mp4").exists()


def test_an_error_status_keeps_its_meaning(policy, tmp_path):
    with pytest.raises(BadRequest, match="404"):
        download_video("https://cdn.provider.test/missing", tmp_path / "take.mp4", policy=policy())


# -- settings, through download_to ----------------------------------------------------------


def test_download_to_refuses_loopback_unless_the_setting_allows_it(settings, tmp_path):
    server = Origin()
    url = f"http://127.0.0.1:{server.port}/video.mp4"
    try:
        settings.PROVIDER_DOWNLOAD_ALLOW_PRIVATE_HOSTS = []
        with pytest.raises(UnsafeDownload):
            download_to(url, tmp_path / "take.mp4", max_bytes=1_000_000)
        assert server.hits == []
        settings.PROVIDER_DOWNLOAD_ALLOW_PRIVATE_HOSTS = ["127.0.0.1"]
        assert download_to(url, tmp_path / "take.mp4", max_bytes=1_000_000).read_bytes() == MP4
        # An allow-listed emulator stands in for the provider's CDN, so the provider's list does not apply.
        download_to(url, tmp_path / "again.mp4", max_bytes=1_000_000, allowed_hosts=("cdn.provider.test",))
    finally:
        server.close()


def test_production_without_the_setting_allows_no_private_host(settings):
    del settings.PROVIDER_DOWNLOAD_ALLOW_PRIVATE_HOSTS  # absent in production settings unless set
    settings.PRODUCTION, settings.PROVIDER_SANDBOX_URLS = True, {}
    assert private_hosts_allowed() == frozenset()
    settings.PRODUCTION, settings.PROVIDER_SANDBOX_URLS = False, {"luma": "http://emulators.local:9100/luma"}
    assert {"emulators.local", "127.0.0.1"} <= private_hosts_allowed()


def test_a_download_slower_than_the_time_cap_is_refused(policy, tmp_path):
    with pytest.raises(BadRequest, match="too long"):
        download_video("https://cdn.provider.test/video.mp4", tmp_path / "take.mp4", policy=policy(max_seconds=0))
    assert not (tmp_path / "take.mp4").exists()
