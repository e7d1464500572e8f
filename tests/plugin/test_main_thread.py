"""QGIS's main thread while the plugin's work runs (issue 24: 9): the algorithms and the
shipped graphical models run in a ``QgsProcessingAlgRunnerTask`` (a worker thread, as the
dialog runs them) and report progress during each long step, not only at its end; a
raster writer's dirty blocks are written with the GIL released before rasterio closes
it (rasterio's ``close`` holds the GIL while GDAL writes them: QGIS froze for seconds).
Timings are measured by ``benchmarks/bench_main_thread.py``, not here."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import rasterio
from helpers import make_safe, write_areas_file

from lcz_qgis.raster.io import classifier_input_options, close_raster, create_geotiff, gdal

pytestmark = pytest.mark.qgis


class _Recorder:
    """A QgsProcessingFeedback that keeps (kind, value, thread) of every report (built on
    first use, after the QGIS fixture has imported qgis)."""

    def __new__(cls, events: list):
        from qgis.core import QgsProcessingFeedback
        from qgis.PyQt.QtCore import Qt

        def keep(kind, value):
            events.append((kind, value, threading.get_ident()))

        class Recorder(QgsProcessingFeedback):
            def setProgressText(self, text):  # noqa: N802 - QGIS API
                keep("text", text)
                super().setProgressText(text)

            def pushInfo(self, info):  # noqa: N802 - QGIS API
                keep("info", info)
                super().pushInfo(info)

            def reportError(self, error, fatalError=False):  # noqa: N802,N803 - QGIS API
                keep("error", error)
                super().reportError(error, fatalError)

        fb = Recorder()
        fb.progressChanged.connect(lambda p: keep("progress", p), Qt.DirectConnection)
        return fb


def run_in_task(alg_id: str, params: dict) -> tuple[bool, dict, list]:
    """Run ``alg_id`` as the dialog does: a task in QgsApplication.taskManager(), the main
    thread in its event loop until the task has finished. (ok, results, events)."""
    from qgis.core import (
        QgsApplication,
        QgsProcessingAlgRunnerTask,
        QgsProcessingContext,
        QgsProject,
    )
    from qgis.PyQt.QtCore import QEventLoop, QTimer

    from lcz_qgis.raster.io import gdal

    cache_max = gdal().GetCacheMax()
    alg = QgsApplication.processingRegistry().createAlgorithmById(alg_id)
    assert alg is not None, alg_id
    events, outcome = [], {}
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    feedback = _Recorder(events)
    task = QgsProcessingAlgRunnerTask(alg, params, context, feedback)
    loop = QEventLoop()

    def done(ok, results):
        outcome.update(ok=ok, results=results)
        loop.quit()

    task.executed.connect(done)
    QTimer.singleShot(600_000, loop.quit)  # a hung task fails the test, not the session
    QgsApplication.taskManager().addTask(task)
    loop.exec_()
    # the task's threads trimmed GDAL's cache (closing writers flushes it): its maximum
    # is the one before the run, not a lowered one a race kept
    assert gdal().GetCacheMax() == cache_max
    return bool(outcome.get("ok")), outcome.get("results") or {}, events


def _index(events, kind: str, startswith: str) -> int:
    return next(
        i for i, (k, v, _) in enumerate(events) if k == kind and str(v).startswith(startswith)
    )


def _progress_between(events, start: int, stop: int, low: float, high: float) -> list[float]:
    """Distinct progress values strictly between ``low`` and ``high`` in events[start:stop]."""
    return sorted({v for k, v, _ in events[start:stop] if k == "progress" and low < v < high})


def test_classify_reports_the_model_load_then_progress_from_the_worker(
    qgis_app, sample_dir, rf_model, tmp_path
):
    ok, res, events = run_in_task("lcz:classifyraster", {
        "MODEL": str(rf_model), "SENTINEL2": str(sample_dir / "scene_s2.tif"),
        "RESOLUTION": 40, "FILTER": 1, "OUTPUT": str(tmp_path / "map.tif")})  # fmt: skip
    assert ok, [v for k, v, _ in events if k == "error"]
    assert res["OUTPUT"] == str(tmp_path / "map.tif")
    # the model file's loading is announced before it starts (the first load imports
    # scikit-learn: seconds of silence otherwise), then what was loaded
    loading = _index(events, "info", "loading the model file rf.lczmodel")
    assert loading < _index(events, "info", "model: random forest")
    # progress while the windows are classified, from the task's thread, not the main one
    end = _index(events, "info", str(tmp_path / "map.tif"))
    assert len(_progress_between(events, loading, end, 0, 100)) >= 5
    workers = {t for k, _, t in events if k == "progress"}
    assert threading.get_ident() not in workers


def test_the_sentinel2_model_reports_progress_during_each_step(qgis_app, rf_model, tmp_path):
    """Both steps (prepare 0-50 %, classify 50-100 % of the model) report progress before
    the step is over: the preparation before the classification starts, the
    classification before its closing line."""
    safe = make_safe(tmp_path / "safe", size10=256)
    out = tmp_path / "lcz.tif"
    ok, res, events = run_in_task("lcz:sentinel2_to_lcz_map", {
        "PRODUCT": str(safe), "MODEL": str(rf_model), "RESOLUTION": 40, "FILTER": 0,
        "classify:LCZ map": str(out)})  # fmt: skip
    assert ok, [v for k, v, _ in events if k == "error"]
    assert res["classify:LCZ map"] == str(out) and out.exists()
    classify_starts = _index(events, "info", "loading the model file")
    assert len(_progress_between(events, 0, classify_starts, 0, 50)) >= 5
    classify_ends = _index(events, "info", str(out))
    assert len(_progress_between(events, classify_starts, classify_ends, 50, 100)) >= 2


def test_map_from_training_areas_reports_each_stage_and_progress_within_it(
    qgis_app, sample_dir, tmp_path
):
    """Every stage of the workflow says what it does, and the long ones (patches,
    bootstrap, final model and map) report progress before the next stage begins."""
    areas = tmp_path / "areas.gpkg"
    write_areas_file(areas, field="lcz", epsg=32632)
    out = tmp_path / "map.tif"
    ok, res, events = run_in_task("lcz:mapfromtrainingareas", {
        "AREAS": str(areas), "FIELD": "lcz", "SENTINEL2": str(sample_dir / "scene_s2.tif"),
        "SPLITS": 3, "TREES": 10, "OUTPUT": str(out)})  # fmt: skip
    assert ok, [v for k, v, _ in events if k == "error"]
    assert res["OUTPUT"] == str(out)
    stages = [_index(events, "info", f"{n}/5 ") for n in range(1, 6)]
    assert stages == sorted(stages)
    for a, b in ((0, 1), (1, 2), (3, 4)):  # patches, bootstrap, final model + map
        start, stop = stages[a], stages[b]
        low = next((v for k, v, _ in reversed(events[:start]) if k == "progress"), 0.0)
        assert _progress_between(events, start, stop, low, 100), (a + 1, events[start:stop])


class _Closing:
    """A rasterio writer whose ``close`` notes how many bytes GDAL's block cache held."""

    def __init__(self, ds, seen: list):
        self._ds, self._seen = ds, seen

    def __getattr__(self, name):
        return getattr(self._ds, name)

    def close(self):
        self._seen.append(gdal().GetCacheUsed())
        self._ds.close()


def _write_by_strips(ds, data: np.ndarray, rows: int = 100) -> None:
    """Write ``data`` (bands, rows, columns) in strips of ``rows`` rows, across the 256-row
    tiles, as the plugin's writers do: GDAL keeps the blocks in its cache until they are
    flushed (GDAL 3.10 writes a call that covers whole tiles straight to the file)."""
    for row0 in range(0, data.shape[1], rows):
        strip = data[:, row0 : row0 + rows]
        ds.write(strip, window=((row0, row0 + strip.shape[1]), (0, data.shape[2])))


def test_close_raster_writes_the_dirty_blocks_before_rasterio_closes(tmp_path):
    """rasterio's close holds the GIL while GDAL compresses and writes the blocks left in
    its cache; close_raster has written them already (the GIL released), and the file
    holds every pixel."""
    n, bands = 512, 4
    data = np.arange(bands * n * n, dtype=np.float32).reshape(bands, n, n) % 9973
    crs = rasterio.crs.CRS.from_epsg(32632)
    path = tmp_path / "stack.tif"
    ds = create_geotiff(path, n, n, bands, "float32", (690000.0, 10.0, 0.0, 5340000.0, 0.0, -10.0),
                        crs, -9999.0, classifier_input_options(predictor=False))  # fmt: skip
    _write_by_strips(ds, data)
    assert gdal().GetCacheUsed() >= data.nbytes // 2  # dirty blocks wait in the cache
    seen: list[int] = []
    close_raster(_Closing(ds, seen))
    assert seen == [0]
    with rasterio.open(path) as r:
        np.testing.assert_array_equal(r.read(), data)


def test_a_full_disk_while_closing_keeps_the_cache_maximum(small_disk):
    """The blocks written before the close fail on a full disk: the failure is the
    close's one error, and GDAL's cache maximum is the one before (not left lowered)."""
    before = gdal().GetCacheMax()
    noise = np.random.default_rng(0).random((4, 1024, 1024), dtype=np.float32)
    ds = create_geotiff(small_disk / "big.tif", 1024, 1024, 4, "float32",
                        (690000.0, 10.0, 0.0, 5340000.0, 0.0, -10.0),
                        rasterio.crs.CRS.from_epsg(32632), -9999.0, ["TILED=YES"])  # fmt: skip
    _write_by_strips(ds, noise)  # 16 MB in GDAL's cache, for a 1 MB disk
    with pytest.raises(RuntimeError, match="big.tif"):
        close_raster(ds)
    assert gdal().GetCacheMax() == before
