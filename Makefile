# Causerie. `make demo` sets up and talks to the offline agent; `make test` runs the tests.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
# pip's site config names a missing local index; its warning on every package is noise.
QUIET_PIP := { grep -v "is ignored: it is neither" || true; }

.PHONY: help setup demo talk chat test lint typecheck bench config-show clean lock flake smoke
.PHONY: fuzz
.PHONY: install start stop change-llm plugins metrics
PIDFILE ?= var/causerie.pid
LOG ?= var/causerie.log

help:
	@echo "make demo        set up, then serve the offline agent at http://localhost:8080"
	@echo "make talk        set up, then talk to the agent with a generated question WAV"
	@echo "make chat        set up, then chat with the agent in text"
	@echo "make test        set up, then run the tests"
	@echo "make lint        ruff + mypy"
	@echo "make lock        re-resolve $(LOCK) after a dependency change (UPGRADE=1: newest of all)"
	@echo "make flake       run the whole suite 3 times on a fresh clone, then once with a busy core"
	@echo "make smoke       start the demo server, speak one turn over WebSocket, stop it"
	@echo "make fuzz        the fuzz tests 20 times longer (FUZZ_SCALE=N; schemathesis, hypothesis)"
	@echo "make bench       voice-to-voice latency benchmark (writes docs/PERFORMANCE.md)"
	@echo "make config-show the effective agent definition"
	@echo "make start       serve in the background (PID in $(PIDFILE), log in $(LOG)); make stop"
	@echo "make change-llm PROVIDER=openai MODEL=gpt-4o   (or: make change-llm openai gpt-4o)"
	@echo "make plugins     installed and enabled plugins;  make metrics: latency percentiles"

# The project's own machines install exact versions with hashes from $(LOCK); pyproject.toml
# keeps ranges for users of `pip install causerie`. `pip check` and .ci/check_lock.py fail when
# pyproject.toml asks for something the lock lacks: run `make lock` then.
$(STAMP): $(LOCK) pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes --no-deps -r $(LOCK) 2>&1 | $(QUIET_PIP)
	$(BIN)/pip install -q --no-deps -e . 2>&1 | $(QUIET_PIP)
	$(BIN)/pip check
	$(BIN)/python .ci/check_lock.py
	touch $(STAMP)

setup: $(STAMP)

# uv resolves in seconds and writes a pip-compatible file with hashes, so installing needs
# nothing but pip. It keeps the pins already in the lock unless UPGRADE=1.
lock:
	@test -x $(BIN)/uv || $(MAKE) setup
	$(BIN)/uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 \
		$(if $(UPGRADE),--upgrade) --quiet -o $(LOCK)
	@echo "wrote $(LOCK); run 'make setup' to install it"

demo: $(STAMP)
	$(BIN)/causerie serve

talk: $(STAMP)
	$(BIN)/python -m causerie.demo

chat: $(STAMP)
	$(BIN)/causerie chat

config-show: $(STAMP)
	$(BIN)/causerie config show

test: $(STAMP)
	$(BIN)/python -m pytest -q

# The suite runs each fuzzer briefly; this multiplies every budget (tests/fuzzing.py).
FUZZ_SCALE ?= 20
fuzz: $(STAMP)
	CAUSERIE_FUZZ_SCALE=$(FUZZ_SCALE) $(BIN)/python -m pytest -q -s --timeout=7200 \
		tests/unit/test_fuzz_inputs.py tests/integration/test_fuzz_http.py \
		tests/integration/test_fuzz_protocol.py

flake: $(STAMP)
	$(BIN)/python tests/flake.py

smoke: $(STAMP)
	$(BIN)/python .ci/demo_smoke.py

lint: $(STAMP)
	$(BIN)/ruff check causerie tests bench
	$(BIN)/ruff format --check causerie tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/latency.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache out

# The original design's targets.
install: setup

start: $(STAMP)
	@mkdir -p $(dir $(PIDFILE)) $(dir $(LOG))
	@if [ -f $(PIDFILE) ] && kill -0 $$(cat $(PIDFILE)) 2>/dev/null; then \
		echo "already running (pid $$(cat $(PIDFILE))); make stop first"; exit 1; fi
	@nohup $(BIN)/causerie serve >$(LOG) 2>&1 & echo $$! >$(PIDFILE)
	@for i in $$(seq 240); do grep -q "is ready" $(LOG) && break; sleep 0.5; \
		kill -0 $$(cat $(PIDFILE)) 2>/dev/null || { cat $(LOG); rm -f $(PIDFILE); exit 1; }; done
	@grep "is ready" $(LOG); echo "pid $$(cat $(PIDFILE)), log $(LOG); make stop ends it"

stop:
	@pid=$$(cat $(PIDFILE) 2>/dev/null || true); if [ -n "$$pid" ] && kill $$pid 2>/dev/null; \
		then for i in $$(seq 50); do kill -0 $$pid 2>/dev/null || break; sleep 0.2; done; \
		echo "stopped pid $$pid"; else echo "not running"; fi; rm -f $(PIDFILE)

# `make change-llm openai gpt-4o` as the original tutorial writes it, or PROVIDER=.. MODEL=..
ifeq (change-llm,$(firstword $(MAKECMDGOALS)))
LLM_ARGS := $(wordlist 2,3,$(MAKECMDGOALS))
$(eval $(LLM_ARGS):;@:)
endif
change-llm: $(STAMP)
	@test -n "$(or $(PROVIDER),$(word 1,$(LLM_ARGS)))" || \
		{ echo "usage: make change-llm PROVIDER=openai MODEL=gpt-4o"; exit 2; }
	$(BIN)/causerie change-llm $(or $(PROVIDER),$(word 1,$(LLM_ARGS))) $(or $(MODEL),$(word 2,$(LLM_ARGS)))

plugins: $(STAMP)
	$(BIN)/causerie plugins list

metrics: $(STAMP)
	$(BIN)/causerie metrics
