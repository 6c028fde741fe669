# Two commands: `make demo` and `make test`. Each sets itself up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO_OUT ?= demo-out
# torch is pinned so pip takes the local CPU wheel instead of gigabytes of CUDA packages.
TORCH_PIN ?= torch==2.13.0

.PHONY: setup browser postgres demo test clean

$(BIN)/kaizen: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH_PIN)
	$(BIN)/pip install -q -e ".[dev]"
	touch $(BIN)/kaizen

setup: $(BIN)/kaizen

demo: setup
	$(BIN)/kaizen demo --out $(DEMO_OUT)

# Browser tests drive Debian's Chromium; as root (CI) it is installed, elsewhere they skip if absent.
browser:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) ; } || \
	  echo "chromium not installed: browser tests will be skipped"

# The storage tests also run on a real PostgreSQL server that they start themselves (initdb + pg_ctl in a
# temp dir); as root Debian's postgresql is installed, elsewhere those tests skip if it is absent.
postgres:
	@command -v initdb >/dev/null 2>&1 || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) ; } || \
	  echo "postgresql not installed: PostgreSQL tests will be skipped"

test: setup browser postgres
	$(BIN)/python -m pytest -q tests

clean:
	rm -rf $(VENV) $(DEMO_OUT) runs
