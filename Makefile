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

# nginx lets the deployment tests run `nginx -t` and a live SSE proxy check; Debian's chromium lets
# a browser test load the API docs with the outside network blocked. Without them (no root or no
# apt) those tests skip with a reason and everything else still runs.
SYSTEM_PACKAGES := nginx chromium

system-deps:
	@for pkg in $(SYSTEM_PACKAGES); do \
	  command -v $$pkg >/dev/null 2>&1 && continue; \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get install -y -q $$pkg >/dev/null 2>&1 || \
	     (apt-get update -q >/dev/null 2>&1 && apt-get install -y -q $$pkg >/dev/null 2>&1)) || \
	    echo "$$pkg could not be installed: the $$pkg tests will skip"; \
	  else echo "$$pkg not installed: the $$pkg tests will skip"; fi; \
	done

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
