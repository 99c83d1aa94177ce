"""Who handles requests in the image: gunicorn's master stays root, its workers run as `byoc`.

Read from inside the running container: /proc for every process's ids, groups and capabilities,
and a model package (packages/probe) whose transform_fn reports, from the worker answering the
request, its ids and where it may write.
"""

from __future__ import annotations

import json
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from container import artifacts
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


MODEL_FILES = {"BYOC_MODEL_PACKAGE": "modelfiles", "PYTHONPATH": "/opt/test-packages"}


def only_the_owner_may_read(folder: Path) -> None:
    """Folders 0700, files 0600: a model.tar.gz packed so, which SageMaker extracts as root."""
    for path in [folder, *folder.rglob("*")]:
        os.chmod(path, 0o700 if path.is_dir() else 0o600)


def post(url: str, body: bytes, content_type: str) -> tuple[int, Any]:
    request = urllib.request.Request(url + "/invocations", data=body, method="POST",
                                     headers={"Content-Type": content_type, "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


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


def test_a_model_only_root_may_read_is_served_from_the_master_s_memory_maps(
        serve: Callable[..., Any], tmp_path: Path) -> None:
    # model.skops with its large array beside it in model-arrays/, every file 0600 and every
    # folder 0700: the master (root) loads it before forking and maps the array; the workers
    # inherit the mapping, so they predict from it although they could not open the file.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((20_000, 10))  # 1.6 MB: over ARRAY_FILE_MIN_BYTES, so memory-mapped
    fitted = KNeighborsClassifier(algorithm="brute").fit(X, (X[:, 0] > 0).astype(int))
    model = tmp_path / "model"
    artifacts.save(model, fitted, {"n_features": 10})
    array = "model-arrays/0.npy"
    assert (model / array).is_file()
    only_the_owner_may_read(model)
    # CAP_SYS_PTRACE for the checks below only (docker exec reads the workers' maps): the workers
    # lose it with root, as every capability (test_the_master_stays_root_...).
    served = serve(model, cap_add=["SYS_PTRACE"])
    uid, _ = worker_user(served.container)
    rows = X[:200]
    csv = "\n".join(",".join(repr(float(v)) for v in row) for row in rows).encode()
    status, answer = post(served.url, csv, "text/csv")
    assert status == 200, answer
    assert [int(v) for v in answer["predictions"]] == fitted.predict(rows).tolist()
    _, workers = processes(served.container)
    for worker in workers:
        assert worker["uid"][0] == uid, worker
        assert worker["cap_eff"] == 0, worker
        # A process that changed its uid is not dumpable: reading its maps takes CAP_SYS_PTRACE.
        maps = in_container(served.container, f"print(open('/proc/{worker['pid']}/maps').read())")
        assert f"/opt/ml/model/{array}" in maps, f"worker {worker['pid']} does not map {array}"
    # ... and could not have read it any other way:
    code, output = served.container.exec_run(["python", "-c", f"open('/opt/ml/model/{array}', 'rb')"],
                                             user=WORKER_USER)
    assert code != 0 and b"PermissionError" in output, output
    assert f"/opt/ml/model is not readable by {WORKER_USER} (uid {uid})" in served.log()


def test_a_model_fn_reads_files_only_root_may_read_but_hooks_serving_cannot(
        serve: Callable[..., Any], tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "labels.json").write_text('["cat", "dog"]')
    only_the_owner_may_read(model)
    served = serve(model, env=MODEL_FILES, volumes=PROBE_MOUNT)
    uid, _ = worker_user(served.container)
    # model_fn runs once, in the master, as root, before the workers exist.
    assert post(served.url, b"{}", "application/json") == (
        200, {"labels": ["cat", "dog"], "loaded_by": 0, "answered_by": uid})
    # A hook that opens a model file while serving runs in a worker: refused, and the 500 says so.
    status, answer = post(served.url, b'{"reopen": true}', "application/json")
    assert status == 500, answer
    assert answer["message"] == ("transform_fn failed: PermissionError: [Errno 13] Permission denied: "
                                 "'/opt/ml/model/labels.json'"), answer
    # What the log said at start, before any request: which file, and the fix.
    log = served.log()
    assert f"/opt/ml/model is not readable by {WORKER_USER} (uid {uid})" in log
    assert "chmod -R a+rX" in log


def test_a_container_run_as_a_user_keeps_that_user_for_master_and_workers(serve: Callable[..., Any]) -> None:
    # docker run -u 1000:1000: no root to drop; the workers are the master's user, and serve says nothing of it.
    served = serve(env=PROBE, volumes=PROBE_MOUNT, user="1000:1000")
    master, workers = processes(served.container)
    assert master["uid"] == [1000] * 4 and master["gid"] == [1000] * 4, master
    assert len(workers) == 2 and all(w["uid"] == [1000] * 4 for w in workers), workers
    report = probe(served.url, ["/opt/ml/model", "/opt/venv", "/tmp"])
    assert (report["uid"], report["gid"]) == (1000, 1000), report
    assert report["write"] == {"/opt/ml/model": "EROFS", "/opt/venv": "EACCES", "/tmp": "ok"}, report
    assert "Workers handle requests as" not in served.log()


def test_train_runs_as_root(run: Callable[..., Any], trained: tuple[Any, Any]) -> None:
    # SageMaker mounts /opt/ml for root; `train` writes the model and the failure file there.
    result, paths = trained
    assert result.code == 0, result.log
    owners = run(["python", "-c", "import os; print(sorted({os.stat(p).st_uid for p in os.scandir('/opt/ml/model')}))"],
                 volumes={str(paths.base.resolve()): {"bind": "/opt/ml", "mode": "ro"}})
    assert owners.code == 0, owners.log
    assert owners.log.strip() == "[0]"
