"""Only the optional C accelerator lives here; everything else is in pyproject.toml.

container._csvparse parses numeric CSV without the GIL (see container/fastcsv.py). It is
optional: without a C compiler the install still succeeds and the pure-numpy parser is used.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "container._csvparse",
            ["container/_csvparse.c"],
            extra_compile_args=["-O2"],
            depends=["container/_csvparse_pow10.h"],
            optional=True,
        )
    ]
)
