"""What can go wrong in a local command, and the exit code a script sees for each.

byoc.cli shows any of these as one line, `byoc: <message>`, never a traceback:

    1  the run failed (train failed, serve exited, a build failed)
    2  bad input, refused before anything was started
    3  Docker is missing or its engine is not reachable
"""

from __future__ import annotations


class ByocError(Exception):
    """A failure whose message is fit to show the user as it is."""

    exit_code = 1


class UsageError(ByocError):
    """Input refused before anything was started or written."""

    exit_code = 2


class Unavailable(ByocError):
    """A tool the command needs (Docker) is missing or not reachable."""

    exit_code = 3
