"""The README's shell blocks, for tests that run them as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def bash_blocks(heading: str, text: str | None = None) -> list[str]:
    """The ```bash blocks between `heading` (a whole line) and the next heading of its level or higher."""
    lines = (README.read_text() if text is None else text).splitlines()
    level = len(heading) - len(heading.lstrip("#"))
    section: list[str] = []
    fenced = False
    for line in lines[lines.index(heading) + 1:]:
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and re.match(rf"#{{1,{level}}} ", line):
            break
        section.append(line)
    return re.findall(r"^```bash\n(.*?)^```$", "\n".join(section) + "\n", flags=re.S | re.M)
