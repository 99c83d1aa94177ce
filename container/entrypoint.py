"""The image's ENTRYPOINT: `train` and `serve` as SageMaker runs them, anything else as given.

SageMaker starts the container as `docker run IMAGE train` or `docker run IMAGE serve`, so the
argument arrives here as argv[1]. The matching command replaces this process (exec), so it is
PID 1 and receives SIGTERM directly from `docker stop`, StopTrainingJob and endpoint updates.
Any other command is executed as given, for debugging:

    docker run --rm IMAGE python -c 'import sklearn; print(sklearn.__version__)'
    docker run --rm -it IMAGE bash
"""

from __future__ import annotations

import os
import shutil
import sys

COMMANDS = ("train", "serve")

USAGE = """\
usage: docker run IMAGE train        run a training job on the folders mounted at /opt/ml
       docker run IMAGE serve        serve the model in /opt/ml/model on port 8080
                                     (or $SAGEMAKER_BIND_TO_PORT)
       docker run IMAGE COMMAND...   run any other command, e.g. `python -c ...` or `bash`
"""


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0 if args else 2
    if args[0] in COMMANDS:
        # The console script next to this interpreter, so the image's venv is used whatever PATH says.
        here = os.path.join(os.path.dirname(sys.executable), args[0])
        program = here if os.access(here, os.X_OK) else shutil.which(args[0])
        if program is None:
            sys.stderr.write(f"byoc-entrypoint: `{args[0]}` is not installed in this image\n")
            return 127
        args[0] = program
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
