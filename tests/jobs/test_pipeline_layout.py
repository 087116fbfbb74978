"""The pipeline's layout: one module per stage, none of which needs the Celery tasks module (only
jobs/pipeline/enqueue.py knows task names, and it sends them by name)."""

import subprocess
import sys

from tests.stack import ROOT

STAGE_MODULES = ["request", "quote", "submit", "poll", "callbacks", "download", "evaluate", "settle", "regenerate",
                 "recover", "transitions", "leases", "enqueue", "attempts", "routing", "orphans", "timing"]


def test_each_stage_module_imports_without_the_tasks_module():
    # One process imports the stages in turn: whichever stage first pulls in jobs.tasks, directly or
    # through another module, is the one named (a process per stage cost a Django start-up each).
    script = ("import importlib, os, sys, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'tests.settings'); "
              "django.setup(); assert 'jobs.tasks' not in sys.modules, 'django.setup() imported jobs.tasks'\n"
              f"for stage in {STAGE_MODULES!r}:\n"
              "    importlib.import_module('jobs.pipeline.' + stage)\n"
              "    print(stage, 'jobs.tasks' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    imported_tasks = [line.split()[0] for line in result.stdout.splitlines() if line.endswith("True")]
    assert imported_tasks == []
    assert len(result.stdout.splitlines()) == len(STAGE_MODULES)


def test_the_task_names_are_known_to_one_module_only():
    sources = {path.name: path.read_text() for path in (ROOT / "jobs" / "pipeline").glob("*.py")}
    naming = [name for name, text in sources.items() if '"jobs.take_' in text]
    assert naming == ["enqueue.py"]
