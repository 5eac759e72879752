# The two commands of the quick start are `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PEERS := tests/peers

.PHONY: demo test install install-test peers lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Stamps keep repeated runs fast: pip runs again only when pyproject.toml changes.
install: $(VENV)/.demo-installed
install-test: $(VENV)/.test-installed

$(VENV)/.demo-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[demo]'
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]' --group dev
	touch $@ $(VENV)/.demo-installed

# Everything the tests talk to: Debian packages, npm servers, the LiteLLM proxy in its own venv.
peers:
	bash $(PEERS)/install.sh

# Starts a demo MCP server on 127.0.0.1:9676 and the exporter on :9675, probing it.
demo: install
	$(BIN)/mcp-exporter demo

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: install-test peers lint
	$(BIN)/pytest

bench: install-test peers
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(PEERS)/node/node_modules $(PEERS)/conformance/node_modules $(PEERS)/litellm/.venv
