# BDT Platform — the two commands that matter: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help run dev test lint fmt lock services stop bench clean

help:
	@echo "make run    - the platform with demo data on http://localhost:8000, served like production (Ctrl-C stops)"
	@echo "make dev    - the same with Django's autoreloading development server and DEBUG on"
	@echo "make test   - the whole test suite against real PostgreSQL, Redis, Celery, Spark (local) and Chromium"
	@echo "make lint   - ruff (lint + format check), mypy, import-linter"
	@echo "make fmt    - format the code"
	@echo "make lock   - re-resolve requirements/*.in into the lock files"

$(STAMP): requirements/base.txt requirements/dev.txt clients/python/pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements/base.txt -r requirements/dev.txt
	@touch $(STAMP)

run: $(STAMP)
	$(PY) scripts/devstack.py run $(ARGS)

dev: $(STAMP)
	$(PY) scripts/devstack.py run --dev $(ARGS)

test: $(STAMP)
	@bash scripts/ensure_browser.sh
	@sh scripts/ensure_java.sh
	$(PY) scripts/devstack.py test $(ARGS)

services: $(STAMP)
	$(PY) scripts/devstack.py services

stop: $(STAMP)
	$(PY) scripts/devstack.py stop

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(VENV)/bin/lint-imports

fmt: $(STAMP)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

lock: $(STAMP)
	cd requirements && ../$(VENV)/bin/pip-compile -q --strip-extras --no-emit-index-url --no-emit-find-links -o base.txt base.in
	$(VENV)/bin/pip-compile -q --strip-extras --no-emit-index-url --no-emit-find-links -o requirements/dev.txt requirements/dev.in

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache
