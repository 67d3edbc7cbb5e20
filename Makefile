# Everything a fresh machine needs lives here and in the lock files.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check
# Some machines list local package folders that do not exist; pip warns once per package.
PIP_NOISE := is ignored: it is neither a file nor a directory
PIP_VERSION := 25.3

export PREFECT_SERVER_ANALYTICS_ENABLED := false

.PHONY: install browser test lint typecheck demo clean lock bench

install: $(STAMP)

$(STAMP): requirements-dev.lock requirements-pip.lock pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	# pip itself first: older pips pick the newest release for a pinned package's extras
	# (prefect asks for sqlalchemy[asyncio]) and then refuse it in hash mode.
	$(PIP) --require-hashes -r requirements-pip.lock 2>&1 | { grep -v "$(PIP_NOISE)" || true; }
	$(PIP) --require-hashes -r requirements-dev.lock 2>&1 | { grep -v "$(PIP_NOISE)" || true; }
	$(PIP) --no-deps -e . 2>&1 | { grep -v "$(PIP_NOISE)" || true; }
	touch $(STAMP)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy

# Headless Chromium and CJK fonts for the tests that look at the Prefect UI and the HTML email
# as a person would. Best effort: where they cannot be installed those tests skip and say why.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  && apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	     chromium fonts-noto-cjk >/dev/null; } || echo "chromium not installed: browser tests will skip"

test: lint typecheck browser
	$(BIN)/python -m pytest

demo: install
	$(BIN)/stagecast demo

# The performance figures beside their targets, measured in one run: a table, then JSON (a few
# minutes). BENCH_ARGS="--quick" for small sizes, "--no-served" leaves out the Prefect server,
# "--json FILE" keeps the JSON; `.venv/bin/python benchmarks/bench.py --help` lists the sizes.
bench: install
	$(BIN)/python benchmarks/bench.py $(BENCH_ARGS)

# Re-lock after changing dependencies in pyproject.toml (needs uv: pip install uv).
lock:
	printf 'pip==$(PIP_VERSION)\n' | uv pip compile - --python-version 3.11 --generate-hashes -o requirements-pip.lock
	uv pip compile pyproject.toml --python-version 3.11 --generate-hashes -o requirements.lock
	uv pip compile pyproject.toml --extra dev --python-version 3.11 --generate-hashes -o requirements-dev.lock

clean:
	rm -rf $(VENV) .stagecast .pytest_cache .mypy_cache .ruff_cache
