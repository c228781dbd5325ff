# The two commands a newcomer needs: `make demo` and `make test`. Both set up .venv first:
# the demo with what the bot runs on, the tests with the test tools and linters besides.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
DEV_STAMP := $(VENV)/.installed-dev-stamp
DEMO := .demo
PIP := $(BIN)/pip install --quiet --disable-pip-version-check

.PHONY: install demo test check format clean exports prometheus-server

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) -e .
	touch $(STAMP)

$(DEV_STAMP): $(STAMP)
	$(PIP) -e '.[dev]'
	touch $(DEV_STAMP)

install: $(DEV_STAMP)

# The example repository is created only when absent, so a second `make demo` shows that
# the bot converges: unchanged inputs leave every branch head and PR text as they were.
$(DEMO)/monorepo:
	@mkdir -p $(DEMO)
	@cp -R fixtures/monorepo $(DEMO)/monorepo
	@cd $(DEMO)/monorepo && git init --quiet --initial-branch=main \
	  && git add --all \
	  && git -c user.name="Acme Platform Team" -c user.email=platform@acme.example \
	     -c commit.gpgsign=false commit --quiet -m "Initial infrastructure"

# The bundled export ends on 2026-11-26: the demo replays the morning after it (--as-of),
# since usage older than max_data_age_days changes nothing. Quiet: the bot says what it did,
# make does not repeat the command (`rightsizer run -v` prints the plan and the PR texts).
demo: $(STAMP) $(DEMO)/monorepo
	@$(BIN)/rightsizer run --as-of 2026-11-27T06:00:00Z --repo $(DEMO)/monorepo \
	  --utilisation fixtures/exports/utilisation.csv --cost fixtures/exports/cost.csv \
	  --forge local --pr-dir $(DEMO)/pull-requests

check: $(DEV_STAMP)
	$(BIN)/ruff format --check bot recommenders tests benchmarks fixtures/generate_exports.py
	$(BIN)/ruff check bot recommenders tests benchmarks fixtures/generate_exports.py
	$(BIN)/mypy
	$(BIN)/lint-imports

# The real server the `server` tests start. Installed from Debian when we can (root, apt-get);
# elsewhere those tests skip with the reason, unless CI is set, where they fail.
prometheus-server:
	@if command -v prometheus >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends prometheus; \
	else echo "prometheus is not installed and cannot be here (needs root and apt-get)"; fi

# The real browser the dashboard tests load pages in (tests/test_dashboard.py), the same way:
# Debian's chromium when we can; elsewhere those tests skip, unless CI is set.
.PHONY: browser
browser:
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends chromium; \
	else echo "chromium is not installed and cannot be here (needs root and apt-get)"; fi

# The real Mermaid the PR chart tests render with in that browser (tests/test_pr_charts.py):
# one release's self-contained bundle from the npm registry, checked against its digest.
MERMAID_VERSION := 11.17.2
MERMAID_SHA256 := 581ed7d74bd9048d0e3a91363927d72ef22942d7722546b27f7cc29e35390eb8
MERMAID_JS := .cache/mermaid-$(MERMAID_VERSION)/mermaid.min.js
.PHONY: mermaid
mermaid: $(MERMAID_JS)
$(MERMAID_JS):
	@if command -v npm >/dev/null 2>&1; then \
	  mkdir -p $(@D) && cd $(@D) && npm pack --silent mermaid@$(MERMAID_VERSION) >/dev/null \
	  && tar -xzf mermaid-$(MERMAID_VERSION).tgz --strip-components=2 package/dist/mermaid.min.js \
	  && rm mermaid-$(MERMAID_VERSION).tgz \
	  && echo "$(MERMAID_SHA256)  mermaid.min.js" | sha256sum --check --quiet \
	  || { rm -f mermaid.min.js; exit 1; }; \
	else echo "npm is not installed: the PR chart tests will skip"; fi

# Two workers (pytest-xdist): the suite's long tests are subprocesses and servers that wait
# on each other, so two halve its time on two cores. TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
test: check prometheus-server browser mermaid
	$(BIN)/pytest -n $(TEST_WORKERS)

format: $(DEV_STAMP)
	$(BIN)/ruff format bot recommenders tests benchmarks fixtures/generate_exports.py
	$(BIN)/ruff check --fix bot recommenders tests benchmarks fixtures/generate_exports.py

# Regenerates fixtures/exports from the committed generator (fixed seed: same bytes every time).
exports: $(STAMP)
	$(BIN)/python fixtures/generate_exports.py fixtures/exports

clean:
	rm -rf $(VENV) $(DEMO) .cache .pytest_cache .mypy_cache .ruff_cache

# Forecasting benchmarks beside statsforecast, which pins pandas<3 and so cannot share .venv:
# it gets its own venv, made once (the stamp inside it) and again when pyproject.toml changes.
BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed-stamp

$(BENCH_STAMP): pyproject.toml
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check -e . statsforecast
	touch $(BENCH_STAMP)

.PHONY: bench-forecast
bench-forecast: $(BENCH_STAMP)
	$(BENCH_VENV)/bin/python benchmarks/forecast.py
	$(BENCH_VENV)/bin/python benchmarks/heldout.py
