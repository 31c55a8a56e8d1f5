# Every target sets up what it needs. `make run` and `make test` work on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: run test lint format bench clean browser-deps bench-deps

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $@

## run: serve Singgah on http://127.0.0.1:8000 with an embedded SQLite database and demo data
run: $(STAMP)
	$(BIN)/singgah serve --demo

## browser-deps: Debian's Chromium for the browser tests (installed as root when missing)
browser-deps:
	@if ! command -v chromium >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "chromium is missing: run 'sudo apt-get install -y chromium' (browser tests will skip)"; \
		fi; \
	fi

## test: install what the tests need and run the whole suite
test: $(STAMP) browser-deps bench-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

## lint: ruff check and ruff format --check
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## bench-deps: Debian's wrk, the load generator of the check-in benches and their tests (as root)
bench-deps:
	@if ! command -v wrk >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; \
		else \
			echo "wrk is missing: run 'sudo apt-get install -y wrk' (benches stop, their tests skip)"; \
		fi; \
	fi

## bench: run the benchmarks and print their figures (installs wrk as root when missing)
bench: $(STAMP) bench-deps
	$(BIN)/python -m bench.checkin_load
	$(BIN)/python -m bench.scale_out
	$(BIN)/python -m bench.db_backend
	$(BIN)/python -m bench.tokens
	$(BIN)/python -m bench.posters

clean:
	rm -rf $(VENV) .pytest_cache
