# Two commands on a fresh machine: `make run` and `make test`. Both make .venv/ and install
# the pinned dependencies first (llama-cpp-python compiles once, about 6 minutes on 2 cores;
# pip caches the wheel after that).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The Vercel AI SDK for tests/clients/test_node.py, from tests/node/package-lock.json (exact
# versions). Without npm the step says so and those tests skip (CI=true: they fail).
NODE_DIR := tests/node
NODE_STAMP := $(NODE_DIR)/node_modules/.installed

.PHONY: install run test test-redis lint typecheck bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=24"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

$(NODE_STAMP): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix $(NODE_DIR) --no-audit --no-fund --loglevel=error && touch $@; \
	else \
		echo "npm not found: the Node client tests (tests/clients/test_node.py) will skip"; \
	fi

install: $(STAMP) $(NODE_STAMP)

run: $(STAMP)
	$(BIN)/llmrelay serve

test: $(STAMP) $(NODE_STAMP)
	$(BIN)/python -m pytest

# The same suite with every llmrelay server it starts sharing its answers through this Redis
# (LLMRELAY_REDIS_URL, a key prefix per server): P1–P7 must hold with Redis configured too.
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0
test-redis: $(STAMP) $(NODE_STAMP)
	LLMRELAY_TEST_REDIS_URL=$(TEST_REDIS_URL) $(BIN)/python -m pytest $(TEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: $(STAMP)
	$(BIN)/mypy

# `make bench`: the benchmarks (bench/RESULTS.md). Their tools and LiteLLM's proxy live in their
# own virtualenvs under bench/.work (git-ignored), pinned by bench/*requirements/constraints.
BENCH_WORK := bench/.work
BENCH_TOOLS := $(BENCH_WORK)/tools/.installed
BENCH_LITELLM := $(BENCH_WORK)/litellm/.installed

$(BENCH_TOOLS): bench/requirements.txt
	test -x $(BENCH_WORK)/tools/bin/python || $(PYTHON) -m venv $(BENCH_WORK)/tools
	$(BENCH_WORK)/tools/bin/python -m pip install --quiet -r bench/requirements.txt
	touch $@

$(BENCH_LITELLM): bench/litellm-requirements.txt bench/litellm-constraints.txt
	test -x $(BENCH_WORK)/litellm/bin/python || $(PYTHON) -m venv $(BENCH_WORK)/litellm
	$(BENCH_WORK)/litellm/bin/python -m pip install --quiet -c bench/litellm-constraints.txt \
		-r bench/litellm-requirements.txt
	touch $@

bench: $(STAMP) $(BENCH_TOOLS) $(BENCH_LITELLM)
	$(BENCH_WORK)/tools/bin/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis $(NODE_DIR)/node_modules
