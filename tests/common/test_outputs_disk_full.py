"""Nothing lost when the disk fills or the run is killed (lcz_qgis.common.atomic, every writer).

A full disk is made real where the tests run as root: a small tmpfs is mounted in the
test's folder and filled up to a chosen number of free bytes, so GDAL, matplotlib and
Python fail exactly as they would on a full disk (skipped where mount is not permitted).
The other tests simulate ENOSPC at the point where bytes are written. After every
failure the earlier outputs are byte-identical (sha256 of every file of the folder),
no file appeared and no temporary is left, and the error is one line.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import make_safe, mounted_tmpfs, write_so2sat

from lcz_qgis import load_model
from lcz_qgis.classify.pipeline import classify_raster
from lcz_qgis.cli import main as lcz_main
from lcz_qgis.common.atomic import PARTIAL, DiskFull, StagedOutputs, hold_interrupt
from lcz_qgis.common.errors import LczError
from lcz_qgis.common.feedback import RecordingFeedback
from lcz_qgis.evaluation.evaluate import evaluate_to_files
from lcz_qgis.patches.load import load_patches
from lcz_qgis.sentinel.prepare_s2 import prepare_sentinel2

REPO = Path(__file__).resolve().parents[2]
PAGE = 4096  # tmpfs counts whole pages
STRIDE_OLD, STRIDE_NEW = 20, 16  # the earlier run and the rerun (other outputs)
FULL = re.compile(
    r"^no space left on device while writing (\S+) \(needs (about|more than) \d+ MB\)$"
)


def sha256s(folder: Path) -> dict:
    """{name: sha256} of every file in ``folder`` (and below)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def pages(folder: Path, exclude=()) -> int:
    """Bytes the files of ``folder`` take on a tmpfs (whole pages)."""
    return sum(
        -(-p.stat().st_size // PAGE) * PAGE
        for p in folder.rglob("*")
        if p.is_file() and p.name not in exclude
    )


def free(folder: Path) -> int:
    return shutil.disk_usage(folder).free


def assert_one_line_full(exc: BaseException, name) -> None:
    """One line saying the disk is full while writing ``name`` (or one of ``name``s)."""
    msg = str(exc)
    assert "\n" not in msg
    m = FULL.match(msg)
    assert m, msg
    names = [name] if isinstance(name, str) else list(name)
    assert Path(m.group(1)).name in names, msg


class Disk(type(Path())):
    """The mount point of a small tmpfs."""

    def fill(self, n_free: int) -> None:
        """Write a filler file so that about ``n_free`` bytes (whole pages) stay free."""
        size = max(0, free(self) - n_free) // PAGE * PAGE
        with open(self / "zz_filler", "ab") as f:
            f.write(b"\0" * size)
        assert abs(free(self) - n_free) <= PAGE, (free(self), n_free)


@pytest.fixture()
def small_disk(tmp_path):
    """A 48 MiB tmpfs mounted at ``tmp_path/disk``; ``fill(n)`` leaves n bytes free."""
    disk = Disk(tmp_path / "disk")
    disk.mkdir()
    with mounted_tmpfs(disk, "48m"):
        yield disk


# -- classify --------------------------------------------------------------------------------


def _classify(rf, s2, folder, stride, **kw):
    outs = dict(
        confidence=folder / "conf.tif",
        probabilities=folder / "proba.tif",
        area_table=folder / "area.csv",
        map_image=folder / "map.png",
    )
    return classify_raster(rf, folder / "map.tif", sentinel2=s2, stride=stride, **outs, **kw)


@pytest.fixture(scope="module")
def rf(rf_model):
    return load_model(rf_model)


@pytest.mark.parametrize("late", ["proba.tif", "map.png"])
def test_classify_disk_full_late_keeps_every_earlier_output(
    rf, sample_dir, small_disk, tmp_path, late, capsys
):
    s2 = sample_dir / "scene_s2.tif"
    probe = tmp_path / "probe"  # what the second run writes, on an ordinary disk
    probe.mkdir()
    _classify(rf, s2, probe, stride=STRIDE_NEW)
    _classify(rf, s2, small_disk, stride=STRIDE_OLD)  # the earlier outputs
    assert {p.name for p in small_disk.iterdir()} == {p.name for p in probe.iterdir()}
    assert (small_disk / "map.tif.aux.xml").exists()  # GDAL's sidecar is an output too
    # room for every file of the second run written before `late`, and half of `late`
    order = ["map.tif", "map.tif.aux.xml", "conf.tif", "proba.tif", "map.qml", "conf.qml"]
    order += ["proba.qml", "area.csv", "map.png"]
    before_late = order[: order.index(late)]
    room = sum(pages(probe) - pages(probe, exclude=[n]) for n in before_late)
    room += (pages(probe) - pages(probe, exclude=[late])) // 2 // PAGE * PAGE
    small_disk.fill(room)
    before = sha256s(small_disk)
    with pytest.raises(LczError) as e:
        _classify(rf, s2, small_disk, stride=STRIDE_NEW)
    assert isinstance(e.value, DiskFull)
    # the disk fills at `late` or, where GDAL writes `late` sparsely (GDAL 3.10: blocks
    # of zeros left unallocated until the end), at a file written after it
    assert_one_line_full(e.value, order[order.index(late) :])
    assert sha256s(small_disk) == before  # same bytes; no new file, no temporary

    # the CLI: the same one line, exit 2
    code = lcz_main(["classify", "--model", str(rf.path), "--sentinel2", str(s2),
                     "--stride", str(STRIDE_NEW), "--output", str(small_disk / "map.tif"),
                     "--confidence", str(small_disk / "conf.tif"),
                     "--probabilities", str(small_disk / "proba.tif"),
                     "--area-table", str(small_disk / "area.csv"),
                     "--map-image", str(small_disk / "map.png")])  # fmt: skip
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "Exception ignored" not in err
    *others, last = err.strip().splitlines()
    assert not [x for x in others if "error" in x.lower() or x.startswith("Warning")], err
    assert last.startswith("lcz classify: error: no space left on device while writing "), err
    assert FULL.match(last.removeprefix("lcz classify: error: "))
    assert sha256s(small_disk) == before


def test_classify_gaussian_disk_full_early_and_late(
    rf, sample_dir, small_disk, tmp_path, monkeypatch, capsys
):
    s2 = sample_dir / "scene_s2.tif"
    probe = tmp_path / "probe"
    probe.mkdir()
    res = _classify(rf, s2, probe, stride=STRIDE_NEW, filter="gaussian")
    cells = res.grid.rows * res.grid.cols
    temp = cells * 17 * 4  # the filter's uncompressed probabilities
    _classify(rf, s2, small_disk, stride=STRIDE_OLD, filter="gaussian")

    # early: the temporary surely does not fit -> refused before any input pixel is read
    small_disk.fill(temp // 2)
    before = sha256s(small_disk)
    import lcz_qgis.classify.pipeline as classify_module

    def no_reading(*a, **k):
        raise AssertionError("the input was read")

    with monkeypatch.context() as m:
        m.setattr(classify_module, "detect_scale", no_reading)
        with pytest.raises(DiskFull) as e:
            _classify(rf, s2, small_disk, stride=STRIDE_NEW, filter="gaussian")
    assert_one_line_full(e.value, "map.tif")
    assert f"needs about {-(-temp // 10**6)} MB" in str(e.value) or temp < 10**6
    assert sha256s(small_disk) == before

    # late: the temporary fits, the outputs written after it do not
    (small_disk / "zz_filler").unlink()
    outputs = pages(probe)
    room = max(temp + 4 * PAGE, outputs - (pages(probe) - pages(probe, exclude=["map.png"])) // 2)
    assert room < outputs  # (the test's own premise)
    small_disk.fill(room // PAGE * PAGE)
    before = sha256s(small_disk)
    with pytest.raises(DiskFull) as e:
        _classify(rf, s2, small_disk, stride=STRIDE_NEW, filter="gaussian")
    assert "\n" not in str(e.value) and FULL.match(str(e.value))
    assert sha256s(small_disk) == before
    assert "Exception ignored" not in capsys.readouterr().err  # no GDAL noise either


def test_classify_simulated_full_disk_without_root(rf, sample_dir, tmp_path, monkeypatch):
    """ENOSPC where the last output's bytes are written (matplotlib), and a GDAL write
    failure that does not say why while the disk is full: nothing replaced."""
    s2 = sample_dir / "scene_s2.tif"
    _classify(rf, s2, tmp_path, stride=STRIDE_OLD, confidence_format="byte")
    before = sha256s(tmp_path)
    import matplotlib.figure

    def full_savefig(self, fname, *a, **k):
        with open(fname, "wb") as f:
            f.write(b"\x89PNG partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(fname))

    with monkeypatch.context() as m:
        m.setattr(matplotlib.figure.Figure, "savefig", full_savefig)
        with pytest.raises(DiskFull) as e:
            _classify(rf, s2, tmp_path, stride=STRIDE_NEW)
    assert_one_line_full(e.value, "map.png")
    assert sha256s(tmp_path) == before

    from lcz_qgis.classify.outputs import OutputWriters

    real_close = OutputWriters.close

    def failing_close(self):
        real_close(self)
        raise RuntimeError(f"{tmp_path}/proba.tif{PARTIAL}x.tif: WriteEncodedTile/Strip() failed.")

    usage = type("Usage", (), {"total": 10**9, "used": 10**9, "free": 1000})
    with monkeypatch.context() as m:
        m.setattr(OutputWriters, "close", failing_close)
        m.setattr(shutil, "disk_usage", lambda p: usage)
        with pytest.raises(DiskFull) as e:
            _classify(rf, s2, tmp_path, stride=STRIDE_NEW)
    assert_one_line_full(e.value, "proba.tif")
    assert sha256s(tmp_path) == before


# -- evaluate, prepare-s2, patches ------------------------------------------------------------


def _evaluate(rf_model, dataset, folder):
    return evaluate_to_files(
        rf_model,
        dataset,
        output_json=folder / "scores.json",
        csv_path=folder / "scores.csv",
        report=folder / "report.html",
        confusion_png=folder / "confusion.png",
    )


def test_evaluate_disk_full_keeps_the_earlier_json(rf_model, sample_dir, small_disk, tmp_path):
    probe = tmp_path / "probe"
    probe.mkdir()
    _evaluate(rf_model, sample_dir / "test.h5", probe)
    _evaluate(rf_model, sample_dir / "train.h5", small_disk)  # other scores
    # room for the JSON and CSV of the new run, and half its report
    room = pages(probe) - pages(probe, exclude=["scores.json", "scores.csv"])
    room += (pages(probe) - pages(probe, exclude=["report.html"])) // 2 // PAGE * PAGE
    small_disk.fill(room)
    before = sha256s(small_disk)
    with pytest.raises(DiskFull) as e:
        _evaluate(rf_model, sample_dir / "test.h5", small_disk)
    assert_one_line_full(e.value, "report.html")
    assert sha256s(small_disk) == before


def test_evaluate_simulated_full_disk_without_root(rf_model, sample_dir, tmp_path, monkeypatch):
    _evaluate(rf_model, sample_dir / "train.h5", tmp_path)
    before = sha256s(tmp_path)
    real = Path.write_bytes

    def full(self, data):  # the last output, the PNG: half of it, then ENOSPC
        if self.name.startswith("confusion.png"):
            real(self, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, data)

    monkeypatch.setattr(Path, "write_bytes", full)
    with pytest.raises(DiskFull) as e:
        _evaluate(rf_model, sample_dir / "test.h5", tmp_path)
    assert_one_line_full(e.value, "confusion.png")
    assert sha256s(tmp_path) == before


def test_prepare_s2_disk_full_keeps_the_earlier_stack(small_disk, tmp_path):
    safe_a = make_safe(tmp_path / "a", size10=256, seed=0)
    safe_b = make_safe(tmp_path / "b", size10=256, seed=1)
    probe = tmp_path / "probe"
    probe.mkdir()
    prepare_sentinel2(safe_b, probe / "s2.tif")
    prepare_sentinel2(safe_a, small_disk / "s2.tif")
    small_disk.fill(pages(probe) // 2 // PAGE * PAGE)
    before = sha256s(small_disk)
    with pytest.raises(DiskFull) as e:
        prepare_sentinel2(safe_b, small_disk / "s2.tif")
    assert_one_line_full(e.value, "s2.tif")
    assert sha256s(small_disk) == before


@pytest.mark.parametrize("per_patch", [False, True])
def test_patches_disk_full_keeps_the_earlier_files(small_disk, tmp_path, per_patch):
    write_so2sat(tmp_path / "img.h5", 60, seed=0)
    (tmp_path / "other").mkdir()
    write_so2sat(tmp_path / "other" / "img.h5", 60, seed=5)
    kw = dict(indices="0-59", per_patch_files=per_patch)
    probe = tmp_path / "probe"
    load_patches(tmp_path / "other" / "img.h5", probe, output_patches=probe / "o.gpkg", **kw)
    out = small_disk / "patches"
    load_patches(tmp_path / "img.h5", out, output_patches=out / "o.gpkg", **kw)
    # room for all but half of the outlines GeoPackage (written last)
    gpkg = pages(probe) - pages(probe, exclude=["o.gpkg"])
    small_disk.fill(pages(probe) - gpkg // 2 - gpkg // 4)
    before = sha256s(small_disk)
    with pytest.raises(DiskFull) as e:
        load_patches(tmp_path / "other" / "img.h5", out, output_patches=out / "o.gpkg", **kw)
    assert "\n" not in str(e.value) and FULL.match(str(e.value))
    assert sha256s(small_disk) == before


# -- killed runs, leftovers -------------------------------------------------------------------


def test_sigterm_during_classify_removes_its_temporaries(rf_model, sample_dir, tmp_path):
    s2 = sample_dir / "scene_s2.tif"
    rf = load_model(rf_model)
    _classify(rf, s2, tmp_path, stride=STRIDE_OLD, filter="gaussian")  # the earlier outputs
    before = sha256s(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    # stride 1: about 230 000 windows, many seconds of work
    cmd = [sys.executable, "-m", "lcz_qgis", "classify", "--model", str(rf_model),
           "--sentinel2", str(s2), "--stride", "1", "--filter", "gaussian",
           "--output", str(tmp_path / "map.tif"), "--confidence", str(tmp_path / "conf.tif"),
           "--probabilities", str(tmp_path / "proba.tif"),
           "--area-table", str(tmp_path / "area.csv"), "--map-image", str(tmp_path / "map.png")]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stderr=subprocess.PIPE, text=True)
    try:
        t0 = time.monotonic()
        while not [p for p in tmp_path.iterdir() if PARTIAL in p.name]:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() - t0 < 120, "the run wrote no temporary file"
            time.sleep(0.05)
        time.sleep(0.5)  # mid-run: predicting into the temporaries
        assert proc.poll() is None, "the run ended before it could be killed"
        proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=120)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode in (130, 143), err
    assert "lcz classify: cancelled; no output was written" in err
    assert "Traceback" not in err
    assert sha256s(tmp_path) == before  # no temporary, earlier outputs intact


def test_a_later_run_removes_only_its_own_stale_temporaries(rf, sample_dir, tmp_path):
    s2 = sample_dir / "scene_s2.tif"
    old = time.time() - 3600
    stale = [
        tmp_path / f"map.tif{PARTIAL}dead01.tif",  # a killed run's map
        tmp_path / f"map.tif{PARTIAL}dead01.tif.aux.xml",
        tmp_path / f"map.tif{PARTIAL}dead02.tif",  # its filter's probabilities
        tmp_path / f"area.csv{PARTIAL}dead03.csv",
    ]
    kept = [
        tmp_path / f"other.tif{PARTIAL}dead04.tif",  # another output's: not this run's
        tmp_path / f"map.tiff{PARTIAL}dead05.tiff",
        tmp_path / f"map.tif{PARTIAL}live06.tif",  # newer than the run's start
    ]
    for p in stale + kept:
        p.write_bytes(b"left over")
        os.utime(p, (old, old))
    future = time.time() + 3600
    os.utime(kept[-1], (future, future))
    classify_raster(rf, tmp_path / "map.tif", sentinel2=s2, stride=STRIDE_OLD, filter="majority",
                    area_table=tmp_path / "area.csv")  # fmt: skip
    assert not any(p.exists() for p in stale)
    assert all(p.read_bytes() == b"left over" for p in kept)
    names = {p.name for p in tmp_path.iterdir()} - {p.name for p in kept}
    assert names == {"map.tif", "map.tif.aux.xml", "map.qml", "area.csv"}


def test_temporaries_are_named_after_their_output(tmp_path):
    st = StagedOutputs()
    t = st.temp(tmp_path / "map.tif")
    s = st.scratch(tmp_path / "map.tif")
    for p in (t, s):
        assert p.name.startswith(f"map.tif{PARTIAL}") and p.suffix == ".tif"
        assert not p.name.startswith(".")
    st.write_text(tmp_path / "area.csv", "x")
    st.discard()
    assert list(tmp_path.iterdir()) == []


def test_sigterm_while_outputs_move_in_is_held_back(tmp_path):
    from lcz_qgis.common.atomic import terminate_like_interrupt

    old = signal.signal(signal.SIGTERM, terminate_like_interrupt)
    fb = RecordingFeedback()
    try:
        st = StagedOutputs()
        st.write_text(tmp_path / "a.txt", "new")
        with hold_interrupt(fb):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
            st.commit()
        assert signal.getsignal(signal.SIGTERM) is terminate_like_interrupt
    finally:
        signal.signal(signal.SIGTERM, old)
    assert (tmp_path / "a.txt").read_text() == "new"
    assert fb.warnings and "the run completed" in fb.warnings[0]


def test_a_stale_aux_xml_goes_with_the_raster_it_described(tmp_path):
    (tmp_path / "x.tif").write_bytes(b"old raster")
    (tmp_path / "x.tif.aux.xml").write_text("<PAMDataset>old stats</PAMDataset>")
    st = StagedOutputs()
    st.temp(tmp_path / "x.tif").write_bytes(b"new raster")  # GDAL wrote no .aux.xml
    st.commit()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.tif"]


def test_no_space_before_the_run_is_refused(tmp_path, monkeypatch):
    st = StagedOutputs()
    st.expect(tmp_path / "map.tif", 5 * 10**6, surely=3 * 10**6)
    usage = type("Usage", (), {"total": 10**9, "used": 10**9, "free": 10**6})
    monkeypatch.setattr(shutil, "disk_usage", lambda p: usage)
    with pytest.raises(DiskFull, match=r"writing .*map.tif \(needs about 5 MB\)$"):
        st.check_space()
