"""What can go wrong in an AWS command, and the exit code a script sees for each.

    0  done
    1  AWS refused or the resource failed (training job Failed, endpoint Failed, ModelError)
    2  bad input: a pre-flight check or the arguments refused it; nothing was created
    3  no usable AWS setup: region, credentials, profile, or permission denied
    4  stopped waiting (--wait-timeout); the resource is still being worked on in AWS
    5  not found: the endpoint, job, model or bucket named does not exist
    6  the service endpoint does not implement the call (an emulator such as moto)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_CONFIG = 3
EXIT_TIMEOUT = 4
EXIT_NOT_FOUND = 5
EXIT_UNSUPPORTED = 6

EXIT_CODES_HELP = __doc__.split("\n\n", 1)[1].rstrip()


class AwsCommandError(Exception):
    """A failure whose message is fit to show the user as it is."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}\n  {self.hint}" if self.hint else self.message


class Failed(AwsCommandError):
    exit_code = EXIT_FAILED


class PreflightError(AwsCommandError):
    """Input refused before any resource was created."""

    exit_code = EXIT_USAGE

    def __init__(self, problems: list[str] | str, *, hint: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        if len(self.problems) == 1:
            message = f"pre-flight check failed: {self.problems[0]}"
        else:
            message = "pre-flight checks failed:\n" + "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(message, hint=hint)


class ConfigError(AwsCommandError):
    exit_code = EXIT_CONFIG


class TimedOut(AwsCommandError):
    exit_code = EXIT_TIMEOUT


class NotFound(AwsCommandError):
    exit_code = EXIT_NOT_FOUND


class Unsupported(AwsCommandError):
    exit_code = EXIT_UNSUPPORTED
