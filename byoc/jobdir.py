"""A job folder laid out exactly as SageMaker lays out /opt/ml for a training job.

The same folder serves three ways: as SAGEMAKER_BASE_DIR for `train` run as a process, as
the /opt/ml mount of `docker run IMAGE train`, and as a record of what ran.
"""

from __future__ import annotations

import json
import platform
import shutil
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from container.hyperparameters import to_api
from container.paths import Paths

from .errors import SetupError, UsageError


@dataclass(frozen=True)
class JobSpec:
    channels: Mapping[str, Path]
    hyperparameters: Mapping[str, Any]
    content_type: str = "text/csv"
    input_mode: str = "File"
    hosts: int = 1
    current_host: str = "algo-1"
    instance_type: str = "local"


def create(root: Path, spec: JobSpec) -> Paths:
    """Write the three config files and copy each channel's data under root.

    root is a new or empty folder, or a previous job folder: its input, model and output are
    replaced (checkpoints are kept, as SageMaker restores them), so no file of an earlier run
    mixes with this one. Everything is checked before anything is written.
    """
    if root.exists() and not is_job_folder(root) and (not root.is_dir() or any(root.iterdir())):
        raise UsageError(f"{root} is not empty and not a job folder: give a new folder for the job")
    sources = {name: Path(source) for name, source in spec.channels.items()}
    for name, source in sources.items():
        if not source.exists():
            raise UsageError(f"channel {name}: {source} does not exist")
        if _inside(source, root):
            raise UsageError(f"channel {name}: {source} is inside the job folder {root}, which is rewritten")
    paths = Paths(root)
    if root.exists():
        for part in (root / "input", paths.model_dir, paths.output_dir,
                     root / "model.tar.gz", root / "output.tar.gz"):
            remove(part)
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    hosts = [f"algo-{i}" for i in range(1, spec.hosts + 1)]
    _write_json(paths.hyperparameters_file, to_api(spec.hyperparameters))
    _write_json(paths.inputdataconfig_file, {
        name: {
            "ContentType": spec.content_type,
            "TrainingInputMode": spec.input_mode,
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None",
        }
        for name in spec.channels
    })
    _write_json(paths.resourceconfig_file, {
        "current_host": spec.current_host,
        "current_instance_type": spec.instance_type,
        "current_group_name": "homogeneousCluster",
        "hosts": hosts,
        "instance_groups": [{
            "instance_group_name": "homogeneousCluster",
            "instance_type": spec.instance_type,
            "hosts": hosts,
        }],
        "network_interface_name": "eth0",
    })
    for name, source in sources.items():
        target = paths.channel_dir(name)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            target.mkdir(parents=True)
            shutil.copy2(source, target / source.name)
    for folder in (paths.model_dir, paths.output_data_dir, paths.checkpoints_dir):
        folder.mkdir(parents=True, exist_ok=True)
    return paths


def is_job_folder(root: Path) -> bool:
    """Whether root is a job folder this module laid out (it has SageMaker's resourceconfig.json)."""
    return Paths(root).resourceconfig_file.is_file()


def remove(path: Path) -> None:
    """Delete a file or folder if it is there."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def pack(folder: Path, archive: Path) -> Path:
    """tar.gz the folder's contents with the files at the archive root, as SageMaker does."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    tmp = archive.with_name(archive.name + ".tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and not path.name.startswith(".tmp-"):
                tar.add(path, arcname=path.relative_to(folder).as_posix())
    tmp.replace(archive)
    return archive


#: tarfile's extraction filters (PEP 706) came with Python 3.11.4; before it, extractall takes no
#: filter and writes absolute paths and escaping links as the archive says. The laptop install
#: requires it (setup.py); this check speaks for a checkout run by an older Python.
SAFE_EXTRACT_PYTHON = (3, 11, 4)


def unpack(archive: Path, folder: Path) -> Path:
    """Extract a model.tar.gz into folder, as SageMaker extracts it into /opt/ml/model."""
    if not hasattr(tarfile, "data_filter"):
        raise SetupError(
            f"Python {platform.python_version()} cannot extract {archive.name} safely: tarfile's "
            f"filter='data' needs Python {'.'.join(map(str, SAFE_EXTRACT_PYTHON))} or newer.",
            hint="Run byoc with a newer Python (python3 -m venv .venv with it, then pip install -e '.[cli]').")
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:*") as tar:
        tar.extractall(folder, filter="data")  # no absolute paths, no escaping links, no devices
    return folder


def parse_hyperparameter_args(items: list[str]) -> dict[str, Any]:
    """NAME=VALUE command-line items; VALUE is parsed as JSON when it can be. ValueError if malformed."""
    values: dict[str, Any] = {}
    for item in items:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise ValueError(f"hyperparameter {item!r} is not NAME=VALUE")
        try:
            values[name] = json.loads(raw)
        except ValueError:
            values[name] = raw
    return values


def _write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n")
