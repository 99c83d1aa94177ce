# Two commands for a newcomer: `make demo` and `make test`. Both set up .venv on first use.
# `make lock` remakes the image's lock files after a change to pyproject.toml's dependencies.
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

# The lock files, made by uv (`make lock`). It resolves for every platform and Python >= 3.11 at
# once (--universal), so they come out the same whichever machine runs it and cover linux/amd64
# and linux/arm64 images alike; its version is pinned so the same inputs give the same files.
# - requirements/dev.lock: everything a checkout installs (all extras); `make test` and `make demo`
#   install under it as constraints, so tests run the versions the image ships.
# - requirements/image.lock: the runtime's dependencies only, at dev.lock's versions, with every
#   file's hash; the image installs it with `pip install --require-hashes` (Dockerfile).
# - requirements/build.lock: the tools the image builds the project's wheel with, hashed too.
UV_VERSION := 0.13.9
UV := $(VENV)/bin/uv
DEV_LOCK := requirements/dev.lock
IMAGE_LOCK := requirements/image.lock
BUILD_LOCK := requirements/build.lock
COMPILE = $(UV) pip compile --quiet --universal --python-version 3.11 --custom-compile-command 'make lock' $(LOCK_ARGS)

.PHONY: demo test clean lock lock-upgrade

# setup.py builds the optional C CSV parser in place: a changed source rebuilds it.
# requirements/dev.lock as constraints (no hashes: an editable install cannot be hash-checked).
$(VENV)/.installed: pyproject.toml setup.py container/_csvparse.c container/_csvparse_pow10.h $(DEV_LOCK)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]' -c $(DEV_LOCK)
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/byoc demo

test: $(VENV)/.installed
	$(PY) -m pytest $(PYTEST_ARGS)

# `make lock`: pyproject.toml's dependencies (and its build-system's, for the image's build stage)
# resolved again, keeping every pin that still fits; `make lock-upgrade`: every pin moved to the
# newest release that fits. Commit the three files; the next `docker build` reinstalls.
lock: $(VENV)/.uv-$(UV_VERSION)
	$(COMPILE) --all-extras --output-file $(DEV_LOCK) pyproject.toml
	$(COMPILE) --generate-hashes --constraint $(DEV_LOCK) --output-file $(IMAGE_LOCK) pyproject.toml
	$(PY) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], "wheel", sep="\n")' \
	  | $(COMPILE) --generate-hashes --output-file $(BUILD_LOCK) -

lock-upgrade:
	$(MAKE) lock LOCK_ARGS=--upgrade

$(VENV)/.uv-$(UV_VERSION):
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q 'uv==$(UV_VERSION)'
	touch $@

clean:
	rm -rf $(VENV) jobs .pytest_cache
