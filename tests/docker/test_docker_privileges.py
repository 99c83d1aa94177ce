"""Who handles requests in the image: gunicorn's master stays root, its workers run as `byoc`.

Read from inside the running container: /proc for every process's ids, groups and capabilities,
and a model package (packages/probe) whose transform_fn reports, from the worker answering the
request, its ids and where it may write.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.request
from pathlib import Path
from typing import Any, Callable

import pytest

from container.privileges import WORKER_USER

pytestmark = pytest.mark.docker

PACKAGES = Path(__file__).resolve().parent / "packages"
PROBE = {"BYOC_MODEL_PACKAGE": "probe", "PYTHONPATH": "/opt/test-packages"}
PROBE_MOUNT = {str(PACKAGES): {"bind": "/opt/test-packages", "mode": "ro"}}

PROCESSES = r"""
import json, os
found = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        status = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status") if ":" in line)
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode().strip()
    except OSError:
        continue
    found.append({"pid": int(pid), "ppid": int(status["PPid"]), "cmdline": cmdline,
                  "uid": [int(v) for v in status["Uid"].split()], "gid": [int(v) for v in status["Gid"].split()],
                  "groups": [int(v) for v in status["Groups"].split()], "cap_eff": int(status["CapEff"], 16)})
print(json.dumps(found))
"""


def in_container(container: Any, script: str, **options: Any) -> str:
    code, output = container.exec_run(["python", "-c", script], **options)
    assert code == 0, output.decode(errors="replace")
    return output.decode()


def worker_user(container: Any) -> tuple[int, int]:
    """The uid and gid of the image's worker user, as its /etc/passwd says."""
    ids = in_container(container, f"import pwd; e = pwd.getpwnam({WORKER_USER!r}); print(e.pw_uid, e.pw_gid)")
    uid, gid = map(int, ids.split())
    assert uid != 0 and gid != 0
    return uid, gid


def processes(container: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """gunicorn's master (PID 1: the entrypoint exec'd `serve`) and its workers (its children)."""
    found = json.loads(in_container(container, PROCESSES))
    master = next(p for p in found if p["pid"] == 1)
    workers = [p for p in found if p["ppid"] == 1]
    return master, workers


def probe(url: str, folders: list[str]) -> dict[str, Any]:
    request = urllib.request.Request(url + "/invocations", data=json.dumps(folders).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Accept": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        return json.loads(response.read())


def test_the_master_stays_root_and_every_worker_runs_as_the_worker_user(serve: Callable[..., Any]) -> None:
    served = serve()
    uid, gid = worker_user(served.container)
    master, workers = processes(served.container)
    assert master["uid"] == [0, 0, 0, 0], master
    assert "serve" in master["cmdline"], master
    assert len(workers) == 2, workers  # MODEL_SERVER_WORKERS=2
    for worker in workers:
        # real, effective, saved and file-system ids alike: no way back to root
        assert worker["uid"] == [uid] * 4, worker
        assert worker["gid"] == [gid] * 4, worker
        assert worker["groups"] == [], f"root's supplementary groups kept: {worker}"
        assert worker["cap_eff"] == 0, worker
    assert f"Workers handle requests as {WORKER_USER} (uid {uid}, gid {gid}); the master stays root." \
        in served.log()


def test_a_worker_may_write_only_where_anyone_may(serve: Callable[..., Any], image_model: Path,
                                                    tmp_path: Path) -> None:
    # The model read-write this time, so only its permissions can refuse the write (endpoints
    # mount it read-only on top). Owned by whoever runs the tests, never the worker's uid.
    model = shutil.copytree(image_model, tmp_path / "model")
    served = serve(model, env=PROBE, volumes={**PROBE_MOUNT, str(model): {"bind": "/opt/ml/model", "mode": "rw"}})
    uid, gid = worker_user(served.container)
    assert os.stat(model).st_uid != uid
    site_packages = in_container(served.container, "import sysconfig; print(sysconfig.get_paths()['purelib'])").strip()
    refused = ["/opt/ml/model", "/opt/ml", "/opt/venv", "/opt/venv/bin", site_packages,
               f"{site_packages}/container", "/etc", "/usr/local/lib", "/root", "/"]
    allowed = ["/tmp", "/dev/shm"]
    report = probe(served.url, refused + allowed)
    assert (report["uid"], report["euid"], report["gid"], report["egid"]) == (uid, uid, gid, gid), report
    assert report["groups"] == [], report
    assert report["write"] == {**{folder: "EACCES" for folder in refused}, **{folder: "ok" for folder in allowed}}
    assert report["signal_master"] == "EPERM", report
    assert not [p for p in model.rglob("byoc-probe-*")]


@pytest.mark.parametrize("case", ["capabilities dropped", "GUNICORN_CMD_ARGS"])
def test_workers_keep_root_when_they_cannot_or_must_not_switch(case: str, serve: Callable[..., Any]) -> None:
    if case == "capabilities dropped":  # a runtime that forbids changing user: serve anyway, and say so
        served = serve(env=PROBE, volumes=PROBE_MOUNT, cap_drop=["SETUID", "SETGID"])
        expected = "may not change its user (CAP_SETUID and CAP_SETGID were dropped)"
    else:  # gunicorn's own setting, as documented
        served = serve(env={**PROBE, "GUNICORN_CMD_ARGS": "--user root --group root"}, volumes=PROBE_MOUNT)
        expected = "Workers handle requests as root."
    report = probe(served.url, ["/opt/venv"])
    assert (report["uid"], report["gid"]) == (0, 0), report
    assert report["write"] == {"/opt/venv": "ok"}
    assert expected in served.log()
    _, workers = processes(served.container)
    assert workers and all(worker["uid"][0] == 0 for worker in workers), workers


def test_train_runs_as_root(run: Callable[..., Any], trained: tuple[Any, Any]) -> None:
    # SageMaker mounts /opt/ml for root; `train` writes the model and the failure file there.
    result, paths = trained
    assert result.code == 0, result.log
    owners = run(["python", "-c", "import os; print(sorted({os.stat(p).st_uid for p in os.scandir('/opt/ml/model')}))"],
                 volumes={str(paths.base.resolve()): {"bind": "/opt/ml", "mode": "ro"}})
    assert owners.code == 0, owners.log
    assert owners.log.strip() == "[0]"
