"""Where progress goes: stderr, looked up at each write (so redirections made later, by a test
or a caller, are honoured), leaving stdout for the results scripts capture."""

from __future__ import annotations

import sys


class _Stderr:
    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return bool(getattr(sys.stderr, "isatty", lambda: False)())


STDERR = _Stderr()
