# The project's front door: `make demo` and `make test` each set up what they need.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint bench browser-deps clean

setup: $(STAMP)

# Re-run the install only when the project's requirements change.
$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt torch
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: setup
	$(PY) -m rnnkit.demo

lint: setup
	$(VENV)/bin/ruff check rnnkit tests benchmarks docs

test: lint
	$(VENV)/bin/pytest

bench: setup
	$(PY) benchmarks/layers.py

# Debian's chromium for the playground's browser test (tests/serve/test_playground_browser.py), which is
# skipped with its reason when chromium is absent. Needs root and the Debian package index.
browser-deps:
	command -v chromium >/dev/null || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium)

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
