"""The image's figures: size, cold and warm build times, and `docker run IMAGE serve` to the first 200.

    eval "$(../shared/ci/docker-up.sh)"          # or any Docker engine
    .venv/bin/python benchmarks/image.py         # --skip-cold to keep the build cache, --runs N

It builds from a copy of the build context in a temporary folder, so the one-line edit in
model/ for the warm rebuild never touches the working tree (Docker's cache is keyed on file
contents, so the copy hits the same cache as the repository). Uses the docker CLI, as a user
would. Prints a summary and writes benchmarks/results/image.json.

- size: the image, the base, and each layer this project adds on top of it (docker history);
- cold build: `docker build --no-cache` (the base image is local; dependencies come from PyPI);
- no-change and warm rebuilds: unchanged, then after appending one line to model/train.py;
- serve: from `docker run -d --network host ... IMAGE serve` (bound to 127.0.0.1) to the first
  200 from /ping, over several runs, on a model the image trained from the bundled sample.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from byoc import image, jobdir, local, sample  # noqa: E402

CONTEXT = ["Dockerfile", ".dockerignore", "pyproject.toml", "setup.py", "README.md", "requirements", "container", "model",
           "byoc"]


def sh(*command: str, capture: bool = True) -> str:
    done = subprocess.run(command, capture_output=capture, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout.strip() if capture else ""


def build(context: Path, tag: str, base: str | None, *, no_cache: bool = False) -> float:
    command = ["docker", "build", "--quiet", "--tag", tag]
    if base:
        command += ["--build-arg", f"BASE_IMAGE={base}"]
    if no_cache:
        command.append("--no-cache")
    started = time.monotonic()
    sh(*command, str(context))
    return time.monotonic() - started


def copy_context(target: Path) -> Path:
    target.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.py[co]", "*.so", "*.egg-info")
    for name in CONTEXT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=ignore)
        elif source.is_file():
            shutil.copy2(source, target / name)
    return target


def sizes(tag: str, base: str) -> dict[str, object]:
    image_size = int(sh("docker", "image", "inspect", "-f", "{{.Size}}", tag))
    base_size = int(sh("docker", "image", "inspect", "-f", "{{.Size}}", base))
    fmt = "{{json .}}"
    ours = [json.loads(line) for line in sh("docker", "history", "--no-trunc", "--format", fmt, tag).splitlines()]
    theirs = sh("docker", "history", "-q", base).splitlines()
    added = ours[: len(ours) - len(theirs)]  # newest first; the base's own history is at the bottom
    return {
        "image_mb": round(image_size / 1e6, 1),
        "base_mb": round(base_size / 1e6, 1),
        "added_mb": round((image_size - base_size) / 1e6, 1),
        "added_layers": [{"size": layer["Size"], "created_by": layer["CreatedBy"][-110:]}
                         for layer in added if layer["Size"] not in ("0B", "0")],
    }


def trained_model(tag: str, work: Path) -> Path:
    data = sample.write(work / "data")
    paths = jobdir.create(work / "job", jobdir.JobSpec({k: data[k] for k in ("train", "validation")},
                                                       {"n_estimators": 100}))
    started = time.monotonic()
    sh("docker", "run", "--rm", "--network", "host", "-v", f"{paths.base}:/opt/ml", tag, "train")
    print(f"  docker run IMAGE train (sample, 100 trees): {time.monotonic() - started:.2f} s")
    return paths.model_dir


def time_to_ping(launcher: image.DockerRun, model: Path) -> float:
    """`docker run IMAGE serve` to the first 200 from /ping, through byoc's own Server (`--image`)."""
    started = time.monotonic()
    server = local.Server(model.parent, launcher=launcher).start()
    try:
        server.wait_ready(timeout=120)
        return time.monotonic() - started
    finally:
        server.stop(timeout=5)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base-image", default=os.environ.get("BYOC_BASE_IMAGE"),
                        help="BASE_IMAGE build argument (default: $BYOC_BASE_IMAGE, else the Dockerfile's)")
    parser.add_argument("--tag", default="sagemaker-byoc:bench")
    parser.add_argument("--skip-cold", action="store_true", help="no --no-cache build")
    parser.add_argument("--runs", type=int, default=5, help="serve startups to time (default: %(default)s)")
    args = parser.parse_args()
    base = args.base_image or "python:3.11-slim-bookworm"
    engine = sh("docker", "version", "-f", "{{.Server.Version}} {{.Server.Arch}}")
    print(f"engine {engine}, {os.cpu_count()} CPUs, base {base}")
    results: dict[str, object] = {"engine": engine, "cpus": os.cpu_count(), "base_image": base}
    with tempfile.TemporaryDirectory(prefix="byoc-bench-") as tmp:
        context = copy_context(Path(tmp) / "context")
        if not args.skip_cold:
            results["cold_build_s"] = round(build(context, args.tag, args.base_image, no_cache=True), 1)
            print(f"  cold build (--no-cache): {results['cold_build_s']} s")
        results["nochange_rebuild_s"] = round(build(context, args.tag, args.base_image), 2)
        print(f"  rebuild, nothing changed: {results['nochange_rebuild_s']} s")
        train_py = context / "model" / "train.py"
        original = train_py.read_text()
        train_py.write_text(original + f"# benchmark edit {time.time()}\n")  # the one-line change
        results["warm_rebuild_after_model_edit_s"] = round(build(context, args.tag, args.base_image), 2)
        print(f"  rebuild after a one-line edit in model/: {results['warm_rebuild_after_model_edit_s']} s")
        train_py.write_text(original)  # reverted (in the copy), and the image rebuilt as it was
        build(context, args.tag, args.base_image)

        results.update(sizes(args.tag, base))
        print(f"  image {results['image_mb']} MB = base {results['base_mb']} MB + {results['added_mb']} MB "
              "added by this project:")
        for layer in results["added_layers"]:  # type: ignore[union-attr]
            print(f"    {layer['size']:>8}  {layer['created_by']}")

        model = trained_model(args.tag, Path(tmp) / "work")
        launcher = image.DockerRun(args.tag)  # checks the engine and the image once, outside the timings
        timings = [time_to_ping(launcher, model) for _ in range(args.runs)]
        results["serve_to_first_ping_s"] = {"runs": [round(t, 2) for t in timings],
                                            "median": round(statistics.median(timings), 2)}
        print(f"  docker run IMAGE serve -> first 200 from /ping: median {statistics.median(timings):.2f} s "
              f"({', '.join(f'{t:.2f}' for t in timings)})")
    out = ROOT / "benchmarks" / "results" / "image.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
