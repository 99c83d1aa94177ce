"""The C CSV parser built with AddressSanitizer and UndefinedBehaviorSanitizer, for the fuzzer.

A separate build into a temporary folder, never the extension setup.py builds in place, and
loaded in place of container._csvparse only by the fuzz harness (tests/fuzz/fuzz_csvparse.py).
It links no sanitizer runtime of its own: atheris ships ASan with libFuzzer linked in
(asan_with_fuzzer.so, which also holds the UBSan handlers), and the harness runs under it with
LD_PRELOAD, as atheris documents for native extensions.

- clang: -fsanitize=address,undefined,fuzzer-no-link, so libFuzzer sees every edge of the C
  code and every comparison: coverage-guided in C as well as in Python.
- gcc (what CI has when clang is not installed): ASan and UBSan too, and comparison tracing
  (-fsanitize-coverage=trace-cmp) that libFuzzer uses to guide mutations, but no edge
  coverage of the C code (gcc cannot emit libFuzzer's counters); the Python side (fastcsv,
  tabular) is still coverage-instrumented by atheris.

Every UBSan finding aborts (-fno-sanitize-recover), so libFuzzer reports it as a crash.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "container" / "_csvparse.c", ROOT / "container" / "_csvparse_pow10.h"]
#: Set in the harness's environment to the built module: the harness then loads it.
MODULE_ENV = "BYOC_FUZZ_CSVPARSE_MODULE"

COMPILE_FLAGS = ["-fPIC", "-O1", "-g", "-fno-omit-frame-pointer", "-fno-sanitize-recover=all"]
CLANG_FLAGS = ["-fsanitize=address,undefined,fuzzer-no-link"]
GCC_COMPILE_FLAGS = ["-fsanitize=address,undefined", "-fsanitize-coverage=trace-cmp"]

# gcc traces floating-point comparisons too, which libFuzzer has no hooks for: no-ops here
# (weak, so a runtime that has them wins).
GCC_STUBS = """
#include <stdint.h>
__attribute__((weak)) void __sanitizer_cov_trace_cmpf(float a, float b) { (void)a; (void)b; }
__attribute__((weak)) void __sanitizer_cov_trace_cmpd(double a, double b) { (void)a; (void)b; }
"""


def compiler() -> tuple[str, str] | None:
    """(path, "clang" or "gcc") of the C compiler to use: $CC, else clang, else gcc or cc."""
    candidates = [os.environ["CC"]] if os.environ.get("CC") else ["clang", "gcc", "cc"]
    for name in candidates:
        path = shutil.which(name.split()[0])
        if path is None:
            continue
        version = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
        if "clang" in version:
            return path, "clang"
        if "gcc" in version.lower() or "free software foundation" in version.lower():
            return path, "gcc"
    return None


def runtime() -> Path | None:
    """atheris' ASan runtime with libFuzzer linked in, or None without atheris (or without it
    in this atheris build)."""
    try:
        import atheris
    except ImportError:
        return None
    path = Path(atheris.path()) / "asan_with_fuzzer.so"
    return path if path.is_file() else None


def build(folder: Path | None = None, sources: list[Path] | None = None, name: str = "_csvparse") -> Path:
    """Build the sanitizer extension (or the module `name` from `sources`, C files first) and
    return the path of the shared object. Cached by the hash of the sources, the compiler
    and its flags, in `folder` (default: the system temporary folder)."""
    found = compiler()
    if found is None:
        raise RuntimeError("no C compiler (clang, gcc or cc) on PATH")
    cc, kind = found
    sources = sources or SOURCES
    include = sysconfig.get_paths()["include"]
    flags = COMPILE_FLAGS + (CLANG_FLAGS if kind == "clang" else GCC_COMPILE_FLAGS)
    digest = hashlib.sha256()
    for part in [cc, kind, include, sys.version, *flags]:
        digest.update(part.encode() + b"\0")
    for source in sources:
        digest.update(source.read_bytes())
    folder = (folder or Path(tempfile.gettempdir()) / "byoc-sanitized") / digest.hexdigest()[:16]
    target = folder / f"{name}{sysconfig.get_config_var('EXT_SUFFIX')}"
    if target.is_file():
        return target
    folder.mkdir(parents=True, exist_ok=True)
    c_files = [str(s) for s in sources if s.suffix == ".c"]
    scratch = Path(tempfile.mkdtemp(dir=folder))
    try:
        if kind == "gcc":
            # Compile with the sanitizers but link without them: linking would add gcc's own
            # libasan, a second ASan runtime beside the preloaded one.
            objects = []
            stubs = scratch / "stubs.c"
            stubs.write_text(GCC_STUBS)
            for i, source in enumerate([*c_files, str(stubs)]):
                obj = scratch / f"{i}.o"
                extra = GCC_COMPILE_FLAGS if source != str(stubs) else []
                _run([cc, "-c", *COMPILE_FLAGS, *extra, f"-I{include}", source, "-o", str(obj)])
                objects.append(str(obj))
            _run([cc, "-shared", *objects, "-o", str(scratch / target.name)])
        else:
            _run([cc, "-shared", *flags, f"-I{include}", *c_files, "-o", str(scratch / target.name)])
        os.replace(scratch / target.name, target)  # atomic: concurrent builds agree
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def environment(module: Path) -> dict[str, str]:
    """The environment to run the harness in: the runtime preloaded, the sanitizers' options."""
    preload = runtime()
    if preload is None:
        raise RuntimeError("atheris (with asan_with_fuzzer.so) is not installed: pip install -e '.[test]'")
    env = dict(os.environ)
    env.update({
        "LD_PRELOAD": str(preload),
        # Python keeps some memory to the end on purpose: leak reports would be noise. Options
        # already set come after these, so they win (quarantine_size_mb=64 for long runs, say).
        "ASAN_OPTIONS": _options("detect_leaks=0:halt_on_error=1:allocator_may_return_null=1", "ASAN_OPTIONS"),
        "UBSAN_OPTIONS": _options("print_stacktrace=1:halt_on_error=1", "UBSAN_OPTIONS"),
        # Every Python object from malloc, so ASan sees overflows of bytes objects too.
        "PYTHONMALLOC": "malloc",
        MODULE_ENV: str(module),
    })
    return env


def _options(defaults: str, name: str) -> str:
    given = os.environ.get(name, "").strip(":")
    return f"{defaults}:{given}" if given else defaults


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stderr}")
