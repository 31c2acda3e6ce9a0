# The two commands: `make run` starts failpath with the default config, `make test` runs the suite.
# Both create .venv on first use from the lock files (exact versions, checked against their hashes), and
# refresh it whenever a lock file or pyproject.toml changes. `make lock` refreshes the lock files.
PYTHON ?= python3
VENV := .venv
CONFIG ?= config/failpath.yaml
LOCK := requirements.lock
DEV_LOCK := requirements-dev.lock
UV_COMPILE := $(VENV)/bin/uv pip compile pyproject.toml --universal --generate-hashes --python-version 3.11 --quiet

.PHONY: run demo test lint bench check-config clean test-container lock sbom audit asan

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip

$(VENV)/.run: pyproject.toml $(LOCK) | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $@

$(VENV)/.dev: pyproject.toml $(DEV_LOCK) | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(VENV)/bin/python -m pip install --quiet --no-deps -e .
	touch $@ $(VENV)/.run

# A CycloneDX SBOM (JSON) of the Python packages the image installs: exactly requirements.lock.
sbom: $(VENV)/.dev
	mkdir -p build
	$(VENV)/bin/cyclonedx-py requirements $(LOCK) --of JSON --output-reproducible -o build/sbom.cdx.json
	@echo "build/sbom.cdx.json"

# Known vulnerabilities of the locked runtime packages (skipped, saying so, when no advisory database answers).
audit: $(VENV)/.dev
	.ci/audit

# Resolve both lock files again from pyproject.toml (uv, for every platform, with hashes); commit them.
lock: | $(VENV)/bin/python
	$(VENV)/bin/python -m pip install --quiet uv==0.13.9
	$(UV_COMPILE) -o $(LOCK)
	$(UV_COMPILE) --extra dev --extra bench -o $(DEV_LOCK)

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
# The C extensions under AddressSanitizer + UBSan: their differential tests and a fuzzer run (FUZZ_RUNS).
asan: $(VENV)/.dev
	.ci/asan

test-container: $(VENV)/.dev
	FAILPATH_CONTAINER_TESTS=1 $(VENV)/bin/python -m pytest -v tests/container

check-config: $(VENV)/.run
	$(VENV)/bin/failpath check-config $(CONFIG)

bench: $(VENV)/.dev
	$(VENV)/bin/python bench/throughput.py --rotel

clean:
	rm -rf $(VENV) data .mypy_cache .pytest_cache .ruff_cache
