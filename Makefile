# Two commands for a newcomer: `make demo` and `make test`. Both set up .venv on first use.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: demo test clean

# setup.py builds the optional C CSV parser in place: a changed source rebuilds it.
$(VENV)/.installed: pyproject.toml setup.py container/_csvparse.c container/_csvparse_pow10.h
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/byoc demo

test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) jobs .pytest_cache
