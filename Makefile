# trackbook developer commands. Everything installs into ./.venv with that venv's pip;
# nothing needs to be installed by hand except Python 3.11+.
#
#   make demo    run the example notebooks against a fresh ./demo-store
#   make lab     JupyterLab on 127.0.0.1, logging to ./demo-store
#   make test    ruff + the whole pytest suite, example notebooks included (nbval)
#   make lint    ruff only
#   make bench   benchmarks/run.py $(BENCH_ARGS)
#   make clean   remove generated files (keeps .venv; `make distclean` removes it too)

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
DEMO_STORE := $(CURDIR)/demo-store
DEMO_OUTPUT := $(CURDIR)/demo-output
NBVAL_ARGS := --nbval --nbval-current-env --nbval-sanitize-with notebooks/nbval-sanitize.cfg
LINT_PATHS := src tests benchmarks
PYTEST_ARGS ?=
# Workers for the suite (pytest-xdist): most tests wait on subprocesses, so 3 beat 2 cores.
TEST_WORKERS ?= 3
BENCH_ARGS ?=
LAB_ARGS ?=
# Kernels started by nbconvert/JupyterLab/nbval use this venv's Python, even when a
# user-level "python3" kernelspec points elsewhere.
export JUPYTER_PREFER_ENV_PATH := 1
# Tests and the demo choose their own stores; a store exported in the shell must not leak in.
NO_STORE_ENV := env -u TRACKBOOK_STORE -u TRACKBOOK_EXPERIMENT_NAME -u MLFLOW_EXPERIMENT_NAME \
	-u MLFLOW_EXPERIMENT_ID -u MLFLOW_TRACKING_URI

.PHONY: help venv install-demo install-test demo lab test lint bench clean distclean

help:
	@sed -n 's/^#   make/  make/p' $(firstword $(MAKEFILE_LIST))

# -- environment --------------------------------------------------------------------------

$(PY):
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else \
		"trackbook needs Python 3.11+, $(PYTHON) is " + sys.version.split()[0] + \
		": run make PYTHON=python3.12 (or another 3.11+ interpreter)")'
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

venv: $(PY)

# Installing is cheap when nothing changed (a few seconds), so it always runs: a stamp
# file would miss changes to the package's build (e.g. the widgets' JS bundles).
install-demo: $(PY)
	$(PIP) install --quiet --editable '.[demo]'

install-test: $(PY)
	$(PIP) install --quiet --editable '.[test]'

# -- demo ---------------------------------------------------------------------------------

demo: install-demo
	rm -rf '$(DEMO_STORE)' '$(DEMO_OUTPUT)'
	mkdir -p '$(DEMO_OUTPUT)'
	$(NO_STORE_ENV) TRACKBOOK_STORE='$(DEMO_STORE)' $(VENV)/bin/jupyter nbconvert \
		--to notebook --execute --output-dir '$(DEMO_OUTPUT)' $(NOTEBOOKS)
	@echo
	@echo "Demo done."
	@echo "  executed notebooks: $(DEMO_OUTPUT)/"
	@echo "  runs logged to:     $(DEMO_STORE)/"
	@echo "Explore them:"
	@echo "  make lab                                   # JupyterLab, logging to the demo store"
	@echo "  TRACKBOOK_STORE=$(DEMO_STORE) $(VENV)/bin/python -c \\"
	@echo "    'import trackbook as tb; print(tb.search_runs(search_all_experiments=True))'"

lab: install-demo
	$(NO_STORE_ENV) TRACKBOOK_STORE='$(DEMO_STORE)' $(VENV)/bin/jupyter lab \
		--ServerApp.ip=127.0.0.1 --ServerApp.root_dir='$(CURDIR)' \
		$(if $(filter 0,$(shell id -u)),--allow-root) $(LAB_ARGS)

# -- checks -------------------------------------------------------------------------------

lint: install-test
	$(VENV)/bin/ruff check $(LINT_PATHS)

# pytest exits 5 when it collected nothing; that must never pass for a green run.
test: install-test
	$(VENV)/bin/ruff check $(LINT_PATHS)
	$(NO_STORE_ENV) $(VENV)/bin/pytest -n $(TEST_WORKERS) $(NBVAL_ARGS) --durations=10 tests notebooks \
		$(PYTEST_ARGS) || { rc=$$?; [ $$rc -ne 5 ] || echo "pytest collected no tests" >&2; \
		exit $$rc; }

bench: install-test
	$(PY) benchmarks/run.py $(BENCH_ARGS)

# -- housekeeping ---------------------------------------------------------------------------

clean:
	rm -rf '$(DEMO_STORE)' '$(DEMO_OUTPUT)' .pytest_cache .ruff_cache build dist test-artifacts
	find . -path ./$(VENV) -prune -o -type d \
		\( -name __pycache__ -o -name '*.egg-info' -o -name .ipynb_checkpoints \) \
		-print0 | xargs -0 rm -rf

distclean: clean
	rm -rf $(VENV)
