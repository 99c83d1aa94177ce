"""byoc's pre-flight loads a model that may run code (a pickle) inside the image, never on the
host: `docker run --network none`, the model read-only, a read-only root, no capabilities."""

from __future__ import annotations

import json
import pickle
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from byoc.aws import modeldata
from byoc.errors import PreflightError
from container import artifacts

pytestmark = pytest.mark.docker

#: Runs where the pickle is loaded: tries to write into the model and to reach the network, then
#: says what it could do (a RuntimeError, so the check reports it).
PROBE = """
import pathlib, socket
seen = []
try:
    pathlib.Path('/opt/ml/model/written-by-the-pickle').write_text('x')
    seen.append('model folder WRITABLE')
except OSError as exc:
    seen.append('model folder read-only (%s)' % exc.strerror)
try:
    socket.create_connection(('198.51.100.1', 80), timeout=3).close()
    seen.append('network REACHABLE')
except OSError as exc:
    seen.append('network unreachable (%s)' % (exc.strerror or exc))
try:
    pathlib.Path(MARKER).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(MARKER).write_text('ran')  # on the host, this file would appear
except OSError:
    pass
raise RuntimeError('the pickle ran: ' + '; '.join(seen))
"""


class Probe:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return exec, (f"MARKER = {str(self.marker)!r}\n{PROBE}",)


def test_a_pickle_runs_only_in_the_sealed_image(image: str, tmp_path: Path) -> None:
    marker = tmp_path / f"ran-{uuid.uuid4().hex}"  # the same path inside the container is its own tmpfs
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "model.joblib").write_bytes(pickle.dumps(Probe(marker)))
    with pytest.raises(PreflightError) as info:
        modeldata.check_folder(folder, image=image)
    message = str(info.value)
    assert f"the model does not load in {image}" in message
    assert "the pickle ran: model folder read-only" in message and "network unreachable" in message
    assert "WRITABLE" not in message and "REACHABLE" not in message
    assert not marker.exists()  # nothing ran on this machine
    assert sorted(p.name for p in folder.iterdir()) == ["model.joblib"]


def test_a_joblib_model_loads_in_the_image_with_its_checks(image: str, tmp_path: Path, engine: Any) -> None:
    X = np.random.default_rng(0).standard_normal((100, 3))
    folder = tmp_path / "model"
    artifacts.save(folder, LogisticRegression().fit(X, X[:, 0] > 0), {"n_features": 3}, format=artifacts.JOBLIB)
    checked = modeldata.check_folder(folder, image=image)
    assert checked.how == (f"loaded in {image} (no network, model read-only), because model.joblib is a pickle: "
                           "loading it runs code the file names")
    assert checked.notes == []
    # The image checks what serve checks: a file changed after training is refused there too.
    changed = Path(shutil.copytree(folder, tmp_path / "changed"))
    data = bytearray((changed / "model.joblib").read_bytes())
    data[-3] ^= 1
    (changed / "model.joblib").write_bytes(bytes(data))
    with pytest.raises(PreflightError, match=r"does not load in .*model.joblib in /opt/ml/model is not the file "
                                             r"training wrote.*SHA-256"):
        modeldata.check_folder(changed, image=image)
    # And the versions: another minor version is refused unless the deploy's environment allows it.
    skewed = Path(shutil.copytree(folder, tmp_path / "skewed"))
    metadata = json.loads((skewed / "metadata.json").read_text())
    metadata["versions"]["scikit-learn"] = "0.24.2"
    (skewed / "metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(PreflightError, match=r"trained with scikit-learn 0.24.2 \(this image has"):
        modeldata.check_folder(skewed, image=image)
    allowed = modeldata.check_folder(skewed, image=image, environment={"BYOC_ALLOW_VERSION_SKEW": "1"})
    assert allowed.how.startswith(f"loaded in {image}")
    assert not list(engine.containers.list(all=True, filters={"label": "io.github.sagemaker-byoc.local=check"}))
