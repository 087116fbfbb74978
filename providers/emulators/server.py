"""What every vendor emulator shares: an HTTP server, simulated job timing, faults, callbacks.

A job moves queued → running → finished over `latency_seconds`, so polls see the vendor's
real sequence of statuses. Outputs are real MP4s made by the local animatic renderer, then made to
look like the requested model's work (realism.py): a seeded share comes out frozen, black, cut or
noisy, fewer the better the model, and clean ones look their tier. `defect_rate_scale` (default:
SANDBOX_DEFECT_RATE, 1) scales that share; 0 gives every job the family's one clean clip.

Faults come two ways:
* `emulator.inject(operation, fault, times=1)` (or POST /_emulator/faults with that JSON),
  where operation is a name the family's routes declare ("submit", "status", "result",
  "cancel", "download") and fault is one of FAULTS;
* markers in the prompt, for sandbox demos: "[sandbox:policy]" or "[sandbox:fail]" make the
  job fail when it finishes; "[sandbox:<fault>]" for a submit-time fault makes submission fail.
"""

import atexit
import json
import logging
import re
import shutil
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from tempfile import mkdtemp
from urllib.parse import parse_qs, urlparse

import httpx

from providers.base import RenderRequest
from providers.emulators.realism import (
    TakeLook,
    defect_rate_scale_from_env,
    look_output,
    model_quality,
    request_seed,
    take_look_plan,
)
from providers.emulators.upscale import upscaled_output
from providers.local.animatic import render_animatic

logger = logging.getLogger(__name__)

FAULTS = ("429", "500", "503", "timeout", "malformed", "policy", "credit", "bad_request", "auth")
SUBMIT_FAULT_MARKER = re.compile(r"\[sandbox:(429|500|503|timeout|malformed|credit|bad_request|auth)\]")
OUTCOME_MARKER = re.compile(r"\[sandbox:(policy|fail)\]")
TIMEOUT_HOLD_SECONDS = 6.0


class QuietServer(ThreadingHTTPServer):
    """Clients hang up during the timeout fault on purpose; that is not an error worth a traceback."""

    daemon_threads = True

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionResetError, BrokenPipeError)):
            return
        super().handle_error(request, client_address)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def json(self):
        return json.loads(self.body or b"{}")


@dataclass
class Response:
    status: int = 200
    body: bytes | dict | list | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        return json.dumps(self.body).encode()


@dataclass
class EmulatedJob:
    id: str
    prompt: str
    duration_seconds: int
    aspect_ratio: str
    created_at: float
    callback_url: str | None = None
    outcome: str = "succeed"  # or "policy", "fail"
    cancelled_at: float | None = None
    meta: dict = field(default_factory=dict)
    look: TakeLook | None = None  # how the model's output looks; None: the family's clean clip
    phases_announced: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern
    operation: str  # name used for fault injection
    handler: str  # method name on the emulator


def route(method: str, pattern: str, operation: str, handler: str) -> Route:
    return Route(method, re.compile(f"^{pattern}$"), operation, handler)


class Emulator:
    family = ""
    routes: tuple[Route, ...] = ()

    def __init__(self, *, latency_seconds: float = 2.0, host: str = "127.0.0.1", port: int = 0,
                 defect_rate_scale: float | None = None):
        self.latency_seconds = latency_seconds
        self.defect_rate_scale = defect_rate_scale_from_env() if defect_rate_scale is None else defect_rate_scale
        self.jobs: dict[str, EmulatedJob] = {}
        self.faults: list[tuple[str, str]] = []
        self.requests_seen: list[Request] = []
        self.callbacks_sent: list[dict] = []
        self._lock = threading.Lock()
        self._server = QuietServer((host, port), self._handler_class())
        self._stopping = threading.Event()

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "Emulator":
        threading.Thread(target=self._server.serve_forever, daemon=True, name=f"{self.family}-http").start()
        threading.Thread(target=self._callback_loop, daemon=True, name=f"{self.family}-callbacks").start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- faults ---------------------------------------------------------------------------
    def inject(self, operation: str, fault: str, times: int = 1) -> None:
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; choose from {', '.join(FAULTS)}")
        with self._lock:
            self.faults.extend([(operation, fault)] * times)

    def _take_fault(self, operation: str) -> str | None:
        with self._lock:
            for index, (op, fault) in enumerate(self.faults):
                if op == operation:
                    del self.faults[index]
                    return fault
        return None

    def fault_response(self, fault: str) -> Response:
        """The family's documented answer to a fault; families override `error_response`."""
        if fault == "malformed":
            return Response(200, b'{"id": "unterminated', content_type="application/json")
        if fault == "timeout":
            time.sleep(TIMEOUT_HOLD_SECONDS)
            return Response(504, {"error": "gateway timeout"})
        return self.error_response(fault)

    def error_response(self, fault: str) -> Response:
        statuses = {"429": 429, "500": 500, "503": 503, "policy": 400, "credit": 402, "bad_request": 400, "auth": 401}
        headers = {"Retry-After": "1"} if fault == "429" else {}
        return Response(statuses[fault], {"error": fault}, headers)

    # -- jobs -----------------------------------------------------------------------------
    def job_create(self, *, prompt: str, duration_seconds: int, aspect_ratio: str, callback_url: str | None = None,
                   job_id: str | None = None, model_id: str = "", seed_asked: int | None = None, **meta) -> EmulatedJob:
        """`model_id` (the vendor's id of the model asked for) and `seed_asked` decide how the output looks."""
        outcome = OUTCOME_MARKER.search(prompt)
        job = EmulatedJob(
            id=job_id or str(uuid.uuid4()), prompt=prompt, duration_seconds=duration_seconds,
            aspect_ratio=aspect_ratio, created_at=time.monotonic(), callback_url=callback_url,
            outcome=outcome.group(1) if outcome else "succeed", meta=meta,
        )
        with self._lock:
            if self.defect_rate_scale and "upscale" not in meta:  # an upscaler returns its source, enlarged
                asked_before = sum(1 for other in self.jobs.values() if other.prompt == prompt)
                seed = request_seed(seed=seed_asked, model=model_id, prompt=prompt, asked_before=asked_before)
                job.look = take_look_plan(quality=model_quality(self.family, model_id), seed=seed,
                                          scale=self.defect_rate_scale)
            self.jobs[job.id] = job
        return job

    def job_phase(self, job: EmulatedJob) -> tuple[str, int]:
        """(phase, progress percent): phase is queued, running, succeeded, failed or cancelled."""
        if job.cancelled_at is not None:
            return "cancelled", 0
        elapsed = time.monotonic() - job.created_at
        if elapsed >= self.latency_seconds:
            return ("succeeded" if job.outcome == "succeed" else "failed"), 100
        share = elapsed / self.latency_seconds if self.latency_seconds else 1
        if share < 0.2:
            return "queued", 0
        return "running", min(99, int((share - 0.2) / 0.8 * 100))

    def output_path(self, job: EmulatedJob) -> Path:
        """A real MP4 for the job: the family's clip of its shape, rendered once per process and kept
        while it runs (rendering costs seconds; emulators come and go), then given the job's look. An
        upscale job's is its source video, enlarged (meta["upscale"]: source, scale, max_long_side)."""
        if "upscale" in job.meta:
            return upscaled_output(**job.meta["upscale"])
        clip = rendered_output(self.family, job.duration_seconds, job.aspect_ratio)
        return look_output(clip, job.look) if job.look else clip

    def output_prerender(self, job: EmulatedJob) -> None:
        """Start rendering the job's video in the background, so its download is quick, as a vendor's is."""
        threading.Thread(target=self._output_prerendered, args=(job,), daemon=True, name=f"{self.family}-render").start()

    def _output_prerendered(self, job: EmulatedJob) -> None:
        try:
            self.output_path(job)
        except Exception:
            if not self._stopping.is_set():  # a render cut short by the emulator stopping is no news
                raise

    def file_url(self, job: EmulatedJob) -> str:
        return f"{self.url}/_emulator/files/{job.id}.mp4"

    # -- callbacks ------------------------------------------------------------------------
    def callback_phases(self) -> tuple[str, ...]:
        """Which phases the vendor announces by callback (families override)."""
        return ("succeeded", "failed")

    def callback_request(self, job: EmulatedJob, phase: str) -> tuple[bytes, dict[str, str]]:
        """The body and headers of one callback POST (families override and sign)."""
        raise TypeError(f"{self.family} emulator does not send callbacks")

    def _callback_loop(self) -> None:
        while not self._stopping.wait(0.1):
            for job in list(self.jobs.values()):
                if job.callback_url:
                    self._announce(job)

    def _announce(self, job: EmulatedJob) -> None:
        phase, _ = self.job_phase(job)
        if phase not in self.callback_phases() or phase in job.phases_announced:
            return
        job.phases_announced.append(phase)
        body, headers = self.callback_request(job, phase)
        try:
            response = httpx.post(job.callback_url, content=body, headers=headers, timeout=5)
            status = response.status_code
        except httpx.HTTPError as error:
            status = f"error: {error}"
        self.callbacks_sent.append({"job_id": job.id, "phase": phase, "status": status})

    # -- HTTP -----------------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        self.requests_seen.append(request)
        if request.path == "/_emulator/faults" and request.method == "POST":
            data = request.json()
            self.inject(data["operation"], data["fault"], int(data.get("times", 1)))
            return Response(204)
        match = re.match(r"^/_emulator/files/([\w-]+)\.mp4$", request.path)
        if match and request.method == "GET":
            return self._serve_file(match.group(1))
        for candidate in self.routes:
            found = candidate.pattern.match(request.path)
            if found and candidate.method == request.method:
                fault = self._take_fault(candidate.operation) or self._prompt_fault(candidate.operation, request)
                if fault:
                    return self.fault_response(fault)
                return getattr(self, candidate.handler)(request, **found.groupdict())
        return Response(404, {"error": f"no route for {request.method} {request.path}"})

    def _prompt_fault(self, operation: str, request: Request) -> str | None:
        if operation != "submit":
            return None
        marker = SUBMIT_FAULT_MARKER.search(request.body.decode("utf-8", "replace"))
        return marker.group(1) if marker else None

    def _serve_file(self, job_id: str) -> Response:
        fault = self._take_fault("download")
        if fault:
            return self.fault_response(fault)
        job = self.jobs.get(job_id)
        if job is None or self.job_phase(job)[0] != "succeeded":
            return Response(404, {"error": "no such file"})
        return Response(200, self.output_path(job).read_bytes(), content_type="video/mp4")

    def _handler_class(self):
        emulator = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                parsed = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(
                    method=self.command, path=parsed.path,
                    query={key: values[-1] for key, values in parse_qs(parsed.query).items()},
                    headers={key.lower(): value for key, value in self.headers.items()},
                    body=self.rfile.read(length) if length else b"",
                )
                try:
                    response = emulator.dispatch(request)
                except Exception:
                    logger.exception("%s emulator crashed on %s %s", emulator.family, request.method, request.path)
                    response = Response(500, {"error": "emulator crashed"})
                payload = response.encoded()
                self.send_response(response.status)
                self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(payload)))
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle

            def log_message(self, format, *args):
                logger.debug("%s emulator: " + format, emulator.family, *args)

        return Handler


_rendered: dict[tuple[str, int, str], Path] = {}
_rendered_lock = threading.Lock()
_rendered_dir: Path | None = None


def rendered_output(family: str, duration_seconds: int, aspect_ratio: str) -> Path:
    """The family's sandbox clip of this length and shape, rendered by the animatic once per process."""
    global _rendered_dir
    key = (family, duration_seconds, aspect_ratio)
    if key in _rendered:
        return _rendered[key]
    with _rendered_lock:
        if key not in _rendered:
            if _rendered_dir is None:
                _rendered_dir = Path(mkdtemp(prefix="emulator-outputs-"))
                atexit.register(shutil.rmtree, _rendered_dir, ignore_errors=True)
            request = RenderRequest(prompt="", negative_prompt="", duration_seconds=duration_seconds,
                                    aspect_ratio=aspect_ratio, camera="dolly_in", seed=7, title=f"{family} sandbox")
            folder = _rendered_dir / f"{family}-{duration_seconds}-{aspect_ratio.replace(':', 'x')}"
            _rendered[key] = render_animatic(request, output_dir=folder).video_path
        return _rendered[key]
