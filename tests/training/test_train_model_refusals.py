"""train_model refuses a one-class set and a missing output folder, and a cancelled run
leaves no model file."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from lcz_qgis.common.errors import LczError


def test_training_refuses_a_one_class_set_and_a_missing_output_folder(tmp_path):
    p = tmp_path / "one.h5"
    with h5py.File(p, "w") as f:
        f["sen2"] = np.zeros((5, 32, 32, 10))
        f["label"] = np.eye(17)[[3] * 5]
    from lcz_qgis.training.train import train_model

    with pytest.raises(LczError, match="only one class"):
        train_model(p, tmp_path / "m.lczmodel")
    with pytest.raises(LczError, match="does not exist"):
        train_model(p, tmp_path / "no" / "m.lczmodel")


def test_training_cancel_leaves_no_model_file(tmp_path, sample_dir):
    from lcz_qgis.common.errors import Cancelled
    from lcz_qgis.common.feedback import RecordingFeedback
    from lcz_qgis.training.train import train_model

    out = tmp_path / "m.lczmodel"
    with pytest.raises(Cancelled):
        train_model(sample_dir / "train.h5", out, feedback=RecordingFeedback(cancel_at=10))
    assert not out.exists() and list(tmp_path.iterdir()) == []
