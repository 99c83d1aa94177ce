# The image SageMaker runs: `docker run IMAGE train` and `docker run IMAGE serve`.
#
#   docker build -t sagemaker-byoc .                                  # official python slim base
#   docker build --build-arg BASE_IMAGE=python:3.11-slim-bookworm@sha256:<digest> -t sagemaker-byoc .
#   docker build --build-arg BASE_IMAGE=<any Debian-like python3 image with venv> -t sagemaker-byoc .
#   docker build --platform linux/amd64 -t sagemaker-byoc .           # on Apple Silicon: SageMaker is x86
#
# Reproducible: the dependencies come from requirements/image.lock (every version pinned, every
# file's hash checked; `make lock` remakes it from pyproject.toml), and BASE_IMAGE takes a digest
# (name@sha256:...) to pin the base, its Python and its pip too. The tag alone may move.
#
# Plain Dockerfile syntax (no BuildKit-only features), so it builds with BuildKit, the legacy
# builder and the Docker SDK alike. Layers are ordered from what changes least to what changes
# most: the dependencies are installed from the lock file alone, so editing model/ or the
# runtime only rebuilds the project's own, small, last layer.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS base
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# 1. A C toolchain for the build stages only (never in the final image): for the project's
#    optional C accelerator (setup.py) and for any dependency without a wheel. Optional itself:
#    without a reachable package mirror the build goes on, and the extension is skipped.
FROM base AS builder
RUN python3 -c 'import os, sysconfig; os.stat(sysconfig.get_paths()["include"] + "/Python.h")' 2>/dev/null \
      || headers=python3-dev; \
    ( apt-get update -qq && apt-get install -y -qq --no-install-recommends gcc libc6-dev $headers >/dev/null \
      && rm -rf /var/lib/apt/lists/* ) \
    || echo "WARNING: no C compiler: optional C extensions will be skipped" >&2

# 2. /opt/venv with the dependencies only: the big layer, keyed on the lock file alone.
#    --require-hashes: every file pip fetches must match a hash in the lock, and every package it
#    would install must be pinned there, so nothing unlocked comes in. pip is the base's own (a
#    digest pins it): the lock holds what the image runs, not the tool that installs it.
#    pip compiles the .pyc files here, so imports are fast although the image never writes bytecode.
#    Then what serving and training never use goes: the packages' own test suites (about 65 MB
#    for numpy, scipy and scikit-learn) and the venv's bundled setuptools, unless a dependency
#    needs it (old copies are what image scanners flag). pip stays, for `pip list` when debugging.
FROM builder AS deps
COPY requirements/image.lock /tmp/image.lock
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --require-hashes -r /tmp/image.lock \
 && if /opt/venv/bin/pip show setuptools >/dev/null 2>&1 \
       && [ -z "$(/opt/venv/bin/pip show setuptools | sed -n 's/^Required-by: *//p')" ]; then \
      /opt/venv/bin/pip uninstall -y -q setuptools; fi \
 && find /opt/venv/lib -depth -type d -name tests -path '*/site-packages/*' -exec rm -rf {} + \
 && /opt/venv/bin/pip check \
 && rm /tmp/image.lock

# 3. The project: built as a wheel in a throw-away build venv (its tools from
#    requirements/build.lock, hash-checked too), installed with --no-deps into /opt/venv under a
#    staging root, so the final stage can copy just these files. Only the runtime (container/) and
#    the model (model/): the laptop CLI (byoc/) is not in the build context, so neither its package
#    nor its `byoc` script is installed (setup.py). First, a check keyed on pyproject.toml alone
#    (so a model/ edit does not rerun it): every dependency it lists must be installed in range
#    (pip, offline): one added without `make lock` stops the build here, naming it, instead of
#    failing on an endpoint.
FROM deps AS build
COPY requirements/build.lock /tmp/build.lock
RUN python3 -m venv /opt/buildenv && /opt/buildenv/bin/pip install --require-hashes -r /tmp/build.lock
COPY pyproject.toml setup.py* README.md /src/
RUN /opt/venv/bin/python -c 'import tomllib; print(*tomllib.load(open("/src/pyproject.toml", "rb"))["project"]["dependencies"], sep="\n")' \
      > /tmp/dependencies.txt \
 && { /opt/venv/bin/pip install --dry-run --no-index --no-deps --quiet -r /tmp/dependencies.txt \
      || { echo "requirements/image.lock does not hold pyproject.toml's dependencies: run 'make lock'" \
           "and commit it" >&2; exit 1; }; }
COPY container/ /src/container/
COPY model/ /src/model/
RUN /opt/buildenv/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/dist /src \
 && /opt/venv/bin/pip install --no-deps --no-warn-script-location --root /opt/stage /tmp/dist/*.whl \
 && /opt/venv/bin/python -c "import sys; sys.path[:0] = ['/opt/stage/opt/venv/lib/python%d.%d/site-packages' % sys.version_info[:2]]; import container, model"

# 4. What ships: the base, the workers' user, the dependencies layer, then the project's few
#    files on top. The gunicorn workers handle requests as `byoc` (container/privileges.py): a
#    system user with its own group, no home and no shell, owning nothing; it may read the venv,
#    and write only where anyone may (/tmp, /dev/shm). The master, `train` and any other command
#    stay root.
FROM base
RUN useradd --system --user-group --no-log-init --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin byoc
COPY --from=deps /opt/venv /opt/venv
COPY --from=build /opt/stage/opt/venv/ /opt/venv/
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv
# The server listens on $SAGEMAKER_BIND_TO_PORT (default 8080): inference pipelines require this label.
LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true \
      org.opencontainers.image.title="sagemaker-byoc" \
      org.opencontainers.image.description="Bring your own scikit-learn model to Amazon SageMaker"
# Nothing under /opt/ml: SageMaker mounts over it. Runs as root, as SageMaker expects (no USER).
# Exec form: `train` or `serve` becomes PID 1 and gets SIGTERM directly; any other command runs as given.
ENTRYPOINT ["/opt/venv/bin/byoc-entrypoint"]
