# Causerie. `make demo` sets up and talks to the offline agent; `make test` runs the tests.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help setup demo talk chat test lint typecheck bench config-show clean

help:
	@echo "make demo        set up, then serve the offline agent at http://localhost:8080"
	@echo "make talk        set up, then talk to the agent with a generated question WAV"
	@echo "make chat        set up, then chat with the agent in text"
	@echo "make test        set up, then run the tests"
	@echo "make lint        ruff + mypy"
	@echo "make bench       voice-to-voice latency benchmark (writes docs/PERFORMANCE.md)"
	@echo "make config-show the effective agent definition"

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

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

lint: $(STAMP)
	$(BIN)/ruff check causerie tests bench
	$(BIN)/ruff format --check causerie tests bench
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python bench/latency.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache out
