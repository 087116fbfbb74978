"""Test settings: the real settings, with isolation so tests never touch development data.

Queue names and channel prefixes are unique per test process so a `make run` on the same Redis
never steals a test's tasks; media goes to a throwaway folder.
"""

import os
import tempfile
from pathlib import Path

# One run per test process, shared with the processes it starts (workers, live servers, spawned
# helpers), which inherit its environment. A pytest-xdist worker inherits the controller's
# environment too, but must not share its run: two workers on one queue prefix run each other's
# tasks. So a run belongs to one xdist worker id ("" outside xdist).
_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if os.environ.get("SHOTCRAFT_TEST_RUN") and os.environ.get("SHOTCRAFT_TEST_RUN_WORKER") == _WORKER:
    _RUN = os.environ["SHOTCRAFT_TEST_RUN"]
else:
    _RUN = f"test{os.getpid()}"
    os.environ["SHOTCRAFT_TEST_RUN"] = _RUN
    os.environ["SHOTCRAFT_TEST_RUN_WORKER"] = _WORKER
    os.environ["CELERY_QUEUE_PREFIX"] = f"{_RUN}-"
    os.environ["CHANNELS_PREFIX"] = _RUN
    os.environ["MEDIA_ROOT"] = tempfile.mkdtemp(prefix="shotcraft-media-")

# Emulated vendors' takes come out as the family's one clean clip, as they always did: many tests
# expect an emulated take to be ready. Tests of sandbox defects and tiers (providers/emulators/
# realism.py) turn them on explicitly; `make run` has them at the realistic default.
os.environ["SANDBOX_DEFECT_RATE"] = "0"

from studio.config.settings import *  # noqa: E402,F403
from studio.config.settings import DATABASES, MEDIA_ROOT  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES["default"]["OPTIONS"] = {"location": MEDIA_ROOT, "base_url": "/media/"}  # noqa: F405

if DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # One test database per run, so two people (or two CI jobs) testing at once don't collide.
    DATABASES["default"]["TEST"] = {"NAME": f"test_shotcraft_{_RUN}"}
elif DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not memory: the live server and worker processes open the same test database.
    DATABASES["default"]["TEST"] = {"NAME": str(Path(tempfile.gettempdir()) / f"shotcraft-{_RUN}.sqlite3")}

# The test process itself holds plain connections: a pool keeps one open after the last test, and
# PostgreSQL then refuses to drop the test database ("being accessed by other users"). The app
# processes the stack tests start build their settings from the environment, pooled as in production.
DATABASES["default"].get("OPTIONS", {}).pop("pool", None)

# The suite runs with no AI model configured unless a test points a family at its emulator, so the
# local animatic stands in for drafts as on any installation without one. Tests of the floor itself
# (tests/providers/test_draft_tier.py) override it.
DRAFT_QUALITY_FLOOR = 0
# Routing follows the catalog's order in the suite, so a test that expects a provider gets it
# whatever takes earlier tests left behind; tests/jobs/test_learned_routing.py switches learning on.
LEARNED_ROUTING = False
