"""The pipeline's layout: one module per stage, none of which needs the Celery tasks module (only
jobs/pipeline/enqueue.py knows task names, and it sends them by name)."""

import subprocess
import sys

import pytest

from tests.stack import ROOT

STAGE_MODULES = ["request", "quote", "submit", "poll", "callbacks", "download", "evaluate", "settle", "regenerate",
                 "recover", "transitions", "leases", "enqueue", "attempts", "routing", "orphans", "timing"]


@pytest.mark.parametrize("stage", STAGE_MODULES)
def test_each_stage_module_imports_without_the_tasks_module(stage):
    script = ("import os, sys, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'tests.settings'); django.setup(); "
              f"import jobs.pipeline.{stage}; print('jobs.tasks' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().splitlines()[-1] == "False"


def test_the_task_names_are_known_to_one_module_only():
    sources = {path.name: path.read_text() for path in (ROOT / "jobs" / "pipeline").glob("*.py")}
    naming = [name for name, text in sources.items() if '"jobs.take_' in text]
    assert naming == ["enqueue.py"]
