# Two commands a fresh machine needs (only python3 and pip assumed):
#   make run    set up .venv and train the default 64-seed InvertedPendulum-v5 DQN
#   make test   set up .venv and run the test suite (what CI runs; tests/test_docs.py builds
#               the docs site with mkdocs build --strict, tests/test_wheel.py the wheel)
#   make docs   build the documentation site into site/ (make docs-serve: live preview)
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
ARGS ?= --seeds 64
# The suite in one process per core (pytest-xdist), each test file on one worker so that its
# module fixtures (the compiled programs its tests share) are built once.
PYTEST_WORKERS ?= -n auto --maxprocesses 4 --dist loadfile

.PHONY: run test test-slow format setup docs docs-serve

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt -e ".[test]"
	touch $@

setup: $(VENV)/.installed

run: $(VENV)/.installed
	$(PY) -m purejaxdqn.run $(ARGS)

test: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy purejaxdqn
	$(PY) -m pytest -q -m "not slow" $(PYTEST_WORKERS)

test-slow: $(VENV)/.installed
	$(PY) -m pytest -q -m slow

docs: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

docs-serve: $(VENV)/.installed
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve

format: $(VENV)/.installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .
