"""Requests are handled without root: gunicorn's workers run as the image's unprivileged user.

SageMaker starts containers as root and expects them to run so, and the master keeps root: it
binds the port, loads the model and forks the workers. The workers decode untrusted bodies and
run the user's hooks, so they run as WORKER_USER (made by the Dockerfile: no home, no shell, no
other group). A flaw there then cannot write to the venv, the model or /opt/ml, nor signal the
master. What they write, they write where anyone may: gunicorn's heartbeat file (in /tmp, made by
the master and handed to the user) and numpy's or joblib's temporary files (/tmp, /dev/shm).

The user is switched only when this process is root, may change its user (CAP_SETUID and
CAP_SETGID: a runtime that drops them keeps root workers, with a warning) and the user exists
(a local run as root outside the image changes nothing). gunicorn's own settings carry it, so
GUNICORN_CMD_ARGS="--user root --group root" keeps root workers.
"""

from __future__ import annotations

import logging
import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .paths import Paths

log = logging.getLogger("container.server")

#: Made in the Dockerfile's last stage (useradd --system --user-group).
WORKER_USER = "byoc"
#: Bits of the capability sets in /proc/self/status (linux/capability.h).
CAP_SETGID, CAP_SETUID = 6, 7
#: How many model files the readability check looks at before it stops looking.
CHECK_AT_MOST = 10_000


@dataclass(frozen=True)
class WorkerUser:
    name: str
    uid: int
    gid: int


def gunicorn_options(name: str = WORKER_USER) -> dict[str, Any]:
    """gunicorn settings: `user` and `group` when the workers can drop root, and the hook that
    finishes the switch and reports it."""
    options: dict[str, Any] = {"when_ready": hand_over}
    user = worker_user(name)
    if user is not None:
        options.update(user=user.uid, group=user.gid)
    return options


def worker_user(name: str = WORKER_USER) -> WorkerUser | None:
    """The user to run the workers as, or None to leave them as this process is."""
    if os.geteuid() != 0:
        return None  # a local run as a normal user: the workers are that user already
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None  # not this project's image
    if not may_change_user(_proc_status()):
        log.warning("Workers handle requests as root: this container may not change its user "
                    "(CAP_SETUID and CAP_SETGID were dropped), so %s cannot be used.", name)
        return None
    return WorkerUser(name, entry.pw_uid, entry.pw_gid)


def may_change_user(status: str | None) -> bool:
    """Whether /proc/self/status's effective capabilities hold CAP_SETUID and CAP_SETGID."""
    for line in (status or "").splitlines():
        if line.startswith("CapEff:"):
            effective = int(line.split()[1], 16)
            return all(effective >> bit & 1 for bit in (CAP_SETGID, CAP_SETUID))
    return True  # no capabilities to read (not Linux): root may


def _proc_status() -> str | None:
    try:
        return Path("/proc/self/status").read_text()
    except OSError:
        return None


def hand_over(server: Any) -> None:
    """gunicorn when_ready hook, in the master once the settings are final and before the first
    fork: leave root's supplementary groups, then say who handles requests.

    gunicorn's switch sets the workers' gid and uid but keeps the groups they inherit from the
    master (root's group 0 among them, so whatever that group may read or write); with
    `initgroups` it sets the groups but skips the gid, leaving it 0 (benoitc/gunicorn#2770).
    So the master drops its supplementary groups (root needs none: its uid decides) and
    initgroups is turned off: every worker forked from now on, replacements included, has the
    user's ids and nothing of root's. A hook, not post_fork, which other settings may claim.
    """
    if os.geteuid() != 0:
        return
    uid, gid = server.cfg.uid, server.cfg.gid
    if uid == 0:
        log.info("Workers handle requests as root.")
        return
    os.setgroups([])
    if server.cfg.initgroups:
        server.cfg.set("initgroups", False)
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = str(uid)
    log.info("Workers handle requests as %s (uid %d, gid %d); the master stays root.", name, uid, gid)
    model_dir = Paths.from_env().model_dir
    blocked = unreadable(model_dir, uid, gid)
    if blocked is not None:
        log.warning("%s is not readable by %s (uid %d): the model was loaded before the workers started, "
                    "but a hook that opens model files while serving will fail. Make them readable "
                    "before packing model.tar.gz (chmod -R a+rX).", blocked, name, uid)


def unreadable(root: Path, uid: int, gid: int) -> Path | None:
    """The first file or folder under `root` (itself included) that uid:gid may not read by its
    mode bits (folders need read and search); None when all are readable or `root` is missing."""
    checked = 0
    for folder, dirs, files in os.walk(root):
        entries = [Path(folder)] if folder == str(root) else []
        entries += [Path(folder) / name for name in files + dirs]
        for path in entries:
            try:
                info = path.stat()
            except OSError:
                continue  # gone, or a dangling link: nothing to read
            if not _may_read(info, uid, gid):
                return path
            checked += 1
            if checked >= CHECK_AT_MOST:
                return None
    return None


def _may_read(info: os.stat_result, uid: int, gid: int) -> bool:
    if info.st_uid == uid:
        read, search = stat.S_IRUSR, stat.S_IXUSR
    elif info.st_gid == gid:
        read, search = stat.S_IRGRP, stat.S_IXGRP
    else:
        read, search = stat.S_IROTH, stat.S_IXOTH
    need = read | (search if stat.S_ISDIR(info.st_mode) else 0)
    return info.st_mode & need == need
