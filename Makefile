# The single door for humans and CI. `make help` lists the targets.
# The first target that needs it creates .venv and installs the pinned dependencies (~4 min).
VENV ?= .venv
PYTHON ?= python3.11
export PATH := $(abspath $(VENV))/bin:$(PATH)
export PYTHONUNBUFFERED := 1
# Offline machines: Prefect's temporary server would otherwise try to send telemetry and log
# "database is locked" tracebacks from that background job.
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false

.DEFAULT_GOAL := help
.PHONY: help run flow show test test-fast

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -c 'import sys; assert sys.version_info[:2] == (3, 11), "pruneflow pins Python 3.11: make PYTHON=/path/to/python3.11"' \
		|| (rm -rf $(VENV); exit 1)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e ".[test]" || (rm -rf $(VENV); exit 1)
	touch $@

run: $(VENV)/.installed ## Set up, run the pipeline (dvc repro) on the embedded MNIST digits, print dense vs pruned
	dvc repro
	python -m tasks show

flow: $(VENV)/.installed ## The same pipeline as one cached Prefect flow (python -m flows.pipeline)
	python -m flows.pipeline

show: $(VENV)/.installed ## Print the dense-vs-pruned table of the last run
	python -m tasks show

test: $(VENV)/.installed ## Set up and run the whole test suite (tiny configs; ~10 min on 2 cores)
	python -m pytest

test-fast: $(VENV)/.installed ## Only the tests that train nothing (seconds)
	python -m pytest -m "not slow"
