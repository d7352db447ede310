# Two commands for a new user: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CONFIG ?= configs/default.toml
SCENARIO ?= session-store
DURATION ?= 60
WARMUP ?= 5
RATE ?= 1000
USERS ?= 1
TARGET ?=

.PHONY: run test lint typecheck bench loadtest clean redis-cluster redis-cluster-stop

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
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	$(PY) -m bench.compare
	$(PY) -m bench.concurrency
	$(PY) -m bench.write_throughput --write
	$(PY) -m bench.broadcast_window --write

loadtest: $(STAMP)
	$(VENV)/bin/accelerator loadtest --scenario $(SCENARIO) --duration $(DURATION) --rate $(RATE) --users $(USERS) --warmup $(WARMUP) $(if $(RECORD),--record,) $(if $(TARGET),--target $(TARGET),)

# A local 3-node Redis Cluster for configs/redis-cluster.toml (ports 7000-7002, data under ./data).
CLUSTER_DIR := data/redis-cluster
redis-cluster:
	@for p in 7000 7001 7002; do mkdir -p $(CLUSTER_DIR)/$$p; \
	  redis-server --port $$p --bind 127.0.0.1 --cluster-enabled yes --cluster-config-file nodes.conf \
	    --dir $(CURDIR)/$(CLUSTER_DIR)/$$p --appendonly yes --save "" --daemonize yes \
	    --logfile $(CURDIR)/$(CLUSTER_DIR)/$$p/redis.log; done
	@sleep 0.5
	@redis-cli -p 7000 cluster info | grep -q 'cluster_state:ok' || \
	  redis-cli --cluster create 127.0.0.1:7000 127.0.0.1:7001 127.0.0.1:7002 --cluster-replicas 0 --cluster-yes
	@until redis-cli -p 7000 cluster info | grep -q 'cluster_state:ok'; do sleep 0.2; done; echo "cluster ok"

redis-cluster-stop:
	@for p in 7000 7001 7002; do redis-cli -p $$p shutdown nosave 2>/dev/null || true; done

clean:
	rm -rf $(VENV) data results .pytest_cache
