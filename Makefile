# Two commands on a fresh machine: `make demo` (or `make run`) and `make test`.
# Every target creates .venv and installs the project on first use.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# The interpreters pyproject.toml's `requires-python` accepts.
PY_SUPPORTED := 3.11 or 3.12
PY_CHECK     := import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] <= (3, 12) else 1)

.PHONY: install python-version system-deps demo run test lint format clean

# A .venv whose interpreter is gone, unsupported, or cannot import the project (an install that
# failed half-way, a system Python upgraded underneath it) is rebuilt instead of reused.
ifneq ($(wildcard $(STAMP)),)
ifneq ($(shell $(BIN)/python -c 'import callaudit; $(PY_CHECK)' >/dev/null 2>&1 && echo ok),ok)
$(shell rm -f $(STAMP))
endif
endif

python-version:
	@$(PYTHON) -c '$(PY_CHECK)' >/dev/null 2>&1 || { \
	  echo "callaudit needs Python $(PY_SUPPORTED); PYTHON=$(PYTHON) is $$($(PYTHON) --version 2>&1 || echo 'not found')."; \
	  echo "Install a supported Python and point make at it, e.g.: make PYTHON=python3.12 $(or $(MAKECMDGOALS),install)"; \
	  exit 1; }

$(STAMP): pyproject.toml | python-version
	@$(BIN)/python -c '$(PY_CHECK)' >/dev/null 2>&1 || rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	@echo "installing the project and its dependencies into $(VENV) (log: $(VENV)/install.log)"
	@{ $(BIN)/pip install --quiet --upgrade pip && $(BIN)/pip install --quiet -e '.[dev]'; } \
	  >$(VENV)/install.log 2>&1 || { tail -n 30 $(VENV)/install.log; \
	  echo "pip install failed: the whole log is in $(VENV)/install.log"; exit 1; }
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
	$(BIN)/callaudit demo $(if $(SCORECARD),--scorecard $(SCORECARD))

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
