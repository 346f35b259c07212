# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check -q

.PHONY: demo test lint typecheck unit bench clean system-deps screenshots

$(VENV)/.runtime: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -e .
	touch $@

$(VENV)/.test: pyproject.toml $(VENV)/.runtime
	$(PIP) install -e '.[test,locust]'
	touch $@

## demo: the main job on an embedded default (reference receiver on loopback + the whole check)
demo: $(VENV)/.runtime
	$(VENV)/bin/vss-emitter demo

## test: lint, type-check and the whole suite
test: lint typecheck unit

lint: $(VENV)/.test
	$(VENV)/bin/ruff check emitter tests bench
	$(VENV)/bin/ruff format --check emitter

typecheck: $(VENV)/.test
	$(VENV)/bin/mypy

unit: $(VENV)/.test system-deps
	$(VENV)/bin/pytest -q

## system-deps: Debian packages the tests need (chromium for the HTML report tests), as root
system-deps:
	bash .ci/system-deps

## screenshots: regenerate the README's report screenshots (docs/img/*.png) in headless Chromium
screenshots: $(VENV)/.test system-deps
	$(PY) tests/report/screenshots.py docs/img

## bench: throughput, latency and memory figures (printed, never asserted)
bench: $(VENV)/.test
	bash bench/install_peers.sh $(PY)
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) dist build .pytest_cache .mypy_cache .ruff_cache .hypothesis
