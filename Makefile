# The two commands of the README:
#   make demo   throwaway Synapse + the bot + a scripted séance; prints the output folder
#   make test   the whole test suite (unit, PostgreSQL, end-to-end on a real Synapse)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

tests/icaljs/node_modules: tests/icaljs/package-lock.json
	npm ci --silent --no-audit --no-fund --prefix tests/icaljs
	touch tests/icaljs/node_modules

tests/e2ee/node_modules: tests/e2ee/package-lock.json
	npm ci --silent --no-audit --no-fund --prefix tests/e2ee
	touch tests/e2ee/node_modules

demo: $(STAMP)
	./scripts/install-system-deps.sh
	$(BIN)/maillage demo

test: $(STAMP)
	./scripts/install-system-deps.sh --tests
	$(MAKE) tests/icaljs/node_modules tests/e2ee/node_modules
	$(BIN)/ruff check --select F,E9 bot commands tests bench
	$(BIN)/python -m pytest -p no:cacheprovider

bench: $(STAMP)
	./scripts/install-system-deps.sh
	$(BIN)/python bench/core.py
	$(BIN)/python bench/minutes.py
	$(BIN)/python bench/catchup.py
	$(MAKE) tests/e2ee/node_modules
	$(BIN)/python bench/encrypted.py

clean:
	rm -rf $(VENV) tests/icaljs/node_modules tests/e2ee/node_modules demo-output
