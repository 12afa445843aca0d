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
.PHONY: help run breakdown backbone flow prefect-server deploy show bench plots plots-diff pr-comment test test-fast chromium dvc.yaml exp-show push pull zoo

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -c 'import sys; assert sys.version_info[:2] == (3, 11), "pruneflow pins Python 3.11: make PYTHON=/path/to/python3.11"' \
		|| (rm -rf $(VENV); exit 1)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e ".[test]" || (rm -rf $(VENV); exit 1)
	touch $@

# `make run` reproduces the DVC pipeline with independent stages side by side (JOBS at a time; a latency
# benchmark always alone), each one `dvc repro --single-item`, then a plain `dvc repro` that finds
# nothing left (pruneflow/tools/repro.py). The headline's stages go first, then the longest remaining path
# (by this machine's reports/timings/); a progress line per stage estimates the time left. JOBS=1: one at a time.
JOBS ?= 2
# dvc.yaml first: its seed_run matrix lists the seeds params.yaml's `seeds` asks for (docs/seeds.md)
run: $(VENV)/.installed ## Set up, run the pipeline (dvc repro, JOBS=2 stages at once) on the embedded MNIST digits, print dense vs pruned
	python -m pruneflow.tools.dvc_yaml
	python -m pruneflow.tools.repro --jobs $(JOBS)
	dvc repro
	python -m pruneflow show

breakdown: $(VENV)/.installed ## Where the last run's time went: each stage's seconds by phase (start-up, training, conversion, benchmark)
	python -m pruneflow.tools.breakdown

BACKBONE ?= backbones/mnist5k_mobilenet.weights.h5
backbone: $(VENV)/.installed ## Train MobileNet V1 on the embedded digits (~5 min) → $(BACKBONE), the seed preset's weights
	python -m pruneflow.tools.backbone --train mobilenet $(BACKBONE)

DASK_WORKERS ?= 0
flow: $(VENV)/.installed ## The same pipeline as one cached Prefect flow (DASK_WORKERS=2: each wave of stages on local Dask)
	python -m flows.pipeline --dask-workers $(DASK_WORKERS)

# A local Prefect server for the nightly deployment (docs/operations.md, "Nightly runs"); UI at http://127.0.0.1:4200
prefect-server: $(VENV)/.installed ## Start a Prefect server on 127.0.0.1:4200 (foreground)
	prefect server start --host 127.0.0.1 --port 4200

deploy: $(VENV)/.installed ## Register prefect.yaml's nightly deployment (needs PREFECT_API_URL), then start a worker
	prefect work-pool inspect pruneflow-process >/dev/null 2>&1 || prefect work-pool create pruneflow-process --type process
	prefect --no-prompt deploy --all
	prefect worker start --pool pruneflow-process

show: $(VENV)/.installed ## Print the dense-vs-pruned table, the TFLite variants and the channel-pruning table of the last run
	python -m pruneflow show

# dvc.yaml is generated from the stage table (pruneflow/pipeline/stages.py); tests/test_dvc_yaml.py fails when
# the committed file differs. Run this after adding a stage, a param or changing a stage's deps or outs.
dvc.yaml: $(VENV)/.installed ## Regenerate dvc.yaml from the stage table
	python -m pruneflow.tools.dvc_yaml

# The latency benchmarks are the pipeline's `bench` stage (every TFLite variant interleaved in one
# process), the `channel_bench` stage (dense, unstructured, channel-pruned, stacked and uniform-width
# models at two input sides) and the `sweep` stage (every sweep point's files); this re-measures them on demand
# (machine noise changes timings, not inputs), then rewrites timings.json and the report. Every DVC
# output comes out the same, so `dvc status` stays clean: only timing files change. Keep the machine
# otherwise idle while it runs.
bench: $(VENV)/.installed ## Re-run the latency benchmarks (reports/bench.json, channels_latency.json, sweep_latency.csv), then evaluate + report
	dvc repro --force --single-item bench
	dvc repro --force --single-item channel_bench
	dvc repro --force --single-item sweep
	dvc repro --force --single-item evaluate
	dvc repro --force --single-item report

# .dvc/config points plots.html_template at vendor/vega/offline_plots.html (vega inlined), so the
# pages render without cdn.jsdelivr.net.
plots: $(VENV)/.installed ## dvc plots show -> dvc_plots/index.html (renders offline)
	dvc plots show

# The revision a branch is reviewed against (plots-diff, pr-comment): make pr-comment BASE=origin/main
BASE ?= main
plots-diff: $(VENV)/.installed ## dvc plots diff BASE (default main) -> dvc_plots/index.html, offline
	dvc plots diff $(BASE)

# Two pytest-xdist workers, whole files per worker. The session builds one tiny pipeline with
# `dvc repro` and the same inputs with the Prefect flow (tests/conftest.py), whichever worker asks
# first, behind a file lock; every integration test starts from a copy. The 20 slowest tests are
# printed at the end.
test: $(VENV)/.installed chromium ## Set up and run the whole test suite (tiny configs; see docs/tests.md)
	python -m pytest -n 2 --dist loadfile --durations=20

# The report's browser test opens report.html in Debian's chromium (headless, network off).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
chromium: ## Install Debian's chromium for the browser tests (apt-get, once)
	@command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends chromium >/dev/null; }
	@chromium --version 2>/dev/null

# The keras.applications coverage table (pruneflow/tools/zoo.py): 18 families, random weights, magnitude
# pruning, the channel rebuild, TFLite conversion and dense/rebuilt latency at 224 px (~30 min on 2 cores).
# ZOO_ARGS="--families MobileNetV2,ResNet50 --latency-size 0" for a subset without latency.
ZOO_ARGS ?=
zoo: $(VENV)/.installed ## The zoo coverage table → docs/zoo.md (+ .json, .csv): what prunes, converts and speeds up
	python -m pruneflow.tools.zoo $(ZOO_ARGS)

test-fast: $(VENV)/.installed ## Only the tests that train nothing (under a minute)
	python -m pytest -n 2 -m "not slow"

IMAGE_BASE_URL ?=
pr-comment: $(VENV)/.installed ## PR comment vs BASE (params, metrics, changed plots) in reports/pr/
	python -m pruneflow.tools.pr_comment --base "$(BASE)" --image-base-url "$(IMAGE_BASE_URL)"

# DVC experiments (docs/sharing.md): `dvc exp run -S prune.final_sparsity=0.6 evaluate`, then compare
# them here. The one home of the headline columns: docs/sharing.md shows it, tests/test_dvc_share.py runs
# this target. `--keep` is re.match'ed against each column name.
# metrics.json: accuracy, sparsity, float TFLite bytes and gzip bytes; timings.json: p50 and speed-up.
EXP_COLUMNS := ^(Experiment|prune\.final_sparsity|pruned\.test_accuracy_pct|pruned\.sparsity_prunable_pct|pruned\.size_tflite_bytes|pruned\.size_tflite_gzip_bytes|pruned\.latency_p50_ms|comparison\.latency_p50_speedup_x)$$
exp-show: $(VENV)/.installed ## Experiments on this commit: the pruned model's headline columns and prune.final_sparsity
	dvc exp show --md --hide-workspace --drop '.*' --keep '$(EXP_COLUMNS)'

# The DVC remote: .dvc/config's default (`local`, the folder pruneflow-dvc-remote next to this
# checkout), or REMOTE=s3 (its endpoint and credentials: docs/sharing.md).
REMOTE ?=
push: $(VENV)/.installed ## Upload the recorded run's cached outputs (models, exports, data) to the DVC remote
	dvc push $(if $(REMOTE),-r $(REMOTE))

pull: $(VENV)/.installed ## A fresh clone: download the committed run's outputs (no training), then show
	dvc pull $(if $(REMOTE),-r $(REMOTE))
	python -m pruneflow show
