"""The examples in docs/ run as written: a page that shows code shows code that works."""

from __future__ import annotations

import os
import re
from pathlib import Path

import requests

DOCS = Path(__file__).resolve().parents[2] / "docs"


def python_block(page: str, heading: str) -> str:
    """The first ```python block after `heading` in docs/<page>."""
    text = (DOCS / page).read_text()
    after = text[text.index(heading):]
    return re.search(r"^```python\n(.*?)^```$", after, flags=re.S | re.M).group(1)


def test_the_full_hooks_example(tmp_path: Path, serve) -> None:
    """docs/hooks.md's model/inference.py, served, answers the page's curl line as the page says."""
    package = tmp_path / "docs_hooks_example"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "inference.py").write_text(python_block("hooks.md", "## A full example"))
    pythonpath = os.pathsep.join([str(tmp_path), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))])
    server = serve(env={"BYOC_MODEL_PACKAGE": "docs_hooks_example", "PYTHONPATH": pythonpath})

    headers = {"Content-Type": "text/csv", "Accept": "application/json",
               "X-Amzn-SageMaker-Custom-Attributes": "threshold=0.8"}
    answer = requests.post(server.url + "/invocations", data="5.1,3.5,1.4,0.2", headers=headers, timeout=30)
    assert answer.status_code == 200, answer.text
    [row] = answer.json()["predictions"]
    assert set(row) == {"label", "probability", "confident"}
    assert row["label"] == 0 and 0.5 < row["probability"] <= 1 and row["confident"] == (row["probability"] >= 0.8)

    as_csv = requests.post(server.url + "/invocations", data="5.1,3.5,1.4,0.2\n6.7,3.0,5.2,2.3",
                           headers={"Content-Type": "text/csv", "Accept": "text/csv"}, timeout=30)
    assert as_csv.status_code == 200 and as_csv.text == "0\n2\n"

    refused = requests.post(server.url + "/invocations", data="5.1,3.5,1.4,0.2",
                            headers={**headers, "X-Amzn-SageMaker-Custom-Attributes": "threshold=2"}, timeout=30)
    assert refused.status_code == 400 and "threshold=2.0 is not between 0 and 1" in refused.json()["message"]
