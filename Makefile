# Shotcraft developer commands. `make run` and `make test` work on a fresh machine:
# they create .venv with Python 3.11 and (re)install only when pyproject.toml changed.

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
RUN_STAMP := $(VENV)/.installed-run
TEST_STAMP := $(VENV)/.installed-test
CHROMIUM := /usr/bin/chromium
NGINX := /usr/sbin/nginx
ARGS ?=

.PHONY: run test bench clean chromium nginx

run: $(RUN_STAMP)
	$(PY) -m studio.devstack run

# The suite runs on every core (pytest-xdist); each test process has its own database, queues,
# channel prefix and media folder (tests/settings.py), so they never meet.
TEST_PROCESSES ?= auto

test: $(TEST_STAMP) chromium nginx
	@$(PY) -m studio.devstack with-redis -- $(PY) -m pytest -n $(TEST_PROCESSES) $(ARGS); \
	code=$$?; \
	if [ $$code -eq 5 ]; then echo "make test: pytest collected no tests; that counts as a failure." >&2; fi; \
	exit $$code

bench: $(RUN_STAMP)
	$(PY) -m studio.devstack with-redis -- $(PY) bench/run.py $(ARGS)
	$(PY) bench/evaluation.py

clean:
	rm -rf var $(VENV)

$(PY):
	@command -v $(PYTHON) >/dev/null 2>&1 && $(PYTHON) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' \
	  || { echo "Shotcraft needs Python 3.11, and '$(PYTHON)' is missing or another version." >&2; \
	       echo "Install it (for example: pyenv install 3.11) or point at one: make PYTHON=/path/to/python3.11 run" >&2; \
	       exit 1; }
	$(PYTHON) -m venv $(VENV)

# Runtime dependencies only; reinstalled when pyproject.toml is newer than the stamp.
$(RUN_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	@touch $@

# Runtime plus test dependencies (a superset, so it also satisfies `make run`).
$(TEST_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[test,selfhosted]"
	@touch $@ $(RUN_STAMP)

# Browser tests drive Debian's Chromium (never a browser that a test tool downloads).
chromium:
	@test -x $(CHROMIUM) && exit 0; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "Installing Debian's chromium for the browser tests…"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	else \
	  echo "Browser tests need Debian's Chromium at $(CHROMIUM). Install it with:" >&2; \
	  echo "  sudo apt-get update && sudo apt-get install -y chromium" >&2; \
	  exit 1; \
	fi

# The scale-out test puts Debian's nginx in front of two daphnes, as docs/deploy.md does. Not
# fatal: without nginx that one test fails and says how to install it; the rest still run.
NGINX_INSTALL := DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nginx-light
nginx:
	@test -x $(NGINX) && exit 0; \
	if [ "$$(id -u)" = 0 ]; then \
	  echo "Installing Debian's nginx for the scale-out test…"; \
	  $(NGINX_INSTALL) >/dev/null 2>&1 || { apt-get update -q && $(NGINX_INSTALL); } \
	    || echo "make test: could not install nginx; the scale-out test will fail." >&2; \
	  service nginx stop >/dev/null 2>&1 || true; \
	else \
	  echo "The scale-out test needs Debian's nginx at $(NGINX): sudo apt-get install -y nginx-light" >&2; \
	fi
