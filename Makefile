# Two commands on a fresh machine: `make run` (the demo on an embedded stack) and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
LOCK := $(VENV)/bin/uv pip compile pyproject.toml --universal --python-version 3.11 --generate-hashes --quiet

.PHONY: install run test test-fast test-lowest lint lock schemas bench

# The development set exactly as locked, then the project itself without its dependencies.
$(STAMP): pyproject.toml requirements/dev.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --require-hashes -r requirements/dev.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

run: install
	$(PY) -m devstack.demo

# Both tiers: the fast one (domain, parsing, audio engine, replay, workflow logic on the dev server) and the stack.
# One pytest worker per core, each with a stack of its own; a module whose tests share a costly fixture (an image,
# an installed kit) stays on one worker (its xdist_group).
test: install
	$(PY) -m pytest -q -n auto --maxprocesses 4 --dist loadgroup --durations=15

test-fast: install
	$(PY) -m pytest -q -m "not stack"

# The lowest versions pyproject.toml allows, in a venv of their own: the runtime set alone, then the fast tier.
test-lowest: install
	VENV=$(VENV) .ci/lowest-versions

lint: install
	$(VENV)/bin/ruff check .

# After changing a dependency in pyproject.toml: re-pin both lock files (kept pins stay unless they must move).
lock: install
	$(LOCK) -o requirements/runtime.txt
	$(LOCK) --extra test -o requirements/dev.txt

# After changing a wire model: regenerate docs/schemas/ and the NestJS package's copy (then `npm run generate` there).
schemas: install
	$(PY) -m waveflow.wire_schemas

bench: install
	$(PY) bench/analysis.py
