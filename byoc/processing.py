"""A processing job on this machine: a job folder laid out as SageMaker lays out /opt/ml for one.

    <job>/config/processingjobconfig.json   the CreateProcessingJob request `byoc process` would
                                            send (file:// URIs), plus ProcessingJobArn
    <job>/config/resourceconfig.json        one host, algo-1
    <job>/processing/input/raw/             a copy of the raw CSV
    <job>/processing/output/<name>/         train, validation, test, report: empty until `process` ends
    <job>/output/message                    what `process` says (ExitMessage)

The folder is SAGEMAKER_BASE_DIR for `process` run as a process, and the /opt/ml mount of
`docker run IMAGE process ARGS`; either way byoc.local's one runner starts, logs and stops it.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Mapping, Sequence

from container.paths import Paths

from . import jobdir, local
from .aws import processing as requests
from .errors import UsageError


@dataclass
class ProcessingResult:
    returncode: int
    log: str
    paths: Paths
    message: str | None
    report: dict[str, Any] | None
    outputs: dict[str, Path]

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def create(root: Path, source: Path, *, name: str, arguments: Sequence[str], image: str | None = None,
           splits: Sequence[str] = requests.SPLITS) -> Paths:
    """Lay out the job folder; root is new, empty, or an earlier processing job folder (whose
    config, processing and output folders are replaced). Checked before anything is written."""
    if not source.exists():
        raise UsageError(f"--input {source} does not exist: give a CSV file or a folder of them")
    if source.resolve().is_relative_to(root.resolve()):
        raise UsageError(f"--input {source} is inside the job folder {root}, which is rewritten")
    paths = Paths(root)
    if root.exists() and not paths.processingjobconfig_file.is_file() and (not root.is_dir() or any(root.iterdir())):
        raise UsageError(f"{root} is not empty and not a processing job folder: give a new folder for the job")
    for part in (paths.processing_config_dir, root / "processing", paths.output_dir):
        jobdir.remove(part)
    # Locally an output stays where `process` wrote it: its S3Uri is that folder's own URI.
    outputs = {name_: paths.relocate(requests.local_output(name_)).resolve().as_uri()
               for name_ in (*splits, requests.REPORT)}
    request = requests.build_processing_job(
        name=name, image=image or "(this machine's Python)", role="(local)",
        inputs={requests.INPUT_NAME: source.resolve().as_uri()}, outputs=outputs, arguments=arguments,
        instance_type="local")
    config = {"ProcessingJobArn": f"local:processing-job/{name}", **request}
    paths.processing_config_dir.mkdir(parents=True)
    _write_json(paths.processingjobconfig_file, config)
    _write_json(paths.processing_resourceconfig_file, {"current_host": "algo-1", "hosts": ["algo-1"]})
    raw = paths.relocate(requests.local_input(requests.INPUT_NAME))
    if source.is_dir():
        shutil.copytree(source, raw)
    else:
        raw.mkdir(parents=True)
        shutil.copy2(source, raw / source.name)
    for output in request["ProcessingOutputConfig"]["Outputs"]:
        paths.relocate(output["S3Output"]["LocalPath"]).mkdir(parents=True)
    paths.output_dir.mkdir(parents=True)
    return paths


def outputs(paths: Paths) -> dict[str, Path]:
    """Each output the job's configuration names, by name: its folder in the job folder."""
    config = json.loads(paths.processingjobconfig_file.read_text())
    return {o["OutputName"]: paths.relocate(o["S3Output"]["LocalPath"])
            for o in config["ProcessingOutputConfig"]["Outputs"]}


def run(paths: Paths, arguments: Sequence[str], *, env: Mapping[str, str] | None = None,
        echo: IO[str] | None = None, launcher: local.Launcher = local.PYTHON) -> ProcessingResult:
    """Run `process` on a job folder to its end; what it left (message, report, output folders)."""
    code, log = local.run_to_end(launcher.process(paths.base, dict(env or {}), list(arguments)), echo,
                                 local.PROCESS_GRACE)
    message = paths.message_file.read_text().strip() if paths.message_file.is_file() else None
    found = outputs(paths)
    report_file = found[requests.REPORT] / requests.REPORT_FILE
    report = json.loads(report_file.read_text()) if code == 0 and report_file.is_file() else None
    return ProcessingResult(code, log, paths, message, report, found)


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n")
