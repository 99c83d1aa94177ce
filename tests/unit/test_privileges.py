"""Which user the workers handle requests as: the decision, the capability check, the readability check.

The switch itself is tested in the image (tests/docker/test_docker_privileges.py); here, the
parts that are plain functions, and the group drop in a real forked process when run as root.
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import types
from pathlib import Path

import pytest

from container import privileges
from container.privileges import may_change_user, unreadable, worker_user

ROOT = os.geteuid() == 0
STATUS = "Name:\tpython\nUid:\t0\t0\t0\t0\nCapInh:\t0000000000000000\nCapEff:\t{}\nCapBnd:\t{}\n"


@pytest.mark.parametrize(("cap_eff", "may"), [
    ("00000000a80425fb", True),   # Docker's default set: CAP_SETGID (6) and CAP_SETUID (7) among them
    ("000001ffffffffff", True),   # every capability
    ("00000000a804253b", False),  # Docker's default less both (--cap-drop SETUID --cap-drop SETGID)
    ("00000000a804257b", False),  # ... less CAP_SETUID only
    ("00000000a80425bb", False),  # ... less CAP_SETGID only
    ("0000000000000000", False),  # a non-root process's effective set
])
def test_may_change_user_reads_the_effective_capabilities(cap_eff: str, may: bool) -> None:
    assert may_change_user(STATUS.format(cap_eff, "000001ffffffffff")) is may


def test_may_change_user_without_a_capability_line_trusts_root() -> None:
    assert may_change_user(None) is True
    assert may_change_user("Name:\tpython\n") is True


def test_a_normal_user_leaves_the_workers_as_they_are() -> None:
    # As a normal user (under root, a child that became `nobody` first): no user or group settings.
    script = """
import os, pwd
from container import privileges  # imported first: this interpreter may live under /root
if os.geteuid() == 0:
    nobody = pwd.getpwnam("nobody")
    os.setgroups([]); os.setgid(nobody.pw_gid); os.setuid(nobody.pw_uid)
options = privileges.gunicorn_options("nobody")
print(os.geteuid() != 0, privileges.worker_user("nobody"), "user" in options or "group" in options)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30,
                          cwd=Path(privileges.__file__).parent.parent)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "None", "False"]


@pytest.mark.skipif(not ROOT, reason="needs root: the case of SageMaker and of this project's CI")
def test_root_switches_to_a_user_that_exists_and_only_then() -> None:
    nobody = pwd.getpwnam("nobody")
    assert worker_user("nobody") == privileges.WorkerUser("nobody", nobody.pw_uid, nobody.pw_gid)
    options = privileges.gunicorn_options("nobody")
    assert (options["user"], options["group"]) == (nobody.pw_uid, nobody.pw_gid)
    assert worker_user("no-such-user-byoc") is None  # a local run as root outside the image
    assert "user" not in privileges.gunicorn_options("no-such-user-byoc")


def test_the_hook_is_always_installed() -> None:
    # GUNICORN_CMD_ARGS may name a user however the default was decided: the hook finishes and reports it.
    options = privileges.gunicorn_options("no-such-user-byoc")
    assert options["when_ready"] is privileges.hand_over
    assert "post_fork" not in options and "post_worker_init" not in options  # left to other settings


#: As gunicorn does it: the master's when_ready hook, then a fork, then the worker's own switch.
SWITCH = """
import logging, os, pwd, sys, types
from gunicorn import util
from gunicorn.config import Config
from container.privileges import hand_over
logging.basicConfig(stream=sys.stderr)
nobody = pwd.getpwnam("nobody")
os.setgroups([0, 4])  # root's supplementary groups, as the master has them
cfg = Config()
cfg.set("user", nobody.pw_uid); cfg.set("group", nobody.pw_gid); cfg.set("initgroups", INITGROUPS)
hand_over(types.SimpleNamespace(cfg=cfg))
pid = os.fork()
if pid == 0:
    util.set_owner_process(cfg.uid, cfg.gid, initgroups=cfg.initgroups)
    print(os.getresuid(), os.getresgid(), os.getgroups(), flush=True)
    os._exit(0)
os.waitpid(pid, 0)
"""


@pytest.mark.skipif(not ROOT, reason="needs root to change groups")
@pytest.mark.parametrize("initgroups", [False, True])
def test_the_hook_leaves_roots_groups_before_any_worker_is_forked(initgroups: bool, tmp_path: Path) -> None:
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(tmp_path)}  # no model to check
    done = subprocess.run([sys.executable, "-c", SWITCH.replace("INITGROUPS", str(initgroups))],
                          capture_output=True, text=True, timeout=30, env=env)
    assert done.returncode == 0, done.stderr
    nobody = pwd.getpwnam("nobody")
    uid, gid = nobody.pw_uid, nobody.pw_gid
    assert done.stdout.strip() == f"{(uid, uid, uid)} {(gid, gid, gid)} []"


@pytest.mark.skipif(not ROOT, reason="needs root to change groups")
def test_without_the_hook_gunicorn_keeps_roots_groups() -> None:
    # Why the hook exists (benoitc/gunicorn#2770): if this starts failing, gunicorn fixed it.
    script = """
import os, pwd
from gunicorn import util
nobody = pwd.getpwnam("nobody")
os.setgroups([0, 4])
util.set_owner_process(nobody.pw_uid, nobody.pw_gid, initgroups=False)
print(os.getgroups())
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[0, 4]"


def test_the_hook_does_nothing_when_the_workers_stay_as_they_are() -> None:
    groups = os.getgroups()
    privileges.hand_over(types.SimpleNamespace(cfg=types.SimpleNamespace(uid=0, gid=0, initgroups=False)))
    assert os.getgroups() == groups


def test_unreadable_follows_owner_then_group_then_others(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "model.joblib").write_bytes(b"x")
    (model / "sub" / "extra.bin").write_bytes(b"x")
    for path in (model, model / "sub"):
        path.chmod(0o755)
    for path in (model / "model.joblib", model / "sub" / "extra.bin"):
        path.chmod(0o644)
    owner = os.stat(model).st_uid
    stranger, group = owner + 12345, os.stat(model).st_gid + 12345
    assert unreadable(model, stranger, group) is None

    (model / "sub" / "extra.bin").chmod(0o640)  # owner and group only
    assert unreadable(model, stranger, group) == model / "sub" / "extra.bin"
    assert unreadable(model, stranger, os.stat(model).st_gid) is None  # in the file's group
    assert unreadable(model, owner, group) is None  # its owner

    (model / "sub" / "extra.bin").chmod(0o604)  # others may, the group may not: the group's bits rule
    assert unreadable(model, stranger, os.stat(model).st_gid) == model / "sub" / "extra.bin"

    (model / "sub" / "extra.bin").chmod(0o644)
    (model / "sub").chmod(0o754)  # others may list it but not enter it
    assert unreadable(model, stranger, group) == model / "sub"
    (model / "sub").chmod(0o755)
    model.chmod(0o700)
    assert unreadable(model, stranger, group) == model
    model.chmod(0o755)


def test_unreadable_of_a_missing_folder_is_none(tmp_path: Path) -> None:
    assert unreadable(tmp_path / "absent", 12345, 12345) is None
