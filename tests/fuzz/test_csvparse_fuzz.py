"""A short, seeded run of the C CSV parser's fuzzer (tests/fuzz/fuzz_csvparse.py) under ASan and
UBSan, and proof that its parts can fail: the sanitizers catch a planted bug, the oracle a
planted wrong value. The long run and what it found: docs/fuzzing.md."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import sanitized

atheris = pytest.importorskip("atheris", reason="atheris is not installed (pip install -e '.[test]')")
if sanitized.compiler() is None:
    pytest.skip("no C compiler (clang or gcc) to build the sanitizer extension", allow_module_level=True)
if sanitized.runtime() is None:
    pytest.skip("this atheris build ships no asan_with_fuzzer.so", allow_module_level=True)

import fuzz_csvparse  # noqa: E402  (imports atheris)

from container import fastcsv  # noqa: E402

HARNESS = Path(fuzz_csvparse.__file__)
RUNS = 3000


def test_a_short_seeded_run_finds_nothing(tmp_path: Path) -> None:
    corpus, artifacts = tmp_path / "corpus", tmp_path / "artifacts"
    artifacts.mkdir()
    done = subprocess.run(
        [sys.executable, str(HARNESS), str(corpus), f"-runs={RUNS}", "-seed=1", "-timeout=60",
         f"-artifact_prefix={artifacts}/"],
        capture_output=True, text=True, timeout=600)
    tail = done.stderr[-6000:]
    assert done.returncode == 0, tail
    assert f"Done {RUNS} runs" in done.stderr, tail
    assert not list(artifacts.iterdir()), tail
    assert "fuzzing " + str(sanitized.build()) in done.stderr  # the sanitizer build, not the in-place one
    if sanitized.compiler()[1] == "clang":  # type: ignore[index]
        assert "inline 8-bit counters" in done.stderr  # libFuzzer sees the C code's edges


BAD_EXTENSION = """
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <stdlib.h>

static PyObject *overflow(PyObject *self, PyObject *arg) {
    long n = PyLong_AsLong(arg);
    char *block = malloc(8);
    volatile char c = block[n];  /* n = 8: one past the end */
    free(block);
    return PyLong_FromLong(c);
}

static PyObject *signed_overflow(PyObject *self, PyObject *arg) {
    volatile int n = (int)PyLong_AsLong(arg);
    return PyLong_FromLong(n + INT_MAX);  /* n = 1: undefined */
}

static PyMethodDef methods[] = {
    {"overflow", overflow, METH_O, NULL}, {"signed_overflow", signed_overflow, METH_O, NULL}, {NULL, NULL, 0, NULL},
};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_planted", NULL, -1, methods};
PyMODINIT_FUNC PyInit__planted(void) { return PyModule_Create(&module); }
"""


@pytest.mark.parametrize(("call", "reports"), [
    # gcc's UBSan checks object sizes too, and catches the read before ASan does
    ("overflow(8)", ["AddressSanitizer: heap-buffer-overflow", "runtime error: load of address"]),
    ("signed_overflow(1)", ["runtime error: signed integer overflow"]),
])
def test_the_sanitizer_build_catches_a_planted_bug(call: str, reports: list[str], tmp_path: Path) -> None:
    """The same build and runtime as the fuzzer's, on a module with a bug of each kind."""
    source = tmp_path / "_planted.c"
    source.write_text(BAD_EXTENSION)
    module = sanitized.build(tmp_path / "build", sources=[source], name="_planted")
    script = textwrap.dedent(f"""
        import importlib.util
        spec = importlib.util.spec_from_file_location("_planted", {str(module)!r})
        planted = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(planted)
        print(planted.overflow(0), planted.signed_overflow(0), flush=True)  # in bounds: fine
        planted.{call}
        print("not caught")
    """)
    done = subprocess.run([sys.executable, "-c", script], env=sanitized.environment(module),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and any(report in done.stderr for report in reports), done.stderr[-3000:]
    assert "not caught" not in done.stdout


@pytest.fixture
def harness(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The harness's checks in this process, on the in-place build (no sanitizers)."""
    monkeypatch.setattr(fastcsv, "PARALLEL_MIN_BYTES", fastcsv.PARALLEL_MIN_BYTES)  # restored after
    fuzz_csvparse.load(None, instrument=False)
    return fuzz_csvparse


def test_the_seeds_pass_the_checks(harness: Any) -> None:
    for seed in harness.SEEDS:
        harness.one_input(seed)


def test_the_oracle_catches_a_wrong_value(harness: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    real = fastcsv._csvparse

    class OneBitOff:
        count_newlines = staticmethod(real.count_newlines)
        parse_number_path = staticmethod(real.parse_number_path)

        @staticmethod
        def parse_into(data: Any, start: int, stop: int, out: np.ndarray, row: int, ncols: int) -> Any:
            result = real.parse_into(data, start, stop, out, row, ncols)
            if result[0]:
                out.view(np.uint64)[row, 0] ^= 1  # the last bit of the first value
            return result

    monkeypatch.setattr(fastcsv, "_csvparse", OneBitOff)
    with pytest.raises(AssertionError, match="differ"):
        harness.one_input(b"\x00" + b"0.1,2\n")
