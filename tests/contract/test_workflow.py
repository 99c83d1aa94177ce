"""The README's whole workflow: the local block run as written, the SageMaker block's commands parsed.

The local block prepares the bank sample with `byoc local process`, tunes on it with `byoc local
tune` (8 real training jobs, 2 at a time, objective validation:auc), serves the best model and asks
it with curl. It runs in a fresh shell beside the .venv `make` made; the only changes are the
port (8080 may be taken here), a wait for /ping before curl (a user types curl once serve says it
is up), and stopping serve at the end.
"""

from __future__ import annotations

import csv
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

from byoc import cli, local

from readme import bash_blocks

VENV = Path(sys.executable).parent.parent
HEADING = "## The whole workflow: prepare, tune, serve"


def logical_lines(block: str) -> list[str]:
    """The block's commands, continuation lines joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", block)
    return [line for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_local_workflow_runs_as_written(tmp_path: Path) -> None:
    block = bash_blocks(HEADING)[0]
    commands = logical_lines(block)
    serving = next(i for i, line in enumerate(commands) if line.startswith("byoc local serve "))
    asking = next(i for i, line in enumerate(commands) if line.startswith("curl ") and "/invocations" in line)
    # The model takes seconds to load: a curl right after `serve &` gets "connection refused", silently.
    assert any("/ping" in line for line in commands[serving + 1:asking]), commands[serving:asking + 1]
    port = local.free_port()
    script = ["set -e"]
    for line in logical_lines(block):
        if line.startswith("byoc local serve "):
            line = line.replace('"$BEST" &', f'"$BEST" --port {port} > serve.log 2>&1 &')
            assert f"--port {port} > serve.log 2>&1 &" in line, line
            script.append(line)   # the block's own wait for /ping comes next: pasted as is, it must not race
        elif line.startswith(("curl ", "until curl ")):
            assert "localhost:8080" in line
            script.append(line.replace("localhost:8080", f"localhost:{port}"))
        else:
            script.append(line)
    # Then the curl lines serve suggests, pasted as a user would: they must fit this model.
    script += ["echo '-- hints'", "grep '^  curl -s -X POST' serve.log > hints.sh", "while read -r hint; do "
               "eval \"$hint\"; echo; done < hints.sh", "kill -TERM %1", "wait %1 || true", "cat serve.log >&2"]
    (tmp_path / ".venv").symlink_to(VENV)
    done = subprocess.run(["bash", "-c", "\n".join(script)], cwd=tmp_path, capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    with (tmp_path / "jobs" / "bank-tune" / "results.csv").open() as table:
        rows = list(csv.DictReader(table))
    assert len(rows) == 8 and {row["TrainingJobStatus"] for row in rows} == {"Completed"}, rows
    assert all(0.5 < float(row["FinalObjectiveValue"]) <= 1 for row in rows), rows  # validation:auc
    assert (tmp_path / "jobs" / "bank-tune" / "objective.png").stat().st_size > 0
    assert "Split 20000 rows into train 14000, validation 3000, test 3000" in done.stdout
    lines = done.stdout.splitlines()
    hints = lines.index("-- hints")
    answer = lines[hints - 11:hints]  # curl's answer: the label's name, then one label per payload row
    assert answer[0] == "y" and set(answer[1:]) <= {"yes", "no"} and len(answer[1:]) == 10, done.stdout[-2000:]
    as_csv, as_json = [line for line in lines[hints + 1:] if line][:2]
    assert as_csv in {"yes", "no"}, done.stdout[-2000:]
    assert json.loads(as_json)["classes"] == ["no", "yes"], done.stdout[-2000:]


def test_the_sagemaker_workflow_commands_parse() -> None:
    """Every byoc command of the SageMaker block is one `byoc` accepts (the block itself needs AWS)."""
    block = bash_blocks(HEADING)[1]
    values = {'"$IMAGE"': "123456789012.dkr.ecr.us-east-1.amazonaws.com/sagemaker-byoc:abc",
              '"$MODEL"': "s3://bucket/model.tar.gz",
              "$(printf -- '--channel %s ' $CHANNELS)": "--channel train=s3://b/t/ --channel validation=s3://b/v/"}
    parser = cli.build_parser()
    commands = []
    for line in logical_lines(block):
        for name, value in values.items():
            line = line.replace(name, value)
        inner = re.fullmatch(r"\w+=\$\((.*)\)(\s*#.*)?", line)
        command = inner.group(1) if inner else line
        words = shlex.split(command, comments=True)
        if words[0] != "byoc":
            assert words[0] == "./build_and_push.sh", line
            continue
        parser.parse_args(words[1:])  # SystemExit (a failure here) if a flag or argument is wrong
        commands.append(words[1])
    assert commands == ["process", "tune", "register", "approve", "deploy", "invoke"]
