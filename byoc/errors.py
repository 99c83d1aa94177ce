"""What can go wrong in a `byoc` command, and the exit code a script sees for each.

byoc.cli shows any of these as `byoc: <message>` (and its hint), never a traceback:

    0  done
    1  the run failed: train failed, serve exited, a build failed, AWS refused, a job or endpoint Failed
    2  bad input: refused by the arguments or a pre-flight check, before anything was started or created
    3  no usable setup: Docker missing or unreachable; no AWS region, credentials, or permission
    4  stopped waiting (--wait-timeout); the resource is still being worked on in AWS
    5  not found: the endpoint, job, model or bucket named does not exist
    6  the service endpoint does not implement the call (an emulator such as moto)
  130  Ctrl-C; 143 SIGTERM (what the command started is stopped first)
"""

from __future__ import annotations

EXIT_CODES_HELP = __doc__.split("\n\n", 1)[1].rstrip()


class ByocError(Exception):
    """A failure whose message is fit to show the user as it is."""

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  {self.hint}" if self.hint else self.message


class Failed(ByocError):
    """The work was tried and failed, here or in AWS."""


class UsageError(ByocError):
    """Input refused before anything was started, written or created."""

    exit_code = 2


class PreflightError(UsageError):
    """One or more pre-flight checks refused the input; nothing was created."""

    def __init__(self, problems: list[str] | str, *, hint: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        if len(self.problems) == 1:
            message = f"pre-flight check failed: {self.problems[0]}"
        else:
            message = "pre-flight checks failed:\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(message, hint=hint)


class SetupError(ByocError):
    """What the command needs around it is missing: Docker, an AWS region, credentials, a permission."""

    exit_code = 3


class TimedOut(ByocError):
    exit_code = 4


class NotFound(ByocError):
    exit_code = 5


class Unsupported(ByocError):
    exit_code = 6
