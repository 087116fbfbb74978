"""Shared pieces for adapter contract tests: a local endpoint that records callbacks."""

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from providers.base import (
    AuthenticationFailed,
    BadRequest,
    ContentPolicyRejected,
    InsufficientVendorCredit,
    RateLimited,
    TransientProviderError,
)

# Each emulator fault and the error class every adapter must turn it into.
FAULT_ERRORS = [
    ("429", RateLimited),
    ("500", TransientProviderError),
    ("503", TransientProviderError),
    ("timeout", TransientProviderError),
    ("malformed", TransientProviderError),
    ("policy", ContentPolicyRejected),
    ("credit", InsufficientVendorCredit),
    ("bad_request", BadRequest),
    ("auth", AuthenticationFailed),
]


class CallbackSink:
    """Receives vendor callbacks the way our webhook endpoint would, and keeps them raw."""

    def __init__(self):
        self.received: list[dict] = []
        self.reply_body = b"{}"
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                sink.received.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(sink.reply_body)))
                self.end_headers()
                self.wfile.write(sink.reply_body)

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/callback"

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.received) >= count, f"expected {count} callbacks, got {len(self.received)}"
        return self.received

    def close(self):
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def callback_sink():
    sink = CallbackSink()
    yield sink
    sink.close()


def wait_for_state(adapter, job_id: str, states: set[str], timeout: float = 15.0):
    """Poll an adapter until the job reaches one of `states`; return the last status."""
    deadline = time.monotonic() + timeout
    while True:
        status = adapter.status(job_id)
        if status.state in states or time.monotonic() > deadline:
            return status
        time.sleep(0.1)
