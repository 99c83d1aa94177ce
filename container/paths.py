"""Where SageMaker puts things: every /opt/ml path, derived from one root.

The root is /opt/ml, or SAGEMAKER_BASE_DIR when set, so the same code runs in the image,
in tests and in local runs. Nothing is created here: callers create what they write.
Training jobs are configured under /opt/ml/input/config, processing jobs under /opt/ml/config;
a processing job names its own folders (LocalPath, always under /opt/ml/processing/), which
relocate() maps under the root too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_BASE_DIR = "/opt/ml"
BASE_DIR_ENV = "SAGEMAKER_BASE_DIR"


@dataclass(frozen=True)
class Paths:
    """The /opt/ml layout under a base directory."""

    base: Path

    @classmethod
    def from_env(cls, environ: os._Environ[str] | dict[str, str] | None = None) -> "Paths":
        env = os.environ if environ is None else environ
        return cls(Path(env.get(BASE_DIR_ENV) or DEFAULT_BASE_DIR))

    # input ---------------------------------------------------------------------------
    @property
    def config_dir(self) -> Path:
        return self.base / "input" / "config"

    @property
    def hyperparameters_file(self) -> Path:
        return self.config_dir / "hyperparameters.json"

    @property
    def inputdataconfig_file(self) -> Path:
        return self.config_dir / "inputdataconfig.json"

    @property
    def resourceconfig_file(self) -> Path:
        return self.config_dir / "resourceconfig.json"

    @property
    def checkpointconfig_file(self) -> Path:
        return self.config_dir / "checkpointconfig.json"

    @property
    def data_dir(self) -> Path:
        return self.base / "input" / "data"

    def channel_dir(self, channel: str) -> Path:
        """File and FastFile mode: the channel's folder."""
        return self.data_dir / channel

    def channel_fifo(self, channel: str, epoch: int = 0) -> Path:
        """Pipe mode: one FIFO per channel per epoch."""
        return self.data_dir / f"{channel}_{epoch}"

    # output --------------------------------------------------------------------------
    @property
    def model_dir(self) -> Path:
        return self.base / "model"

    @property
    def output_dir(self) -> Path:
        return self.base / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.output_dir / "data"

    @property
    def failure_file(self) -> Path:
        return self.output_dir / "failure"

    @property
    def checkpoints_dir(self) -> Path:
        return self.base / "checkpoints"

    @property
    def message_file(self) -> Path:
        """Processing: its first 1 KB becomes the job's ExitMessage, in every terminal state."""
        return self.output_dir / "message"

    # processing ----------------------------------------------------------------------
    @property
    def processing_config_dir(self) -> Path:
        return self.base / "config"

    @property
    def processingjobconfig_file(self) -> Path:
        return self.processing_config_dir / "processingjobconfig.json"

    @property
    def processing_resourceconfig_file(self) -> Path:
        return self.processing_config_dir / "resourceconfig.json"

    @property
    def processing_input_dir(self) -> Path:
        return self.base / "processing" / "input"

    @property
    def processing_output_dir(self) -> Path:
        return self.base / "processing" / "output"

    def relocate(self, container_path: str) -> Path:
        """A path as the job's configuration names it (/opt/ml/...), under this root."""
        path = Path(container_path)
        if path.is_relative_to(DEFAULT_BASE_DIR):
            return self.base / path.relative_to(DEFAULT_BASE_DIR)
        return path
