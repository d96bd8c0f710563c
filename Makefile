# make test | make lint | make docs | make demo | make bench        (PYTHON=python3.13 for another interpreter)
PYTHON ?= python3
# One virtualenv per interpreter, so that `make test PYTHON=python3.13` never disturbs .venv.
VENV ?= $(if $(filter python3,$(PYTHON)),.venv,.venv-$(notdir $(PYTHON)))
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: help install browser test stress lint format docs demo bench clean

help:
	@echo "make test    run the whole test suite (creates $(VENV) on first use; chromium when root)"
	@echo "make stress  the whole suite at the full figures of docs/reliability.md (slow)"
	@echo "make lint    ruff, mypy --strict and the import contracts (import-linter)"
	@echo "make docs    build the documentation site into site/ (mkdocs build --strict)"
	@echo "make demo    the example apps under real servers, with a live summary; a SIGKILL scene"
	@echo "make bench   benchmarks against peers; writes the table and docs/benchmarks.png"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/python -m pip install --quiet -e . --group dev
	@touch $@

install: $(STAMP)

# The dashboard's browser tests drive Debian's chromium through chromedriver. Installed here
# when missing and this is root (apt-get update first); otherwise nothing is done and those
# tests skip with the reason (they fail instead under TASQ_REQUIRE_SERVICES=1).
browser:
	@if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "installing chromium and chromium-driver for the browser tests"; \
		DEBIAN_FRONTEND=noninteractive apt-get update -qq \
			&& DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null \
			|| echo "chromium could not be installed: the browser tests will skip"; \
	fi

test: $(STAMP) browser
	$(BIN)/python -m pytest $(PYTEST_ARGS)

stress: $(STAMP) browser
	TASQ_STRESS=1 $(BIN)/python -m pytest --timeout=900 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check tasq tests benchmarks example_projects
	$(BIN)/ruff format --check tasq
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff check --fix tasq tests benchmarks example_projects
	$(BIN)/ruff format tasq

docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

demo: $(STAMP)
	$(BIN)/python -m example_projects.demo

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf .venv .venv-* build dist site *.egg-info .mypy_cache .ruff_cache
