# Two commands for a newcomer: `make demo` and `make test`. Both set up everything they need
# (system packages, virtualenv, editable install) and are idempotent: a second run is fast.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SYSPKG := pcscd vsmartcard-vpcd libpcsclite-dev socat gcc tmux python3-venv python3-dev softhsm2
SUDO   := $(shell [ "$$(id -u)" = "0" ] || echo sudo)
STAMP  := $(VENV)/.installed

.PHONY: demo test setup system-packages lint typecheck unit slow bench clean

demo: setup
	$(BIN)/pos run --demo

test: setup lint typecheck
	$(BIN)/python -m pytest -n 2 --dist loadgroup tests

setup: system-packages $(STAMP)

system-packages:
	@missing="$$(for p in $(SYSPKG); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || echo $$p; \
	done)"; \
	if [ -n "$$missing" ]; then \
	    echo "Installing system packages:" $$missing; \
	    $(SUDO) apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: setup
	$(BIN)/mypy

unit: setup
	$(BIN)/python -m pytest -n 2 --dist loadgroup -m "not slow" tests

slow: setup
	$(BIN)/python -m pytest -m slow tests

bench: setup
	$(BIN)/pos bench kernel

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
