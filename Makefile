# reviewflow: the two set-up commands are `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export FLASK_APP := reviewflow

.PHONY: run test test-sqlite test-postgres lint lock bench bench-quick clean tools

# Two locks, every package pinned with its hashes (pip-tools; `make lock` recompiles them from the
# .in files): requirements.txt to run, requirements-dev.txt for the tests and the linter.
$(BIN)/flask: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements.txt
	touch $(BIN)/flask

DEV := $(VENV)/.dev-installed
$(DEV): requirements-dev.txt $(BIN)/flask
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.txt
	touch $@

.venv: $(BIN)/flask

# The tools that check the API from outside (tests/api/test_api_tools.py): a venv of their own, so
# they never enter the app's. About 15 s once; skipped tests without it, failed ones when CI=true.
TOOLS := .venv-tools
$(TOOLS)/.installed: requirements-tools.txt
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --require-hashes -r requirements-tools.txt
	# The Nu Html Checker (tests/test_html_valid.py) from the npm registry; it runs on the machine's Java.
	if command -v npm >/dev/null; then npm install --silent --no-audit --no-fund --ignore-scripts \
		--prefix $(TOOLS) vnu-jar@26.9.27; fi
	touch $@

tools: $(TOOLS)/.installed

run: $(BIN)/flask
	$(BIN)/flask --app reviewflow db upgrade
	$(BIN)/flask --app reviewflow seed-demo
	@$(BIN)/python -c "from reviewflow.demo_content import PEOPLE; print('\nDemo log-ins (password for all: ' + PEOPLE[0]['password'] + '):'); [print(f\"  {p['email']:<32} {', '.join(p['roles'])}\") for p in PEOPLE]; print('\nServing on http://127.0.0.1:5000\n')"
	$(BIN)/flask --app reviewflow run --host 127.0.0.1 --port 5000

# In parallel (pytest-xdist), one worker per core; each test file stays on one worker, so the
# module-scoped worlds are built once. PYTEST_WORKERS=0 runs in this process.
PYTEST_WORKERS ?= auto
test: $(DEV) $(TOOLS)/.installed
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: $(DEV)
	$(BIN)/ruff check .

bench: $(BIN)/flask
	$(BIN)/python -m bench $(BENCH_ARGS)

bench-quick: $(BIN)/flask
	$(BIN)/python -m bench --quick $(BENCH_ARGS)

# Recompile the three locks from requirements*.in after changing a pin there (needs pip-tools, put in
# a throwaway venv of its own). Versions already locked stay unless the .in file asks otherwise.
PIP_COMPILE := pip-compile --quiet --generate-hashes --allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links
lock:
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/pip install --quiet pip-tools==7.7.0
	.venv-lock/bin/$(PIP_COMPILE) --output-file requirements.txt requirements.in
	.venv-lock/bin/$(PIP_COMPILE) --output-file requirements-dev.txt requirements-dev.in
	.venv-lock/bin/$(PIP_COMPILE) --output-file requirements-tools.txt requirements-tools.in

clean:
	rm -rf $(VENV) $(TOOLS) .venv-lock instance .pytest_cache
