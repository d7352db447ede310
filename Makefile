# Two commands for a new user: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONFIG ?= configs/default.toml
SCENARIO ?= session-store
DURATION ?= 60
RATE ?= 1000
USERS ?= 1
TARGET ?=

.PHONY: run test lint typecheck bench loadtest clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,postgres,redis,dynamodb,loadtest]'
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/accelerator serve --config $(CONFIG)

test: $(STAMP)
	$(PY) -m pytest -q -p no:cacheprovider tests

lint: $(STAMP)
	$(VENV)/bin/ruff check accelerator backends tests bench loadtest
	$(VENV)/bin/mypy accelerator backends

bench: $(STAMP)
	$(PY) -m bench.compare

loadtest: $(STAMP)
	$(VENV)/bin/accelerator loadtest --scenario $(SCENARIO) --duration $(DURATION) --rate $(RATE) --users $(USERS) $(if $(TARGET),--target $(TARGET),)

clean:
	rm -rf $(VENV) data results .pytest_cache
