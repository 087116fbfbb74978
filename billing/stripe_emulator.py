"""A local stand-in for the parts of Stripe that credit purchases use, for development and tests.

It speaks the contract the official `stripe` library and our webhook expect:

* `POST /v1/checkout/sessions` (form-encoded, as stripe-python sends it) creates a Checkout
  Session; `GET /v1/checkout/sessions/<id>` retrieves it. Both need `Authorization: Bearer sk_…`.
* `complete(session_id, paid=…)` plays the customer finishing Checkout: paid at once (cards) or
  still `unpaid` (delayed methods such as bank debits), and `pay_async(session_id)` settles
  the latter later.
* `event(...)` builds a `checkout.session.completed` / `checkout.session.async_payment_succeeded`
  event and `sign(payload)` gives the documented `Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256
  of "t.payload">` header; `deliver(event, url)` POSTs it like Stripe does.

Run it alone with `python -m billing.stripe_emulator --port 12111`, then point the app at it with
STRIPE_API_BASE=http://127.0.0.1:12111 (any sk_test_… key and whsec_… secret).
"""

import hashlib
import hmac
import json
import secrets
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlparse

import httpx


def stripe_signature_header(*, payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """Stripe's documented scheme: v1 = hex HMAC-SHA256(secret, f"{t}.{payload}")."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    return f"t={timestamp},v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"


def _nest(pairs: list[tuple[str, str]]) -> dict:
    """Undo Stripe's form encoding: `line_items[0][price_data][unit_amount]=100` → nested dicts."""
    root: dict = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return root


def _session_from_form(form: dict, base_url: str) -> dict:
    items = [form["line_items"][k] for k in sorted(form.get("line_items", {}), key=int)]
    amount = sum(int(i["price_data"]["unit_amount"]) * int(i.get("quantity", 1)) for i in items)
    currency = items[0]["price_data"]["currency"] if items else "usd"
    session_id = f"cs_test_{secrets.token_hex(12)}"
    return {
        "id": session_id, "object": "checkout.session", "mode": form.get("mode", "payment"),
        "status": "open", "payment_status": "unpaid", "amount_total": amount, "amount_subtotal": amount,
        "currency": currency, "client_reference_id": form.get("client_reference_id"),
        "customer_email": form.get("customer_email"), "metadata": form.get("metadata", {}),
        "success_url": form.get("success_url"), "cancel_url": form.get("cancel_url"),
        "payment_intent": None, "created": int(time.time()), "livemode": False,
        "url": f"{base_url}/pay/{session_id}",
    }


class StripeEmulator:
    def __init__(self, *, webhook_secret: str, host: str = "127.0.0.1", port: int = 0):
        self.webhook_secret = webhook_secret
        self.sessions: dict[str, dict] = {}
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self.base_url = f"http://{host}:{self._server.server_address[1]}"
        self._thread: threading.Thread | None = None

    # --- HTTP -----------------------------------------------------------------------------
    def _handler(self):
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _reply(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", f"req_{secrets.token_hex(6)}")
                self.end_headers()
                self.wfile.write(data)

            def _authorised(self) -> bool:
                if (self.headers.get("Authorization") or "").startswith("Bearer sk_"):
                    return True
                self._reply(401, {"error": {"type": "invalid_request_error", "message": "Invalid API Key provided"}})
                return False

            def do_POST(self):
                emulator.requests.append(("POST", self.path))
                if not self._authorised():
                    return
                if urlparse(self.path).path != "/v1/checkout/sessions":
                    return self._reply(404, {"error": {"type": "invalid_request_error", "message": "Unrecognized request URL"}})
                length = int(self.headers.get("Content-Length") or 0)
                form = _nest(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
                session = _session_from_form(form, emulator.base_url)
                with emulator._lock:
                    emulator.sessions[session["id"]] = session
                self._reply(200, session)

            def do_GET(self):
                emulator.requests.append(("GET", self.path))
                if not self._authorised():
                    return
                path = urlparse(self.path).path
                session = emulator.sessions.get(path.removeprefix("/v1/checkout/sessions/"))
                if not path.startswith("/v1/checkout/sessions/") or session is None:
                    return self._reply(404, {"error": {"type": "invalid_request_error", "code": "resource_missing",
                                                       "message": "No such checkout.session"}})
                self._reply(200, session)

        return Handler

    def start(self) -> "StripeEmulator":
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- what customers and Stripe do -------------------------------------------------------
    def complete(self, session_id: str, *, paid: bool = True) -> dict:
        with self._lock:
            session = self.sessions[session_id]
            session.update(status="complete", payment_status="paid" if paid else "unpaid",
                           payment_intent=f"pi_test_{secrets.token_hex(8)}")
            return dict(session)

    def pay_async(self, session_id: str) -> dict:
        with self._lock:
            self.sessions[session_id]["payment_status"] = "paid"
            return dict(self.sessions[session_id])

    def event(self, session_id: str, type: str = "checkout.session.completed") -> dict:
        return {"id": f"evt_{secrets.token_hex(12)}", "object": "event", "api_version": "2025-08-27.basil",
                "type": type, "created": int(time.time()), "livemode": False,
                "data": {"object": dict(self.sessions[session_id])}}

    def sign(self, payload: bytes, *, timestamp: int | None = None, secret: str | None = None) -> str:
        return stripe_signature_header(payload=payload, secret=secret or self.webhook_secret, timestamp=timestamp)

    def deliver(self, event: dict, url: str, *, timestamp: int | None = None) -> httpx.Response:
        payload = json.dumps(event).encode()
        headers = {"Stripe-Signature": self.sign(payload, timestamp=timestamp), "Content-Type": "application/json"}
        return httpx.post(url, content=payload, headers=headers, timeout=15)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Local Stripe Checkout emulator")
    parser.add_argument("--port", type=int, default=12111)
    parser.add_argument("--webhook-secret", default="whsec_emulator")
    args = parser.parse_args()
    emulator = StripeEmulator(webhook_secret=args.webhook_secret, port=args.port)
    print(f"Stripe emulator on {emulator.base_url}")
    emulator._server.serve_forever()
