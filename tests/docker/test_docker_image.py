"""The image itself: metadata SageMaker relies on, the entrypoint, and what is (not) inside."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from byoc import image as images

pytestmark = pytest.mark.docker

LABEL = "com.amazonaws.sagemaker.capabilities.accept-bind-to-port"


def config(engine: Any, image: str) -> dict[str, Any]:
    return engine.images.get(image).attrs["Config"]


def test_architecture_matches_the_host_and_labels_are_set(engine: Any, image: str) -> None:
    attrs = engine.images.get(image).attrs
    assert attrs["Os"] == "linux"
    assert attrs["Architecture"] == images.engine_architecture()
    assert (attrs["Config"]["Labels"] or {}).get(LABEL) == "true"


def test_exec_form_entrypoint_unbuffered_python_and_root(engine: Any, image: str) -> None:
    cfg = config(engine, image)
    # Exec form: a JSON array naming the program, not ["/bin/sh", "-c", ...].
    assert cfg["Entrypoint"] == ["/opt/venv/bin/byoc-entrypoint"]
    assert not cfg.get("Cmd"), "the base image's CMD must not leak through"
    env = dict(item.split("=", 1) for item in cfg["Env"])
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PATH"].split(":")[0] == "/opt/venv/bin"
    assert cfg.get("User", "") in ("", "root", "0")
    assert not any(v.startswith("/opt/ml") for v in (cfg.get("Volumes") or {}))


def test_nothing_is_baked_under_opt_ml(run: Callable[..., Any]) -> None:
    result = run(["python", "-c", "import os; print('exists' if os.path.exists('/opt/ml') else 'absent')"])
    assert result.code == 0, result.log
    assert result.log.strip() == "absent"


def test_train_and_serve_are_on_path_and_commands_replace_the_entrypoint(run: Callable[..., Any]) -> None:
    result = run(["sh", "-c", "command -v train; command -v serve; command -v process; id -u; echo pid=$$"])
    assert result.code == 0, result.log
    assert result.log.split() == ["/opt/venv/bin/train", "/opt/venv/bin/serve", "/opt/venv/bin/process", "0", "pid=1"]


def test_any_other_command_runs_as_given(run: Callable[..., Any]) -> None:
    result = run(["python", "-c", "import sys, sklearn; print(sys.argv[1:], sys.prefix)", "a b", "--c"])
    assert result.code == 0, result.log
    assert result.log.strip() == "['a b', '--c'] /opt/venv"
    assert run(["bash", "-c", "exit 7"]).code == 7
    missing = run(["no-such-command"])
    assert missing.code == 127
    assert "no-such-command: command not found" in missing.log


def test_no_command_prints_usage(run: Callable[..., Any]) -> None:
    result = run([])
    assert result.code == 2
    assert "docker run IMAGE train" in result.log and "docker run IMAGE serve" in result.log


def test_the_image_holds_the_runtime_and_the_model_not_the_laptop_cli(run: Callable[..., Any]) -> None:
    # container/ and model/ run in the image; byoc/ (boto3, Docker) runs on the laptop only.
    script = ("import importlib.metadata as m, importlib.util as u, shutil\n"
              "print(sorted(e.name for e in m.distribution('sagemaker-byoc').entry_points))\n"
              "print([n for n in ('container', 'model', 'byoc', 'boto3', 'docker', 'flask') if u.find_spec(n)])\n"
              "print(shutil.which('byoc'))\n")
    result = run(["python", "-c", script])
    assert result.code == 0, result.log
    assert result.log.splitlines() == ["['byoc-entrypoint', 'process', 'serve', 'train']", "['container', 'model']",
                                       "None"]
    missing = run(["byoc", "--help"])
    assert missing.code == 127 and "byoc: command not found" in missing.log
