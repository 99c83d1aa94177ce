# The image SageMaker runs: `docker run IMAGE train` and `docker run IMAGE serve`.
#
#   docker build -t sagemaker-byoc .                                  # official python slim base
#   docker build --build-arg BASE_IMAGE=<any Debian-like python3 image with venv> -t sagemaker-byoc .
#   docker build --platform linux/amd64 -t sagemaker-byoc .           # on Apple Silicon: SageMaker is x86
#
# Plain Dockerfile syntax (no BuildKit-only features), so it builds with BuildKit, the legacy
# builder and the Docker SDK alike. Layers are ordered from what changes least to what changes
# most: the dependencies are installed from the dependency list alone, so editing model/ or the
# runtime only rebuilds the project's own, small, last layer.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS base
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# 1. The dependency list, extracted from pyproject.toml. Only its content keys the next stage's
#    cache, so editing anything else in pyproject.toml does not reinstall the dependencies.
FROM base AS requirements
COPY pyproject.toml /tmp/pyproject.toml
RUN python3 -c 'import tomllib; p = tomllib.load(open("/tmp/pyproject.toml", "rb")); \
print("\n".join(p["project"]["dependencies"]), file=open("/tmp/requirements.txt", "w")); \
print("\n".join(p["build-system"]["requires"] + ["wheel"]), file=open("/tmp/build-requirements.txt", "w"))'

# 2. A C toolchain for the build stages only (never in the final image): for the project's
#    optional C accelerator (setup.py) and for any dependency without a wheel. Optional itself:
#    without a reachable package mirror the build goes on, and the extension is skipped.
FROM base AS builder
RUN python3 -c 'import os, sysconfig; os.stat(sysconfig.get_paths()["include"] + "/Python.h")' 2>/dev/null \
      || headers=python3-dev; \
    ( apt-get update -qq && apt-get install -y -qq --no-install-recommends gcc libc6-dev $headers >/dev/null \
      && rm -rf /var/lib/apt/lists/* ) \
    || echo "WARNING: no C compiler: optional C extensions will be skipped" >&2

# 3. /opt/venv with the dependencies only: the big layer, rebuilt when the list changes.
#    pip compiles the .pyc files here, so imports are fast although the image never writes bytecode.
#    Then what serving and training never use goes: the packages' own test suites (about 65 MB
#    for numpy, scipy and scikit-learn) and the venv's bundled setuptools, unless a dependency
#    needs it (old copies are what image scanners flag). pip stays, for `pip list` when debugging.
FROM builder AS deps
COPY --from=requirements /tmp/requirements.txt /tmp/requirements.txt
RUN python3 -m venv /opt/venv \
 && /opt/venv/bin/pip install --upgrade pip \
 && /opt/venv/bin/pip install -r /tmp/requirements.txt \
 && if /opt/venv/bin/pip show setuptools >/dev/null 2>&1 \
       && [ -z "$(/opt/venv/bin/pip show setuptools | sed -n 's/^Required-by: *//p')" ]; then \
      /opt/venv/bin/pip uninstall -y -q setuptools; fi \
 && find /opt/venv/lib -depth -type d -name tests -path '*/site-packages/*' -exec rm -rf {} + \
 && /opt/venv/bin/pip check \
 && rm /tmp/requirements.txt

# 4. The project: built as a wheel in a throw-away build venv, installed with --no-deps into
#    /opt/venv under a staging root, so the final stage can copy just these files. Only the
#    runtime (container/) and the model (model/): the laptop CLI (byoc/) is not in the build
#    context, so neither its package nor its `byoc` script is installed (setup.py).
FROM deps AS build
COPY --from=requirements /tmp/build-requirements.txt /tmp/build-requirements.txt
RUN python3 -m venv /opt/buildenv && /opt/buildenv/bin/pip install -r /tmp/build-requirements.txt
COPY pyproject.toml setup.py* README.md /src/
COPY container/ /src/container/
COPY model/ /src/model/
RUN /opt/buildenv/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/dist /src \
 && /opt/venv/bin/pip install --no-deps --no-warn-script-location --root /opt/stage /tmp/dist/*.whl \
 && /opt/venv/bin/python -c "import sys; sys.path[:0] = ['/opt/stage/opt/venv/lib/python%d.%d/site-packages' % sys.version_info[:2]]; import container, model"

# 5. What ships: the base, the dependencies layer, then the project's few files on top.
FROM base
COPY --from=deps /opt/venv /opt/venv
COPY --from=build /opt/stage/opt/venv/ /opt/venv/
ENV PATH=/opt/venv/bin:$PATH \
    VIRTUAL_ENV=/opt/venv
# The server listens on $SAGEMAKER_BIND_TO_PORT (default 8080): inference pipelines require this label.
LABEL com.amazonaws.sagemaker.capabilities.accept-bind-to-port=true \
      org.opencontainers.image.title="sagemaker-byoc" \
      org.opencontainers.image.description="Bring your own scikit-learn model to Amazon SageMaker"
# Nothing under /opt/ml: SageMaker mounts over it. Runs as root, as SageMaker expects.
# Exec form: `train` or `serve` becomes PID 1 and gets SIGTERM directly; any other command runs as given.
ENTRYPOINT ["/opt/venv/bin/byoc-entrypoint"]
