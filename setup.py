"""What pyproject.toml cannot say: the optional C accelerator, and what follows the rooms present.

container._csvparse parses numeric CSV without the GIL (see container/fastcsv.py). It is
optional: without a C compiler the install still succeeds and the pure-numpy parser is used.

The scripts follow the packages present in the source being built. The runtime's (`train`,
`serve`, `process`, and `byoc-entrypoint`, the image's ENTRYPOINT) are always installed; the laptop CLI's
`byoc` only where byoc/ is. A checkout (`pip install -e '.[dev]'`) has all three rooms; the
image is built from a context without byoc/ (.dockerignore), so it gets no `byoc` command
pointing at a package it does not hold. requires-python follows the same rule: the runtime
needs 3.11, the laptop CLI 3.11.4 (its safe tar extraction).
"""

from pathlib import Path

from setuptools import Extension, setup

ROOT = Path(__file__).resolve().parent

SCRIPTS = [
    "train = container.training:main",
    "serve = container.server:main",
    "process = container.processing:main",
    "byoc-entrypoint = container.entrypoint:main",
]
# The runtime runs on any 3.11; the laptop CLI extracts model archives with tarfile's
# filter="data", which came with 3.11.4 (byoc.jobdir.SAFE_EXTRACT_PYTHON).
PYTHON_REQUIRES = ">=3.11"
if (ROOT / "byoc" / "cli.py").is_file():
    SCRIPTS.append("byoc = byoc.cli:main")
    PYTHON_REQUIRES = ">=3.11.4"

setup(
    python_requires=PYTHON_REQUIRES,
    entry_points={"console_scripts": SCRIPTS},
    ext_modules=[
        Extension(
            "container._csvparse",
            ["container/_csvparse.c"],
            extra_compile_args=["-O2"],
            depends=["container/_csvparse_pow10.h"],
            optional=True,
        )
    ],
)
