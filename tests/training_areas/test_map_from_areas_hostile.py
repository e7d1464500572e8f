"""map-from-areas under hostile use: every option checked before step 1, every earlier
output byte-identical after a cancel, a signal or a late failure, one-class areas refused,
a full disk in step 1 one line; and `lcz calibrate` refuses a model name that is no .lczmodel.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import SCENE_AREAS, write_areas_file

from lcz_qgis.cli import main
from lcz_qgis.common.atomic import PARTIAL, DiskFull
from lcz_qgis.common.errors import Cancelled, LczError
from lcz_qgis.common.feedback import RecordingFeedback
from lcz_qgis.training_areas.workflow import MapRequest, map_from_training_areas

REPO = Path(__file__).resolve().parents[2]
# every output of a run -> its file name; the styles written beside them
OUTPUTS = {"output": "lcz.tif", "confidence": "conf.tif", "area_table": "area.csv",
           "map_image": "map.png", "factsheet": "f.html", "model_output": "m.lczmodel",
           "suspicious": "s.gpkg", "predictions": "p.csv"}  # fmt: skip
STYLES = ("lcz.qml", "conf.qml", "s.qml", "lcz.tif.aux.xml")


def sha256s(folder: Path) -> dict:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _earlier(folder: Path) -> dict:
    """Earlier outputs (and styles) in ``folder``; returns their checksums."""
    folder.mkdir(exist_ok=True)
    for name in (*OUTPUTS.values(), *STYLES):
        (folder / name).write_bytes(f"earlier {name}".encode())
    return sha256s(folder)


def _request(city, folder, **kw) -> MapRequest:
    outs = {k: str(folder / v) for k, v in OUTPUTS.items()}
    kw = {"areas": str(city / "areas.gpkg"), "n_splits": 3, "trees": 10, "seed": 1, **outs, **kw}
    return MapRequest(sentinel2=str(city / "scene_s2.tif"), **kw)


# -- one staging for every output ------------------------------------------------------------


def test_a_cancel_during_the_bootstrap_keeps_every_earlier_output(city, tmp_path):
    before = _earlier(tmp_path / "out")
    fb = RecordingFeedback(cancel_at=40)  # the bootstrap is 15-70 %
    with pytest.raises(Cancelled):
        map_from_training_areas(_request(city, tmp_path / "out", n_splits=6), fb)
    assert any(m.startswith("2/5") for m in fb.messages)  # step 1 had finished
    assert sha256s(tmp_path / "out") == before  # the suspicious layer too


def _png_disk_full(monkeypatch, folder):
    import lcz_qgis.classify.map_image as map_image

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(args[1]))

    monkeypatch.setattr(map_image, "render_map_png", full)
    return "map.png"


def _factsheet_disk_full(monkeypatch, folder):
    import lcz_qgis.reports.factsheet as factsheet

    def full(*args, **kwargs):
        raise DiskFull(folder / "f.html", 10**6)

    monkeypatch.setattr(factsheet, "factsheet_html", full)
    return "f.html"


@pytest.mark.parametrize("late", [_png_disk_full, _factsheet_disk_full])
def test_a_late_full_disk_keeps_every_earlier_output(city, tmp_path, monkeypatch, late):
    out = tmp_path / "out"
    before = _earlier(out)
    name = late(monkeypatch, out)
    fb = RecordingFeedback()
    with pytest.raises(DiskFull) as e:
        map_from_training_areas(_request(city, out), fb)
    assert Path(e.value.path).name == name and "\n" not in str(e.value)
    assert any(m.startswith("4/5") for m in fb.messages)
    assert sha256s(out) == before


def test_sigterm_during_the_bootstrap_keeps_every_earlier_output(city, tmp_path):
    out = tmp_path / "out"
    before = _earlier(out)
    cmd = [sys.executable, "-m", "lcz_qgis", "map-from-areas", "--areas", str(city / "areas.gpkg"),
           "--sentinel2", str(city / "scene_s2.tif"), "--splits", "400", "--trees", "50"]  # fmt: skip
    for key, name in OUTPUTS.items():
        cmd += [f"--{key.replace('_', '-')}", str(out / name)]
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.monotonic()
        # step 1 stages the suspicious layer: then the bootstrap starts
        while not list(out.glob(f"s.gpkg{PARTIAL}*")):
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() - t0 < 180, "step 1 never staged the suspicious layer"
            time.sleep(0.05)
        time.sleep(2.0)
        assert proc.poll() is None, "the run ended before it could be stopped"
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=120)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (130, 143), err
    assert "no output was written" in err and "Traceback" not in err
    assert sha256s(out) == before


# -- every option checked before step 1 --------------------------------------------------------


@pytest.mark.parametrize(
    "option, value, words",
    [("trees", 0, "trees"), ("trees", -5, "trees"), ("trees", 2.5, "trees"),
     ("seed", -1, "seed"), ("epochs", 0, "epochs"), ("n_splits", 1, "splits"),
     ("resolution", 15, "resolution"), ("resolution", 5, "resolution"),
     ("resolution", 1e9, "resolution"), ("resolution", float("nan"), "resolution"),
     ("filter", "blur", "filter"), ("scale", "bogus", "scale"),
     ("model_output", "m.h5", ".lczmodel"), ("suspicious", "s.shp", ".gpkg")],
)  # fmt: skip
def test_each_bad_option_is_refused_before_step_1(city, tmp_path, monkeypatch, option, value,
                                                  words):  # fmt: skip
    import lcz_qgis.training_areas.patches as patches

    def step_1(*args, **kwargs):
        raise AssertionError("step 1 started")

    monkeypatch.setattr(patches, "training_area_patches", step_1)
    out = tmp_path / "out"
    before = _earlier(out)
    if option in ("model_output", "suspicious"):
        value = str(out / value)
    fb = RecordingFeedback()
    with pytest.raises(LczError) as e:
        map_from_training_areas(_request(city, out, **{option: value}), fb)
    assert words in str(e.value).lower(), e.value
    assert not fb.messages and not fb.percents
    assert sha256s(out) == before


@pytest.mark.parametrize("flag, value", [("--trees", "0"), ("--trees", "-5"), ("--seed", "-1"),
                                         ("--resolution", "15"), ("--resolution", "nan")])  # fmt: skip
def test_the_cli_refuses_bad_options_in_one_line_before_any_work(city, tmp_path, capsys, flag,
                                                                 value):  # fmt: skip
    out = tmp_path / "out"
    before = _earlier(out)
    t0 = time.monotonic()
    rc = main(["map-from-areas", "--areas", str(city / "areas.gpkg"), "--sentinel2",
               str(city / "scene_s2.tif"), "--output", str(out / "lcz.tif"),
               "--suspicious", str(out / "s.gpkg"), flag, value])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and flag in err and "Traceback" not in err, err
    assert len([line for line in err.splitlines() if line.strip()]) == 1, err
    assert time.monotonic() - t0 < 10
    assert sha256s(out) == before


# -- classes ------------------------------------------------------------------------------------


@pytest.mark.parametrize("classes", [(3,), (3, 5)])  # one class; a second of one polygon
def test_too_few_classes_to_score_are_refused(city, tmp_path, classes):
    names = ["forest_a", "forest_b", "plants_b", "plants_c", "water_a", "water_b"]
    areas = {n: (classes[0], *SCENE_AREAS[n][1:]) for n in names}
    if len(classes) > 1:
        areas["open_b"] = (classes[1], *SCENE_AREAS["open_b"][1:])
    write_areas_file(tmp_path / "one.gpkg", areas)
    out = tmp_path / "out"
    before = _earlier(out)
    req = _request(city, out, areas=str(tmp_path / "one.gpkg"))
    with pytest.raises(LczError, match="at least two LCZ classes with two or more training areas"):
        map_from_training_areas(req, RecordingFeedback())
    assert sha256s(out) == before


# -- a full disk in step 1 ----------------------------------------------------------------------


def test_a_full_disk_writing_the_suspicious_layer_is_one_line(city, tmp_path, small_disk):
    from lcz_qgis.training_areas import training_area_patches

    (small_disk / "s.gpkg").write_bytes(b"earlier layer")
    (small_disk / "s.qml").write_bytes(b"earlier style")
    free = shutil.disk_usage(small_disk).free
    (small_disk / "filler").write_bytes(b"\0" * (free - 8192))
    before = sha256s(small_disk)
    with pytest.raises(DiskFull) as e:
        training_area_patches(city / "areas.gpkg", city / "scene_s2.tif", tmp_path / "p.h5",
                              suspicious=small_disk / "s.gpkg")  # fmt: skip
    assert str(e.value).startswith(f"no space left on device while writing {small_disk / 's.gpkg'}")
    assert sha256s(small_disk) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["disk"]


# -- calibrate writes .lczmodel files only --------------------------------------------------------


def test_calibrate_refuses_an_output_that_is_not_an_lczmodel(rf_model, sample_dir, tmp_path,
                                                             capsys):  # fmt: skip
    out = tmp_path / "cal.h5"
    rc = main(["calibrate", "--model", str(rf_model), "--dataset", str(sample_dir / "test.h5"),
               "--output", str(out)])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and ".lczmodel" in err and "cal.h5" in err and "--output" in err, err
    assert not out.exists() and list(tmp_path.iterdir()) == []
