"""transform_fn answers with who handles the request and where it may write.

The request body is a JSON list of folders: for each, the worker tries to create a new file there
(removed again at once) and reports "written" or the errno's name. It also tries to signal PID 1,
the gunicorn master, with signal 0, which checks the permission and sends nothing.
"""

import errno
import json
import os


def attempt(action):
    try:
        action()
        return "ok"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc.errno))


def create_in(folder):
    def action():
        path = os.path.join(folder, f"byoc-probe-{os.getpid()}")
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(path)
    return action


def transform_fn(model, body, content_type, accept):
    folders = json.loads(body)
    report = {
        "pid": os.getpid(),
        "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "egid": os.getegid(),
        "groups": os.getgroups(),
        "write": {folder: attempt(create_in(folder)) for folder in folders},
        "signal_master": attempt(lambda: os.kill(1, 0)),
    }
    return json.dumps(report), "application/json"
