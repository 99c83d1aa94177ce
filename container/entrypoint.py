"""The image's ENTRYPOINT: `train`, `serve` and `process` as SageMaker runs them, anything else as given.

SageMaker starts the container as `docker run IMAGE train` or `docker run IMAGE serve`, so the
argument arrives here as argv[1]; `byoc process` starts processing jobs with the
ContainerEntrypoint `byoc-entrypoint process`. The matching command replaces this process
(exec), so it is PID 1 and receives SIGTERM directly from `docker stop`, StopTrainingJob,
StopProcessingJob and endpoint updates. Any other command is executed as given, for debugging:

    docker run --rm IMAGE python -c 'import sklearn; print(sklearn.__version__)'
    docker run --rm -it IMAGE bash

Started with no argument at all, as SDK v3's ModelTrainer starts it in local container mode (and
as a processing job without overrides does), the job's own configuration says what to run: a
training job's under /opt/ml/input/config means `train`, a processing job's
/opt/ml/config/processingjobconfig.json means `process`. The choice is logged. With neither (or
both), it prints the usage and exits 2. Started with options and no command (a processing job's
ContainerArguments without a ContainerEntrypoint), it runs `process` with them when it finds a
processing job's configuration, and otherwise says to put the command first.
"""

from __future__ import annotations

import os
import shutil
import sys

from .paths import Paths

COMMANDS = ("train", "serve", "process")

USAGE = """\
usage: docker run IMAGE train        run a training job on the folders mounted at /opt/ml
       docker run IMAGE serve        serve the model in /opt/ml/model on port 8080
                                     (or $SAGEMAKER_BIND_TO_PORT)
       docker run IMAGE process ...  run a processing job: raw CSV in /opt/ml/processing/input,
                                     train/validation/test out (process --help for the options)
       docker run IMAGE              train or process, as the job's configuration under /opt/ml says
       docker run IMAGE COMMAND...   run any other command, e.g. `python -c ...` or `bash`
"""


def job_command(paths: Paths) -> tuple[str | None, str]:
    """What a start without arguments runs, as the job's configuration files say; and why."""
    training = [f for f in (paths.resourceconfig_file, paths.inputdataconfig_file, paths.hyperparameters_file)
                if f.is_file()]
    processing = paths.processingjobconfig_file if paths.processingjobconfig_file.is_file() else None
    if training and processing:
        return None, (f"found both a training job's configuration ({training[0]}) and a processing job's "
                      f"({processing}); say which to run: train or process")
    if training:
        return "train", f"found {training[0]}, a training job's configuration: running train"
    if processing:
        return "process", f"found {processing}, a processing job's configuration: running process"
    return None, (f"no command, and no job configuration ({paths.config_dir}/*.json for training, "
                  f"{paths.processingjobconfig_file} for processing)")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0
    if not args:
        command, why = job_command(Paths.from_env())
        sys.stderr.write(f"byoc-entrypoint: {why}\n")
        if command is None:
            sys.stdout.write(USAGE)
            return 2
        args = [command]
    elif args[0].startswith("-"):
        # Options with no command: a processing job whose ContainerArguments reach the image's
        # ENTRYPOINT without a ContainerEntrypoint (the SDK's Processor(image_uri=...).run(arguments=...)).
        command, why = job_command(Paths.from_env())
        if command != "process":
            sys.stderr.write(f"byoc-entrypoint: {args[0]}: options need a command before them, e.g. "
                             f"`process {' '.join(args)}` ({why})\n")
            sys.stdout.write(USAGE)
            return 2
        sys.stderr.write(f"byoc-entrypoint: options without a command, and {why}\n")
        args = [command, *args]
    if args[0] in COMMANDS:
        # The console script next to this interpreter, so the image's venv is used whatever PATH says.
        here = os.path.join(os.path.dirname(sys.executable), args[0])
        program = here if os.access(here, os.X_OK) else shutil.which(args[0])
        if program is None:
            sys.stderr.write(f"byoc-entrypoint: `{args[0]}` is not installed in this image\n")
            return 127
        args[0] = program
    sys.stderr.flush()
    try:
        os.execvp(args[0], args)
    except FileNotFoundError:
        sys.stderr.write(f"byoc-entrypoint: {args[0]}: command not found\n")
        return 127
    except PermissionError as exc:
        sys.stderr.write(f"byoc-entrypoint: {args[0]}: {exc.strerror}\n")
        return 126
    return 0  # not reached: exec replaced this process


if __name__ == "__main__":
    sys.exit(main())
