"""The dependency direction of STYLE.md, for the imports import-linter cannot see.

`make lint` runs import-linter over real imports (pyproject.toml's contracts). A model looked up by
its label, `apps.get_model("jobs", "Take")`, is an import all the same: these tests read every app
module for such lookups and hold them to the same direction.
"""

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
APPS = ("studio", "jobs", "providers", "billing")
# Which sibling apps each app may reach (STYLE.md, "Dependency direction").
ALLOWED = {
    "studio": {"jobs", "providers", "billing"},
    "jobs": {"providers", "billing"},
    "providers": set(),
    "billing": set(),
}


def _label_lookups(source: str) -> list[tuple[int, str]]:
    """(line, app label) of every `get_model("label", …)` / `get_model("label.Model")` call."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
            continue
        name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
        if name == "get_model" and isinstance(node.args[0].value, str):
            found.append((node.lineno, node.args[0].value.split(".")[0]))
    return found


def _app_modules(app: str):
    # Migrations are history, written by Django against historical models; they may cross apps.
    return (path for path in sorted((ROOT / app).rglob("*.py")) if "migrations" not in path.parts)


def layering_violations() -> list[str]:
    violations = []
    for app in APPS:
        for path in _app_modules(app):
            for line, label in _label_lookups(path.read_text()):
                if label in APPS and label != app and label not in ALLOWED[app]:
                    violations.append(f"{path.relative_to(ROOT)}:{line} looks up a {label} model; {app} may not reach {label}")
    return violations


def test_no_app_looks_up_a_model_against_the_dependency_direction():
    assert layering_violations() == []


@pytest.mark.parametrize(("source", "expected"), [
    ('Take = apps.get_model("jobs", "Take")', [(1, "jobs")]),
    ('apps.get_model("jobs.Take")', [(1, "jobs")]),
    ('x = 1\nget_model("studio", "Shot")', [(2, "studio")]),
    ('apps.get_app_config("jobs")', []),
])
def test_label_lookups_are_found_in_every_spelling(source, expected):
    assert _label_lookups(source) == expected


def test_a_lookup_against_the_direction_is_reported(tmp_path, monkeypatch):
    billing = tmp_path / "billing"
    billing.mkdir()
    (billing / "reports.py").write_text('from django.apps import apps\nTake = apps.get_model("jobs", "Take")\n')
    for app in ("studio", "jobs", "providers"):
        (tmp_path / app).mkdir()
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert layering_violations() == ["billing/reports.py:2 looks up a jobs model; billing may not reach jobs"]
