# The two commands: `make run` starts failpath with the default config, `make test` runs the suite.
# Both create .venv from pyproject.toml on first use, and refresh it whenever pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
CONFIG ?= config/failpath.yaml

.PHONY: run demo test lint bench check-config clean test-container

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip

$(VENV)/.run: pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install --quiet -e .
	touch $@

$(VENV)/.dev: pyproject.toml | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.run

run: $(VENV)/.run
	$(VENV)/bin/failpath serve --config $(CONFIG)

# A scripted agent's runs through failpath (the running one, or one it starts), then its buckets and a replay.
demo: $(VENV)/.run
	$(VENV)/bin/failpath demo --config $(CONFIG)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check processor tests bench deploy docs/examples
	$(VENV)/bin/ruff format --check processor tests bench deploy docs/examples
	$(VENV)/bin/mypy

# The TypeScript helpers (agent-ts/) are built and tested under Node's test runner first: the Python suite
# runs their scripted agent against failpath too.
test: lint agent-ts/node_modules/.package-lock.json
	cd agent-ts && npm run --silent build && npm test
	$(VENV)/bin/python -m pytest

agent-ts/node_modules/.package-lock.json: agent-ts/package-lock.json
	cd agent-ts && npm ci --no-audit --no-fund

# Opt-in, not in CI: builds deploy/Dockerfile with buildah on a local Debian base and runs the image (root).
test-container: $(VENV)/.dev
	FAILPATH_CONTAINER_TESTS=1 $(VENV)/bin/python -m pytest -v tests/container

check-config: $(VENV)/.run
	$(VENV)/bin/failpath check-config $(CONFIG)

bench: $(VENV)/.dev
	$(VENV)/bin/python -m pip install --quiet -e '.[bench]'
	$(VENV)/bin/python bench/throughput.py --rotel

clean:
	rm -rf $(VENV) data .mypy_cache .pytest_cache .ruff_cache
