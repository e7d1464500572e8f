"""lcz classify-many on a real in-process LocalCluster (2 worker processes, shared by the
module): byte-identical tiles, tiles of one raster = the whole raster's map, resume,
a killed worker, failures reported by name, the lock, the scheduler and disk checks."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio
from helpers import REPO
from rasterio.windows import Window

from lcz_qgis.classify.area_table import read_area_csv
from lcz_qgis.classify.pipeline import classify_raster
from lcz_qgis.cluster.run import LOCK_NAME, ManyOptions, classify_many, execute, plan_run
from lcz_qgis.cluster.tasks import attempts_dir, record_path, tile_path
from lcz_qgis.common.atomic import DiskFull
from lcz_qgis.common.errors import Cancelled, LczError
from lcz_qgis.common.feedback import Feedback
from lcz_qgis.models.modelfile import load_model

CROPS = {"north": (0, 0), "south": (0, 260), "east": (260, 0)}  # (col, row), 250 x 250 px


@pytest.fixture(scope="module")
def rasters(sample_dir, tmp_path_factory) -> dict:
    """Three 250 x 250 px crops of the sample scene, on one 100 m grid, not overlapping."""
    d = tmp_path_factory.mktemp("many_inputs")
    out = {}
    with rasterio.open(sample_dir / "scene_s2.tif") as src:
        for name, (c, r) in CROPS.items():
            win = Window(c, r, 250, 250)
            prof = {**src.profile, "width": 250, "height": 250,
                    "transform": src.window_transform(win)}  # fmt: skip
            with rasterio.open(d / f"{name}.tif", "w", **prof) as dst:
                dst.write(src.read(window=win))
            out[name] = d / f"{name}.tif"
    (d / "list.txt").write_text("# three cities\n" + "".join(f"{n}.tif\n" for n in out))
    return out


@pytest.fixture(scope="module")
def reference(rasters, rf_model, tmp_path_factory) -> dict:
    """``lcz classify`` (classify_raster, this process) of each raster."""
    d = tmp_path_factory.mktemp("many_ref")
    model = load_model(rf_model)
    return {n: classify_raster(model, d / f"{n}.tif", p) for n, p in rasters.items()}


def _opts(address, **kw) -> ManyOptions:
    return ManyOptions(scheduler=address, **kw)


def _read(path):
    with rasterio.open(path) as ds:
        return ds.read(1), ds.transform, ds.crs


def test_tiles_are_byte_identical_to_classify_and_a_rerun_skips_them(
    cluster, rasters, reference, rf_model, tmp_path
):
    out = tmp_path / "out"
    rep = classify_many(rasters["north"].parent / "list.txt", rf_model, out, _opts(cluster))
    assert (rep.count("done"), rep.count("failed")) == (3, 0)
    for name, ref in reference.items():
        assert tile_path(out, name).read_bytes() == ref.output.read_bytes(), name
        assert (out / "tiles" / f"{name}.qml").exists()
    # the area table sums the tiles' integer counts
    counts = np.sum([r.counts for r in reference.values()], axis=0)
    rows = read_area_csv(out / "area_table.csv")
    assert [r["cells"] for r in rows] == counts[1:].tolist()
    assert rep.area_from == "records"
    # the mosaic holds every tile where it lies
    mosaic, t, crs = _read(out / "mosaic.vrt")
    north, tn, _ = _read(reference["north"].output)
    assert (t.c, t.f, t.a) == (tn.c, tn.f, tn.a) and crs.to_epsg() == 32632
    assert np.array_equal(mosaic[: north.shape[0], : north.shape[1]], north)
    assert np.bincount(mosaic.ravel(), minlength=18)[1:].tolist() == counts[1:].tolist()
    report = json.loads((out / "run_report.json").read_text())
    assert report["done"] == 3 and report["tasks"][0]["seconds"] > 0
    # resume: nothing to redo, records untouched
    stamps = {n: record_path(out, n).stat().st_mtime_ns for n in rasters}
    again = classify_many(rasters["north"].parent / "list.txt", rf_model, out, _opts(cluster))
    assert (again.count("skipped"), again.count("done")) == (3, 0)
    assert stamps == {n: record_path(out, n).stat().st_mtime_ns for n in rasters}


@pytest.fixture(scope="module")
def mlp_model(sample_dir, tmp_path_factory) -> Path:
    """A small Keras MLP trained for one epoch on the sample data."""
    pytest.importorskip("tensorflow")
    from lcz_qgis.training.keras_training import train_keras

    out = tmp_path_factory.mktemp("many_mlp") / "mlp.lczmodel"
    train_keras(sample_dir / "train.h5", out, "mlp", "sen2", list(range(10)), epochs=1,
                batch_size=64, early_stopping=0, seed=0)  # fmt: skip
    return out


@pytest.mark.tf
def test_a_keras_model_s_tiles_are_byte_identical_to_classify_and_load_once_per_worker(
    cluster, rasters, mlp_model, tmp_path
):
    model = load_model(mlp_model)
    ref = {n: classify_raster(model, tmp_path / f"ref_{n}.tif", p) for n, p in rasters.items()}
    out = tmp_path / "keras"
    rep = classify_many(rasters["north"].parent / "list.txt", mlp_model, out, _opts(cluster))
    assert (rep.count("done"), rep.count("failed")) == (3, 0)
    for name, r in ref.items():
        assert tile_path(out, name).read_bytes() == r.output.read_bytes(), name
    assert len(np.unique(_read(ref["north"].output)[0])) > 1  # a map, not one class
    # the workers loaded the model before the first task; no task loaded it again
    assert rep.load_s > 0 and rep.workers == 2
    assert all(t["load_seconds"] < 0.05 for t in rep.tasks), rep.tasks
    report = json.loads((out / "run_report.json").read_text())
    assert report["worker_load_s"] == round(rep.load_s, 3)


@pytest.mark.tf
def test_a_keras_model_s_tiles_mosaic_to_the_whole_raster_map(cluster, sample_dir, mlp_model,
                                                              tmp_path):  # fmt: skip
    scene = sample_dir / "scene_s2.tif"
    whole = classify_raster(load_model(mlp_model), tmp_path / "whole.tif", scene)
    out = tmp_path / "tiled"
    rep = classify_many(scene, mlp_model, out, _opts(cluster, tile_size=25))
    assert rep.count("done") == 4
    m, t, _ = _read(out / "mosaic.vrt")
    w, tw, _ = _read(whole.output)
    assert t == tw and np.array_equal(m, w)


def test_a_local_cluster_caps_each_worker_s_threads_before_it_starts(tmp_path):
    from lcz_qgis.cluster.client import start_client

    os.environ["MALLOC_TRIM_THRESHOLD_"] = "65536"  # as an earlier Dask cluster leaves it
    client, cluster = start_client("local", 1, 1)
    try:
        env = next(iter(client.run(lambda: dict(os.environ)).values()))
        profiler = client.run(lambda: __import__("dask").config.get("distributed.worker.profile"))
    finally:
        client.close()
        cluster.close()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "GDAL_NUM_THREADS",
                "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):  # fmt: skip
        assert env.get(var) == "1", var
    assert env.get("TF_DETERMINISTIC_OPS") == "1"
    assert "MALLOC_TRIM_THRESHOLD_" not in env  # glibc's own malloc tuning: no mmap per array
    assert [p["enabled"] for p in profiler.values()] == [False]  # no stack sampling


def test_tiles_of_one_raster_mosaic_to_the_whole_raster_map_with_the_gaussian_filter(
    cluster, sample_dir, rf_model, tmp_path
):
    scene = sample_dir / "scene_s2.tif"
    whole = classify_raster(load_model(rf_model), tmp_path / "whole.tif", scene,
                            filter="gaussian")  # fmt: skip
    out = tmp_path / "tiled"
    rep = classify_many(scene, rf_model, out,
                        _opts(cluster, tile_size=17, filter="gaussian", cog=True))  # fmt: skip
    assert rep.count("done") == 9
    m, t, _ = _read(out / "mosaic.vrt")
    w, tw, _ = _read(whole.output)
    assert t == tw and np.array_equal(m, w)  # cell for cell, halos included
    cog, tc, _ = _read(out / "mosaic.tif")
    assert tc == tw and np.array_equal(cog, w)
    rows = read_area_csv(out / "area_table.csv")
    assert [r["cells"] for r in rows] == whole.counts[1:]


def test_a_killed_worker_task_is_redone_and_the_output_is_identical(
    cluster, rasters, reference, rf_model, tmp_path
):
    out = tmp_path / "killed"
    box = {}
    run = threading.Thread(target=lambda: box.update(rep=classify_many(
        rasters["north"].parent / "list.txt", rf_model, out, _opts(cluster))))  # fmt: skip
    run.start()
    deadline = time.monotonic() + 60
    note = None
    while note is None and time.monotonic() < deadline:
        notes = list(attempts_dir(out, "south").glob("*.json"))
        note = json.loads(notes[0].read_text()) if notes else None
        time.sleep(0.02)
    assert note is not None, "the task never started"
    os.kill(note["pid"], signal.SIGKILL)  # the worker process dies mid-task
    run.join(120)
    rep = box["rep"]
    assert rep.count("done") == 3 and rep.count("failed") == 0
    south = next(t for t in rep.tasks if t["name"] == "south")
    assert south["attempts"] >= 2 and south["pid"] != note["pid"]
    for name, ref in reference.items():
        assert tile_path(out, name).read_bytes() == ref.output.read_bytes(), name


class _CancelAfterOne(Feedback):
    def __init__(self):
        self.cancel = False

    def progress(self, percent):
        self.cancel = self.cancel or percent > 0

    def is_cancelled(self):
        return self.cancel


def test_a_run_resumes_after_a_cancelled_run_and_takes_over_a_dead_run_s_lock(
    cluster, rasters, rf_model, tmp_path
):
    out = tmp_path / "resume"
    src = rasters["north"].parent / "list.txt"
    opts = _opts(cluster, tile_size=11)  # 27 tasks: only a few are in flight at a cancel
    total = len(plan_run(src, rf_model, tmp_path / "plan", opts)[0])
    with pytest.raises(Cancelled):
        classify_many(src, rf_model, out, opts, _CancelAfterOne())
    time.sleep(1)  # tasks already running when it cancelled finish on their own
    finished = {p.stem for p in (out / "done").glob("*.json")}
    assert total == 27 and 1 <= len(finished) < total
    # the killed run's lock: its process is gone
    dead = subprocess.Popen(["true"])
    dead.wait()
    (out / LOCK_NAME).write_text(json.dumps({"host": os.uname().nodename, "pid": dead.pid}))
    rep = classify_many(src, rf_model, out, opts)
    assert rep.count("skipped") == len(finished) and rep.count("done") == total - len(finished)
    assert not (out / LOCK_NAME).exists()


def test_a_task_whose_input_is_missing_is_reported_by_name_and_the_others_finish(
    cluster, rasters, rf_model, tmp_path
):
    lost = tmp_path / "lost.tif"
    lost.write_bytes(rasters["east"].read_bytes())
    opts = _opts(cluster, retries=1)
    tasks, job = plan_run([rasters["north"], lost], rf_model, tmp_path / "out", opts)
    lost.unlink()  # seen when planning, gone on the workers
    rep = execute(tasks, job, opts)
    failed = [t for t in rep.tasks if t["status"] == "failed"]
    assert [t["name"] for t in failed] == ["lost"] and failed[0]["attempts"] == 2
    assert "lost.tif' does not exist on worker" in failed[0]["error"]
    assert "failed: lost:" in rep.summary()
    assert tile_path(tmp_path / "out", "north").exists()


def test_a_second_run_into_the_same_folder_is_refused(rasters, rf_model, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / LOCK_NAME).write_text(json.dumps({"host": os.uname().nodename, "pid": os.getpid()}))
    with pytest.raises(LczError, match="in use by another classify-many run"):
        classify_many(rasters["north"], rf_model, out, ManyOptions())


def test_a_full_disk_is_refused_before_any_task(rasters, rf_model, tmp_path, monkeypatch):
    import lcz_qgis.cluster.run as run

    monkeypatch.setattr(run, "free_bytes", lambda path: 100)
    with pytest.raises(DiskFull):
        classify_many(rasters["north"], rf_model, tmp_path / "full", ManyOptions())
    assert not (tmp_path / "full" / "tiles").exists()


def test_an_unreachable_scheduler_is_a_clear_error_within_seconds(rasters, rf_model, tmp_path):
    t0 = time.monotonic()
    with pytest.raises(LczError, match="cannot reach the Dask scheduler"):
        classify_many(rasters["north"], rf_model, tmp_path / "o",
                      ManyOptions(scheduler="tcp://127.0.0.1:9", connect_timeout=2))  # fmt: skip
    assert time.monotonic() - t0 < 10


def test_loading_the_commands_and_lcz_help_import_no_dask():
    code = (
        "import sys, contextlib, io\n"
        "from lcz_qgis.commands import all_commands\n"
        "from lcz_qgis.cli import main\n"
        "all_commands()\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--help'])\n"
        "    main(['classify-many', '--help'])\n"
        "print(sorted(m for m in ('dask', 'distributed') if m in sys.modules))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=120)  # fmt: skip
    assert res.stdout.strip().splitlines()[-1] == "[]", res.stderr[-2000:]


@pytest.mark.qgis
def test_the_processing_algorithm_runs_a_local_cluster(run_alg, rasters, reference, rf_model,
                                                        tmp_path):  # fmt: skip
    res = run_alg("lcz:classifymany", {"INPUTS": str(rasters["north"]), "MODEL": str(rf_model),
                                       "WORKERS": 1, "OUTPUT_FOLDER": str(tmp_path / "q")})  # fmt: skip
    assert res["FAILED"] == 0 and Path(res["MOSAIC"]).exists()
    assert tile_path(tmp_path / "q", "north").read_bytes() == reference["north"].output.read_bytes()
