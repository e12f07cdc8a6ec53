# The two commands: `make run` and `make test`. Each sets itself up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: run test check browser kubectl chaos bench lint fmt clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP_RUN): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[embedded]'
	touch $@

$(STAMP_TEST): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[embedded,test]'
	touch $@ $(STAMP_RUN)

run: $(STAMP_RUN)
	$(BIN)/fasthook run

# The console's browser tests drive the machine's Chromium (Playwright cannot download one
# here): installed with apt when we can, else one line saying what to install.
CHROMIUM ?= $(or $(FASTHOOK_CHROMIUM),/usr/bin/chromium)
browser:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get install -y chromium || { apt-get update && apt-get install -y chromium; }; \
	  else \
	    echo "make test needs Chromium for the console's browser tests: run 'sudo apt-get install -y chromium' (or set FASTHOOK_CHROMIUM=/path/to/chromium)"; \
	    exit 1; \
	  fi; \
	fi

# tests/deploy renders deploy/kubernetes with `kubectl kustomize` (kubectl 1.21 or later: older
# ones, like Debian's kubernetes-client 1.20, embed a kustomize too old for the overlays). It is
# not installed from here: no Debian package is recent enough, and the kubectl wheels on PyPI
# are repackagings we cannot verify. Missing, one line says what to install.
KUBECTL ?= $(or $(FASTHOOK_KUBECTL),kubectl)
kubectl:
	@$(KUBECTL) kustomize deploy/kubernetes/base >/dev/null 2>&1 || { \
	  echo "make test needs kubectl 1.21 or later to render deploy/kubernetes (https://kubernetes.io/docs/tasks/tools/), or set FASTHOOK_KUBECTL=/path/to/kubectl"; \
	  exit 1; }

# Test files run in parallel workers (pytest-xdist), a file's tests on one worker so a module's
# shared stack starts once; each worker has its own broker, engine and port slice. Then the
# fault tests (marked `slow`: load, SIGSTOP, SIGKILL) beside each other, and beside them, in a
# process of their own (output shown after), the schemathesis cases and the pure core with its
# coverage: CPU work that no bound on time depends on. The tests with bounds on time (marked
# `serial`) run last, alone.
TEST_WORKERS ?= 3
BESIDE_LOG := .pytest-beside.log
# The packages `mypy --strict` checks (each added once clean; the rest still to do).
TYPED := schemas runtime deliverer issues console fasthook api ingress projections router
# The pure core's own tests (marked `pure`) with its coverage: below 100% of its branches
# ([tool.coverage] in pyproject.toml) the run fails. Coverage costs the other tests more than
# it tells (measured: docs/architecture.md), so they run without it. One process: on 3
# workers each collects the whole tree again (measured: twice the CPU, slower too).
PURE_COVERAGE := -m pure --cov --cov-report=term-missing:skip-covered
test: $(STAMP_TEST) browser kubectl
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy --strict $(TYPED)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile \
	  -m "not serial and not pure and not slow and not conformance"
	{ $(BIN)/python -m pytest -q -m conformance && $(BIN)/python -m pytest -q $(PURE_COVERAGE); } \
	  >$(BESIDE_LOG) 2>&1 & beside=$$!; \
	$(BIN)/python -m pytest -n 2 --dist loadfile -m "slow and not serial"; faults=$$?; \
	wait $$beside; rest=$$?; \
	echo "--- beside the fault tests: the schemathesis cases, the pure core and its coverage"; \
	cat $(BESIDE_LOG); test $$faults -eq 0 && test $$rest -eq 0
	$(BIN)/python -m pytest -m serial

# The inner loop, about a minute: lint, format, import contracts, types, the tests that start
# nothing (the pure core's with its coverage).
check: $(STAMP_TEST)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy --strict $(TYPED)
	$(BIN)/python -m pytest -q $(PURE_COVERAGE)
	$(BIN)/python -m pytest -m "not stack and not pure" -q

# The chaos suite for as long as asked: `make chaos MINUTES=5` (the fault cycle repeats every ~1.5 min).
MINUTES ?= 5
chaos: $(STAMP_TEST)
	CHAOS_MINUTES=$(MINUTES) $(BIN)/python -m pytest tests/chaos -s

bench: $(STAMP_TEST)
	$(BIN)/python -m bench

lint: $(STAMP_TEST)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy --strict $(TYPED)

fmt: $(STAMP_TEST)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .fasthook .pytest_cache .ruff_cache .mypy_cache
