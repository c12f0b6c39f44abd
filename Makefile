# Bugsift. `make demo` starts a demo on embedded defaults; `make test` runs the whole suite.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: venv demo test bench bench-compare fuzz lint run worker clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

# Demo: SQLite in var/, an embedded file broker, the web app and one worker.
demo: export DJANGO_DEBUG ?= 1
demo: venv
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_demo --url http://$(HOST):$(PORT)/
	@trap 'kill 0' INT TERM EXIT; \
	$(BIN)/celery -A config --quiet worker --loglevel=error --concurrency=2 --queues=celery,repro.cpu & \
	(sleep 3; echo; echo "Bugsift demo: http://$(HOST):$(PORT)/  log in as owner, alice or bob, password bugsift-demo. Ctrl-C stops it."; echo) & \
	$(BIN)/python manage.py runserver $(HOST):$(PORT) --noreload

test: venv
	$(BIN)/python -m pytest

# Benchmarks need PostgreSQL (DATABASE_URL, default: the local server) and print a table.
bench: venv
	$(BIN)/python benchmarks/run.py

# Bugsift next to Label Studio 1.23.2 (installed once into var/bench/labelstudio-venv), both on
# SQLite with their own dev servers, on the same seeded workload. ITEMS=2000 for a quick run.
ITEMS ?= 100000
REQUESTS ?= 50
bench-compare: venv
	$(BIN)/python benchmarks/compare.py --items $(ITEMS) --requests $(REQUESTS)

# A longer schemathesis run over every API operation (the test suite runs 3 examples each).
fuzz: venv
	FUZZ_EXAMPLES=$${FUZZ_EXAMPLES:-50} $(BIN)/python -m pytest -m fuzz tests/test_api_fuzz.py

lint: venv
	$(BIN)/ruff check .

clean:
	rm -rf var/ .pytest_cache
