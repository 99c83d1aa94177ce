"""`byoc demo`: train, serve and predict on the bundled sample, as SageMaker would run the image."""

from __future__ import annotations

import argparse
import sys
import urllib.request
from pathlib import Path
from typing import Any

from .. import jobdir, local, sample
from ..errors import UsageError
from . import add_image_option, path_setup, launcher, path_arg
from .local import READY_TIMEOUT, curl_lines, report_training, serve_command

#: What a demo folder holds: a folder holding anything else is not the demo's to replace.
PARTS = ("data", "job", "endpoint")


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("demo", help="train, serve and predict on the bundled sample")
    p.add_argument("--workdir", type=path_arg, default=Path("jobs/demo"),
                   help="where to put the sample, the job and the model (default: %(default)s)")
    add_image_option(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    workdir: Path = args.workdir
    clear(workdir)
    start = launcher(args.image)
    print(f"== 1. Sample data (iris, from scikit-learn) in {workdir / 'data'}")
    data = sample.write(workdir / "data")
    print("== 2. Training job folder laid out as /opt/ml, then `train`")
    paths = jobdir.create(workdir / "job", jobdir.JobSpec(
        {k: data[k] for k in ("train", "validation", "test")}, {"n_estimators": 100}))
    result = local.run_train(paths, echo=sys.stdout, job_name="byoc-demo", launcher=start)
    if report_training(result):
        return 1
    assert result.model_archive is not None
    print(f"== 3. `serve` on the model, extracted from {result.model_archive} as SageMaker does")
    base = workdir / "endpoint"
    jobdir.unpack(result.model_archive, base / "model")
    server = local.Server(base, launcher=start)
    server.start()
    try:
        try:
            waited = server.wait_ready(timeout=READY_TIMEOUT)
        except local.RunError as exc:
            print(exc.log, end="", file=sys.stderr)
            raise
        print(f"/ping is 200 after {waited:.1f} s at {server.url}")
        body = data["payload"].read_bytes()
        print(f"== 4. POST /invocations with {data['payload']}:\n{body.decode().strip()}")
        for accept, attributes in (("text/csv", ""), ("application/json", "output=probabilities")):
            request = urllib.request.Request(server.url + "/invocations", data=body, method="POST", headers={
                "Content-Type": "text/csv", "Accept": accept,
                "X-Amzn-SageMaker-Custom-Attributes": attributes})
            with urllib.request.urlopen(request, timeout=30) as response:
                print(f"-- Accept: {accept}{'; ' + attributes if attributes else ''} -> {response.status}")
                print(response.read().decode().strip())
        print("\nTo try it yourself, serve the model and use curl:\n")
        if (setup := path_setup()) is not None:
            print(f"  {setup}    # once per shell: puts byoc on your PATH")
        print(f"  {serve_command(result.model_archive, args.image)}\n")
        print(curl_lines("http://127.0.0.1:8080"))
    finally:
        code = server.stop()
    print(f"\nserve stopped on SIGTERM with exit code {code}.")
    return 0 if code == 0 else 1


def clear(workdir: Path) -> None:
    """Empty a previous demo's folder; refuse a folder that holds anything else, before touching it."""
    if not workdir.exists():
        return
    if not workdir.is_dir():
        raise UsageError(f"--workdir {workdir} is a file: give a new folder (or a previous demo's)")
    others = sorted(p.name for p in workdir.iterdir() if p.name not in PARTS)
    if others:
        raise UsageError(f"--workdir {workdir} holds {', '.join(others[:3])}{'...' if len(others) > 3 else ''}, "
                         "which the demo would not replace: give a new folder (or a previous demo's)")
    for part in PARTS:
        jobdir.remove(workdir / part)
