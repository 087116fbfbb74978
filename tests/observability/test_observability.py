"""Metrics, structured logs and readiness, read the way ops read them: /metrics parsed by the
Prometheus client's own parser, log lines parsed as JSON, /readyz as JSON."""

import io
import json
import logging

import pytest
from prometheus_client.parser import text_string_to_metric_families

from jobs.outbound.endpoints import webhook_endpoint_create
from jobs.outbound.kinds import EVENT_KINDS
from studio.observability.logs import logging_config
from studio.services.takes import shot_take_request
from tests.jobs.test_worker_end_to_end import wait_until_finished
from tests.pipeline import take_made_ready
from tests.stack import celery_worker

TOKEN = "metrics-test-token"


def scrape(client) -> dict[tuple[str, tuple], float]:
    answer = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200, answer.content
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(answer.content.decode()) for sample in family.samples}


@pytest.mark.django_db
def test_metrics_show_a_takes_state_latencies_provider_credits_queues_and_webhooks(client, catalog, creator, shot, settings):
    settings.METRICS_TOKEN = TOKEN
    webhook_endpoint_create(owner=creator, url="http://127.0.0.1:9/hook", event_kinds=list(EVENT_KINDS))
    take = take_made_ready(shot_take_request(user=creator, shot=shot).pk)
    samples = scrape(client)
    assert samples["shotcraft_takes", (("state", "ready"),)] == 1
    assert samples["shotcraft_takes", (("state", "failed"),)] == 0
    assert samples["shotcraft_take_state_seconds_gcount", (("state", "generating"),)] == 1
    assert samples["shotcraft_take_state_seconds_bucket", (("le", "+Inf"), ("state", "evaluating"))] == 1
    provider = take.provider_model.slug
    assert samples["shotcraft_provider_attempts_total", (("outcome", "succeeded"), ("provider", provider))] == 1
    assert samples["shotcraft_provider_latency_seconds_gcount", (("provider", provider),)] == 1
    assert samples["shotcraft_provider_circuit", (("provider", provider),)] == 0
    assert samples["shotcraft_credits_total", (("movement", "captured"),)] == take.reservation.captured_amount > 0
    assert samples["shotcraft_credits_total", (("movement", "reserved"),)] == take.reservation.amount
    assert ("shotcraft_margin_usd", (("provider", take.provider_model.name),)) in samples
    assert samples["shotcraft_webhook_deliveries", (("state", "pending"),)] == 4  # queued … ready, nobody sending
    assert ("shotcraft_queue_depth", (("queue", settings.WEBHOOK_QUEUE),)) in samples


@pytest.mark.django_db
def test_metrics_need_the_token_and_are_off_in_production_without_one(client, settings):
    settings.METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    settings.METRICS_TOKEN, settings.PRODUCTION = "", True
    assert client.get("/metrics").status_code == 404


@pytest.mark.django_db
def test_readyz_checks_the_database_redis_and_storage(client, settings):
    answer = client.get("/readyz/")
    assert answer.status_code == 200, answer.content
    assert {name for name, check in answer.json()["checks"].items() if check["ok"]} == {"database", "redis", "storage"}
    settings.REDIS_URL = settings.CELERY_BROKER_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    answer = client.get("/readyz/")
    assert answer.status_code == 503
    assert answer.json()["checks"]["redis"]["ok"] is False and answer.json()["checks"]["database"]["ok"] is True
    assert client.get("/healthz/").status_code == 200  # liveness does not depend on them


@pytest.fixture
def json_log_lines():
    """The root logger rendered through the production JSON formatter into a buffer."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    options = dict(logging_config(json_lines=True, level="INFO")["formatters"]["structured"])
    handler.setFormatter(options.pop("()")(**options))
    root = logging.getLogger()
    root.addHandler(handler)
    yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines() if line.startswith("{")]
    root.removeHandler(handler)


@pytest.mark.django_db
def test_a_request_logs_one_json_line_with_its_request_id_and_user(creator_client, creator, json_log_lines):
    answer = creator_client.get("/account/webhooks/", headers={"X-Request-ID": "req-abc-123"})
    assert answer["X-Request-ID"] == "req-abc-123"
    lines = [line for line in json_log_lines() if line.get("event") == "request"]
    assert lines[-1]["request_id"] == "req-abc-123" and lines[-1]["user_id"] == creator.pk
    assert lines[-1]["path"] == "/account/webhooks/" and lines[-1]["status"] == 200 and lines[-1]["level"] == "info"
    assert creator_client.get("/account/webhooks/")["X-Request-ID"]  # one is made when the proxy sends none


@pytest.mark.django_db(transaction=True)
@pytest.mark.stack
def test_a_takes_tasks_log_json_lines_carrying_the_task_and_take_ids(catalog, creator, shot, tmp_path):
    from tests.conftest import purge_test_queue

    purge_test_queue()
    log = tmp_path / "worker.log"
    with celery_worker(log, LOG_FORMAT="json"):
        take = wait_until_finished(shot_take_request(user=creator, shot=shot).pk)
    assert take.state == "ready", take.failure_reason
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    finished = [line for line in lines if line.get("event") == "task finished" and line.get("take_id") == take.pk]
    assert {line["task"] for line in finished} >= {"jobs.take_submit", "jobs.take_evaluate"}
    assert all(line["task_id"] and line["state"] == "SUCCESS" and "timestamp" in line for line in finished)
    assert len({line["task_id"] for line in finished}) == len(finished)
