"""The production shape on this machine's loopback, as docs/deploy.md describes it: nginx (with
docs/nginx-site.conf, unchanged but for its addresses) in front of two daphne processes, two
pipeline workers and one evaluation worker as separate processes, beat, PostgreSQL, Redis, and S3
(moto's server) for media.

It shows that the processes share everything through PostgreSQL and Redis and nothing through
memory: a socket on one daphne hears takes requested through the other; a take is processed once
however many workers listen; killing a daphne loses no take, and its sockets come back through
nginx on the other one.
"""

import re
import shutil
import subprocess
import time
import uuid
from collections import Counter
from contextlib import ExitStack, contextmanager
from decimal import Decimal
from pathlib import Path

import boto3
import httpx
import pytest
from django.conf import settings
from moto.server import ThreadedMotoServer
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from billing.models import Plan
from billing.services import credit_account_plan_set
from jobs.models import Attempt, Take, TakeEvent
from jobs.states import TERMINAL_STATES
from studio.services.tokens import api_token_create
from tests.factories import creator_create, project_for, shot_for
from tests.stack import ROOT, _stop, celery_beat, celery_worker, daphne_process, free_port, wait_for_port
from tests.studio.test_consumers import session_cookie

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

SITE = ROOT / "docs" / "nginx-site.conf"
SITE_UPSTREAMS = ("    server 127.0.0.1:8001 max_fails=1 fail_timeout=10s;\n"
                  "    server 127.0.0.1:8002 max_fails=1 fail_timeout=10s;\n")
BUCKET = "shotcraft-scale-out"
CARD = re.compile(r'id="take-(\d+)"[^>]*data-state="(\w+)"')


def nginx_binary() -> str:
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if not found:
        pytest.fail("The scale-out test needs Debian's nginx: `make test` installs it (apt-get install nginx-light).")
    return found


@contextmanager
def nginx_in_front(workdir: Path, daphne_urls: list[str]):
    """nginx serving docs/nginx-site.conf on a free port, its upstreams pointed at `daphne_urls`."""
    site = SITE.read_text()
    assert SITE_UPSTREAMS in site and "    listen 80;\n" in site, "docs/nginx-site.conf changed: update this test"
    port = free_port()
    servers = "".join(f"    server {url.removeprefix('http://')} max_fails=1 fail_timeout=10s;\n" for url in daphne_urls)
    (workdir / "site.conf").write_text(site.replace(SITE_UPSTREAMS, servers)
                                       .replace("    listen 80;\n", f"    listen 127.0.0.1:{port};\n"))
    # One process (no master): it keeps root's rights to this test's private folders.
    (workdir / "nginx.conf").write_text(f"""
daemon off;
master_process off;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log info;
events {{ worker_connections 512; }}
http {{
    access_log {workdir}/access.log;
    client_body_temp_path {workdir}/client_body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    include {workdir}/site.conf;
}}
""")
    command = [nginx_binary(), "-p", str(workdir), "-c", str(workdir / "nginx.conf"), "-e", str(workdir / "error.log")]
    with (workdir / "nginx.out").open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)


@contextmanager
def s3_bucket():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing",
                 aws_secret_access_key="testing").create_bucket(Bucket=BUCKET)
    try:
        yield endpoint
    finally:
        server.stop()


class Stack:
    """The processes of a deployment, started in `workdir`; `.daphnes` are (url, process) pairs."""

    def __init__(self, workdir: Path, exits: ExitStack, s3_endpoint: str):
        self.workdir, self.exits = workdir, exits
        self.env = {"AWS_STORAGE_BUCKET_NAME": BUCKET, "AWS_S3_ENDPOINT_URL": s3_endpoint,
                    "AWS_S3_REGION_NAME": "us-east-1", "AWS_ACCESS_KEY_ID": "testing",
                    "AWS_SECRET_ACCESS_KEY": "testing"}
        self.daphnes = [exits.enter_context(daphne_process(workdir / f"daphne-{n}.log", **self.env)) for n in (1, 2)]
        self.nginx_url = exits.enter_context(nginx_in_front(workdir / "nginx", [url for url, _ in self.daphnes]))
        pipeline_queues = (settings.CELERY_TASK_DEFAULT_QUEUE, settings.LOCAL_RENDER_QUEUE)
        self.pipeline_logs = [workdir / f"pipeline-{n}.log" for n in (1, 2)]
        for n, log in enumerate(self.pipeline_logs, start=1):
            exits.enter_context(celery_worker(log, pipeline_queues, name=f"pipeline{n}", **self.env))
        exits.enter_context(celery_worker(workdir / "evaluation.log", (settings.EVALUATION_QUEUE,), name="evaluation",
                                          **self.env))
        exits.enter_context(celery_beat(workdir / "beat.log", **self.env))


@pytest.fixture
def stack(catalog, tmp_path):
    (tmp_path / "nginx").mkdir()
    with ExitStack() as exits:
        s3_endpoint = exits.enter_context(s3_bucket())
        yield Stack(tmp_path, exits, s3_endpoint)


class Creator:
    """A creator with a few shots, an API key and a session cookie for the project's socket."""

    def __init__(self, shots: int = 4):
        self.user = creator_create(username=f"c{uuid.uuid4().hex[:8]}", credits=5000)
        # More takes at once than the Free plan's five.
        credit_account_plan_set(user=self.user, plan=Plan.objects.create(
            slug=f"p{self.user.pk}", name="Scale-out", markup_draft=Decimal(3), markup_final=Decimal(3)))
        project = project_for(self.user)
        self.shots = [shot_for(project) for _ in range(shots)]
        self.project_id = project.pk
        self.api_headers = {"Authorization": f"Bearer {api_token_create(user=self.user, name='scale-out')[1]}"}
        self.cookie = session_cookie(self.user).decode()

    def request_take(self, base_url: str, shot_index: int) -> int:
        response = httpx.post(f"{base_url}/api/shots/{self.shots[shot_index % len(self.shots)].pk}/takes?fresh=true",
                              headers=self.api_headers | {"Idempotency-Key": str(uuid.uuid4())}, timeout=30)
        assert response.status_code == 201, response.text[:500]
        return response.json()["id"]

    def socket(self, base_url: str):
        # As a browser does: read everything as it comes (an unbounded queue: a full one stops
        # reading, so daphne's pings go unanswered and it closes the socket), and send no pings.
        return connect(base_url.replace("http://", "ws://") + f"/ws/projects/{self.project_id}/",
                       additional_headers={"Cookie": self.cookie, "Origin": base_url}, open_timeout=15,
                       ping_interval=None, max_queue=None)


def cards_until(socket, take_ids: set[int], state: str, timeout: float = 180) -> set[int]:
    """Read a socket until every take in `take_ids` has been seen in `state`; returns those seen."""
    seen, deadline = set(), time.monotonic() + timeout
    while not take_ids <= seen and time.monotonic() < deadline:
        try:
            message = socket.recv(timeout=max(0.1, deadline - time.monotonic()))
        except TimeoutError:
            break
        seen |= {int(pk) for pk, card_state in CARD.findall(message) if card_state == state}
    return seen & take_ids


def takes_finished(take_ids: list[int], timeout: float = 240) -> list[Take]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        takes = list(Take.objects.filter(pk__in=take_ids))
        if all(take.state in TERMINAL_STATES for take in takes):
            return takes
        time.sleep(0.5)
    pytest.fail(f"takes still running after {timeout} s: "
                f"{[(t.pk, t.state) for t in Take.objects.filter(pk__in=take_ids)]}")


def closed(socket) -> bool:
    """Has the server closed this socket? (Reads and drops anything still buffered.)"""
    try:
        while True:
            socket.recv(timeout=3)
    except TimeoutError:
        return False
    except ConnectionClosed:
        return True


def assert_processed_once(takes: list[Take]) -> None:
    for take in takes:
        assert take.state == "ready", (take.pk, take.state, take.failure_reason)
        assert Attempt.objects.filter(take=take).count() == 1, f"take {take.pk} was sent to a provider twice"
        entered = Counter(TakeEvent.objects.filter(take=take).values_list("to_state", flat=True))
        assert max(entered.values()) == 1, f"take {take.pk} went through a state twice: {entered}"


def test_the_production_shape_behind_nginx(stack):
    creator, sockets_open = Creator(), stack.exits
    (daphne_1, process_1), (daphne_2, _) = stack.daphnes

    # A socket on one daphne hears a take requested through the other.
    with creator.socket(daphne_1) as listening:
        take_id = creator.request_take(daphne_2, 0)
        assert cards_until(listening, {take_id}, "ready") == {take_id}, "the card never turned ready on daphne 1"

    # Takes through nginx, shared by two pipeline workers: each is processed once, by either.
    sockets = [sockets_open.enter_context(creator.socket(stack.nginx_url)) for _ in range(4)]  # round robin: two on each daphne
    before = [creator.request_take(stack.nginx_url, n) for n in range(6)]

    # One daphne dies mid-run: its sockets close and come back through nginx, on the other one.
    process_1.kill()
    dropped = [socket for socket in sockets if closed(socket)]
    assert dropped, "no socket was on the killed daphne"
    kept = [socket for socket in sockets if socket not in dropped]
    reconnected = [sockets_open.enter_context(creator.socket(stack.nginx_url)) for _ in dropped]
    after = [creator.request_take(stack.nginx_url, n) for n in range(4)]  # nginx skips the dead daphne

    takes = takes_finished(before + after)
    assert_processed_once(takes)
    for socket in kept + reconnected:
        assert cards_until(socket, set(after), "ready", timeout=30) == set(after), "a socket missed a take's ready card"
    for log in stack.pipeline_logs:
        assert " succeeded in " in log.read_text(), f"{log.name} processed nothing: work was not shared"
    stored = boto3.client("s3", endpoint_url=stack.env["AWS_S3_ENDPOINT_URL"], region_name="us-east-1",
                          aws_access_key_id="testing", aws_secret_access_key="testing")
    keys = {item["Key"] for item in stored.list_objects_v2(Bucket=BUCKET).get("Contents", [])}
    assert {take.video.name for take in takes} <= keys, "a take's video is not in the bucket"
