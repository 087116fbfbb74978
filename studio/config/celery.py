import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "studio.config.settings")

app = Celery("shotcraft")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="studio.ping")
def ping() -> str:
    """A no-op round trip, used by the benchmark as the baseline for Celery overhead."""
    return "pong"
