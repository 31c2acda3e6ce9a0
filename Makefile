# The two commands: `make run` starts failpath with the default config, `make test` runs the suite.
# Both create .venv from pyproject.toml on first use (and again whenever pyproject.toml changes).
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed
CONFIG ?= config/failpath.yaml

.PHONY: run test lint bench check-config clean

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/failpath serve --config $(CONFIG)

test: $(STAMP)
	$(VENV)/bin/ruff check processor tests bench
	$(VENV)/bin/ruff format --check processor tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/python -m pytest

check-config: $(STAMP)
	$(VENV)/bin/failpath check-config $(CONFIG)

bench: $(STAMP)
	$(VENV)/bin/python -m pip install --quiet '.[bench]'
	$(VENV)/bin/python bench/throughput.py --rotel

clean:
	rm -rf $(VENV) data .mypy_cache .pytest_cache .ruff_cache
