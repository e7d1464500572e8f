"""Several outputs of one run replaced together: all or none, earlier files never lost."""

from __future__ import annotations

import os

import pytest

from lcz_qgis.common.atomic import StagedOutputs, replace_together, swap_in
from lcz_qgis.common.errors import LczError
from lcz_qgis.sample_data import write_sample_data


def _earlier(folder, names):
    for n in names:
        (folder / n).write_text(f"old {n}")


def test_a_failing_move_puts_every_earlier_file_back(tmp_path, monkeypatch):
    names = ["a.tif", "a.qml", "outlines.gpkg"]
    _earlier(tmp_path, names)
    staged = StagedOutputs()
    for n in names:
        staged.write_text(tmp_path / n, f"new {n}")
    real = os.replace

    def locked(src, dst):  # the GeoPackage is open in QGIS (Windows refuses the rename)
        if str(dst).endswith("outlines.gpkg") and "part" in str(src):
            raise PermissionError(13, "The process cannot access the file", str(dst))
        return real(src, dst)

    monkeypatch.setattr(os, "replace", locked)
    with pytest.raises(LczError, match="cannot replace .*outlines.gpkg.*earlier files were kept"):
        staged.commit()
    monkeypatch.setattr(os, "replace", real)
    assert {n: (tmp_path / n).read_text() for n in names} == {n: f"old {n}" for n in names}
    left = staged.discard()
    assert left == []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)  # no temporaries


def test_commit_replaces_all_and_leaves_no_backup(tmp_path):
    names = ["a.tif", "a.qml"]
    _earlier(tmp_path, names[:1])
    staged = StagedOutputs()
    for n in names:
        staged.write_text(tmp_path / n, f"new {n}")
    staged.commit()
    assert {p.name: p.read_text() for p in tmp_path.iterdir()} == {n: f"new {n}" for n in names}


def test_a_target_that_is_a_folder_is_refused_before_anything_moves(tmp_path):
    new = tmp_path / "new"
    new.mkdir()
    for n in ("x.tif", "x.qml"):
        (new / n).write_text("new")
    (tmp_path / "x.tif").write_text("old")
    (tmp_path / "x.qml").mkdir()  # a folder with an output's name, holding the user's file
    (tmp_path / "x.qml" / "keep").write_text("mine")
    with pytest.raises(LczError, match="x.qml' is a folder"):
        replace_together(new, tmp_path, ["x.tif", "x.qml"])
    assert (tmp_path / "x.tif").read_text() == "old"
    assert (tmp_path / "x.qml" / "keep").read_text() == "mine"
    with pytest.raises(LczError, match="is a folder"):
        swap_in([(new / "x.qml", tmp_path / "x.qml")])


def test_sample_data_never_deletes_a_folder_with_an_output_name(tmp_path):
    (tmp_path / "scene_s2.qml").mkdir()
    (tmp_path / "scene_s2.qml" / "keep").write_text("mine")
    with pytest.raises(LczError, match="is a folder"):
        write_sample_data(tmp_path, n_train=340, n_test=340)
    assert (tmp_path / "scene_s2.qml" / "keep").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["scene_s2.qml"]
