# Two commands for a newcomer: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: bench-compare bench-delivery bench-fairness bench-workers bench-mutations bench-scale bench-redactor run test test-fast test-long bench bench-documents lint schema install clean token browser js-clients vendor

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Starts Redis (embedded unless REDIS_URL is set), one Celery worker and the API; Ctrl-C stops all.
run: $(STAMP)
	exec $(BIN)/python -m devstack

# GraphiQL's browser test drives Debian's Chromium; installed here when missing and we are root
# (CI is). Without it that one test is skipped, saying why.
browser:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) || \
	    echo "make: no Chromium (install Debian's chromium package to run the browser test)"; }

# The JavaScript clients the frontend tests drive (Apollo, urql, graphql-ws, graphql-sse,
# graphql-http), at the versions tests/js/package-lock.json pins, from the npm registry.
JS_STAMP := tests/js/node_modules/.package-lock.json
$(JS_STAMP): tests/js/package-lock.json
	cd tests/js && npm ci --no-audit --no-fund --loglevel=error
	touch $(JS_STAMP)

js-clients: $(JS_STAMP)

# In stages, each only once the one before passed: lint and types, the unit tests of the pure
# modules (tests/unit: no Redis, no worker, no server; seconds), then the process-level suite
# (real Redis, Celery workers, uvicorn, WebSockets, Node clients, Chromium; minutes).
test: $(STAMP) browser $(JS_STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy .
	$(BIN)/python -m pytest -q tests/unit
	$(BIN)/python -m pytest -q tests --ignore=tests/unit

# The unit tests alone: the quick check while editing a pure module.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q tests/unit

# The long forms of the fuzz, property and chaos tests that `make test` runs short (an hour, not
# a minute): thousands of examples per fuzz case, ten rounds of chaos.
test-long: $(STAMP)
	FUZZ_EXAMPLES=5000 CHAOS_ROUNDS=10 $(BIN)/python -m pytest -q --timeout 0 \
	  tests/test_fuzz.py tests/test_render_properties.py tests/test_chaos.py

# A development token: make token USER=alice PLAN=Pro
USER_ID = $(or $(USER),alice)
token: $(STAMP)
	@$(BIN)/python -m devstack.token --user $(USER_ID) --plan $(or $(PLAN),Free)

bench: $(STAMP)
	$(BIN)/python bench/compiled_vs_execute.py
	$(BIN)/python bench/pipeline.py $(BENCH_ARGS)

# What one API process spends per delivered event, the worker taken out (bench/delivery.py).
bench-delivery: $(STAMP)
	$(BIN)/python bench/delivery.py --repeat 3 $(BENCH_ARGS)

# This project beside the Strawberry-tutorial pattern and pollers, on one Redis (bench/compare.py).
bench-compare: $(STAMP)
	$(BIN)/python bench/compare.py --runs 3 $(BENCH_ARGS)

# 20,000 subscriptions (5,000 sockets x 4) on one API process, then on two APIs and two workers; Redis's
# CPU per PUBLISH and its fan-out (bench/scale.py). Minutes; several client processes.
bench-scale: $(STAMP)
	$(BIN)/python bench/scale.py --runs 3 $(BENCH_ARGS)

# Queue wait per plan while Free users flood the service; --fifo adds the same on one FIFO queue.
bench-fairness: $(STAMP)
	$(BIN)/python bench/fairness.py --runs 3 --fifo $(BENCH_ARGS)

# Offline jobs per second per worker process, the cost of one event write, events per job.
bench-workers: $(STAMP)
	$(BIN)/python bench/workers.py --repeat 3 $(BENCH_ARGS)

# improveCv mutations per second on one API process, and a live subscription's latency meanwhile.
bench-mutations: $(STAMP)
	$(BIN)/python bench/mutations.py --runs 3 $(BENCH_ARGS)

# What the redactor costs a worker on the longest CV of hostile digits and separators.
bench-redactor: $(STAMP)
	$(BIN)/python bench/redactor.py --repeat 3

# What the worst GraphQL documents the bounds allow cost one API process (figures, no targets).
bench-documents: $(STAMP)
	$(BIN)/python bench/document_cost.py --repeat 5

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy .

schema: $(STAMP)
	$(BIN)/strawberry export-schema graph.schema:schema --output schema.graphql

clean:
	rm -rf $(VENV) build *.egg-info tests/js/node_modules

# Refetches the vendored GraphiQL files from the npm registry by the versions and integrity hashes
# graph/vendor/graphiql.json records; `make vendor VENDOR_ARGS=--check` verifies them offline.
vendor: $(STAMP)
	$(BIN)/python -m graph.vendor.fetch $(VENDOR_ARGS)
