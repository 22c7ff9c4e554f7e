# Two commands on a fresh machine: `make demo` (or `make run`) and `make test`.
# Every target creates .venv and installs the project on first use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install system-deps demo run test lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# nginx lets the deployment tests run `nginx -t` and a live SSE proxy check; without it (no root
# or no apt) those tests skip with a reason and everything else still runs.
system-deps:
	@command -v nginx >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -q nginx >/dev/null 2>&1 || \
	     (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q nginx >/dev/null 2>&1)) || \
	    echo "nginx could not be installed: the nginx tests will skip"; \
	  else echo "nginx not installed: the nginx tests will skip"; fi; }

demo: $(STAMP)
	$(BIN)/callaudit demo

run: $(STAMP)
	$(BIN)/callaudit run

test: $(STAMP) system-deps lint
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

format: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	-$(BIN)/callaudit services down
	rm -rf .callaudit .pytest_cache .mypy_cache .ruff_cache
