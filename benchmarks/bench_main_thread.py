"""QGIS's main thread while the plugin's algorithms and graphical models run (issue 24: 9).

Each case runs in its own child process: an offscreen ``QgsApplication`` with Processing
and the plugin's provider (loaded from a link named ``lcz_mapping``, as QGIS loads it)
runs the algorithm in a ``QgsProcessingAlgRunnerTask`` through
``QgsApplication.taskManager()`` (a worker thread, as the desktop's dialog does) while the
main thread runs its event loop with a 20 ms ``QTimer``. Reported per case:

* ``max_gap_s``: the largest time between two ticks (QGIS's GUI would freeze that long),
  counting the task's constructor, which runs ``prepareAlgorithm`` on the main thread;
* ``gap_during``: the feedback message (progress text or log line) current when it began;
* ``gil_gap_s``: the largest gap of a Python thread that sleeps 5 ms in a loop (the GIL
  held by one long C call stalls it too; a main-thread stall in C++ does not);
* ``max_silence_s``: the longest time without any feedback (progress or text);
* ``seconds``: the whole run.

Raster and vector outputs are loaded into the project on completion, on the main thread
(``handleAlgorithmResults``, as the dialog does).

Cases, on the synthetic sample data (``lcz_qgis.sample_data``, a 512 x 512 px city) and a
SAFE-like Sentinel-2 product over it (``tests/helpers.make_safe``, ``SAFE_SIZE`` px a
side, ``LCZ_BENCH_MAIN_THREAD_SAFE``; no real .SAFE under ``../shared/real`` has its 10 m
bands): ``lcz:classifyraster`` with a random forest trained on the sample,
``lcz:mapfromtrainingareas`` with 64 training areas drawn inside the sample city's zones,
and the two shipped models on the SAFE-like product. ``LCZ_BENCH_MAIN_THREAD_EVENTS=FILE`` writes each run's
timeline to FILE (``FILE.0``, ``FILE.1``, ...): every feedback report and every stall over
0.5 s (``GAP``), seconds from the start. (faulthandler's periodic dumps, which would show
what held the GIL, crash the process now and then: use them by hand only.)
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .common import REPO, run_python

TITLE = "QGIS main thread while algorithms and models run (largest event-loop gap)"
TICK_MS = 20
# the SAFE-like product's side, 10 m pixels (2048: 20 km, its upper-left 5 km the sample city)
SAFE_SIZE = int(os.environ.get("LCZ_BENCH_MAIN_THREAD_SAFE", "2048"))
AREA_INSET_M = 120.0  # a training area = one 640 m zone block less this on every side


def write_areas(path: Path) -> None:
    """One square training area inside each of the sample city's 8 x 8 zones, EPSG:32632."""
    import numpy as np
    from osgeo import ogr, osr

    from lcz_qgis.sample_data import SCENE_BLOCK, SCENE_LAYOUT, SCENE_ORIGIN

    ogr.UseExceptions()
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    lyr = ds.CreateLayer("areas", srs, ogr.wkbPolygon)
    lyr.CreateField(ogr.FieldDefn("lcz", ogr.OFTInteger))
    side = SCENE_BLOCK * 10.0
    for (r, c), code in np.ndenumerate(SCENE_LAYOUT):
        x0 = SCENE_ORIGIN[0] + c * side + AREA_INSET_M
        y0 = SCENE_ORIGIN[1] - r * side - AREA_INSET_M
        x1, y1 = x0 + side - 2 * AREA_INSET_M, y0 - side + 2 * AREA_INSET_M
        ring = ogr.Geometry(ogr.wkbLinearRing)
        for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1), (x0, y0)):
            ring.AddPoint_2D(x, y)
        poly = ogr.Geometry(ogr.wkbPolygon)
        poly.AddGeometry(ring)
        f = ogr.Feature(lyr.GetLayerDefn())
        f.SetGeometry(poly)
        f.SetField("lcz", int(code))
        lyr.CreateFeature(f)
    ds = None


def prepare_inputs(work: Path) -> dict:
    """The sample data, a small forest, the training areas and a SAFE-like product."""
    sys.path.insert(0, str(REPO / "tests"))
    from helpers import make_safe

    from lcz_qgis.sample_data import write_sample_data
    from lcz_qgis.training.train import train_model

    sample = write_sample_data(work / "sample", seed=42, n_train=1200, n_test=400)
    model = work / "rf.lczmodel"
    train_model(sample["train.h5"], model, model_type="rf", sensor="sen2", seed=0)
    write_areas(work / "areas.gpkg")
    safe = make_safe(work / "safe", size10=SAFE_SIZE)
    return {"s2": str(sample["scene_s2.tif"]), "model": str(model),
            "areas": str(work / "areas.gpkg"), "safe": str(safe)}  # fmt: skip


def cases(inputs: dict, out: Path) -> list[tuple[str, str, dict]]:
    """(label, algorithm id, parameters) of every case."""
    return [
        ("lcz:classifyraster (sample city, rf)", "lcz:classifyraster",
         {"MODEL": inputs["model"], "SENTINEL2": inputs["s2"], "RESOLUTION": 100,
          "FILTER": 1, "OUTPUT": str(out / "map.tif"), "CONFIDENCE": str(out / "conf.tif"),
          "MAP_IMAGE": str(out / "map.png")}),
        ("lcz:mapfromtrainingareas (64 areas, 5 splits)", "lcz:mapfromtrainingareas",
         {"AREAS": inputs["areas"], "FIELD": "lcz", "SENTINEL2": inputs["s2"], "SPLITS": 5,
          "TREES": 30, "OUTPUT": str(out / "areas_map.tif"),
          "FACTSHEET": str(out / "factsheet.html")}),
        (f"model sentinel2_to_lcz_map (SAFE {SAFE_SIZE} px)", "lcz:sentinel2_to_lcz_map",
         {"PRODUCT": inputs["safe"], "MODEL": inputs["model"], "RESOLUTION": 100,
          "FILTER": 1, "classify:LCZ map": str(out / "model_map.tif"),
          "classify:Map image": str(out / "model_map.png")}),
        (f"model training_areas_to_lcz_map (SAFE {SAFE_SIZE} px)", "lcz:training_areas_to_lcz_map",
         {"AREAS": inputs["areas"], "FIELD": "lcz", "PRODUCT": inputs["safe"],
          "RESOLUTION": 100, "FILTER": 0, "map:LCZ map": str(out / "model_areas_map.tif"),
          "map:Factsheet": str(out / "model_factsheet.html")}),
    ]  # fmt: skip


# the child leaves without tearing QGIS down (its exit may crash once layers are loaded)
_CHILD = """
import json, os
from benchmarks.bench_main_thread import measure_in_qgis
print(json.dumps(measure_in_qgis({alg!r}, {params!r}, {plugins!r}, {timeline!r})), flush=True)
os._exit(0)
"""


def run(workdir) -> list[dict]:
    """Every case in its own QGIS (child process); one row each."""
    work = Path(workdir) / "bench_main_thread"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        inputs = prepare_inputs(work)
        plugins = work / "plugins"
        plugins.mkdir()
        (plugins / "lcz_mapping").symlink_to(REPO, target_is_directory=True)
        rows, timelines = [], os.environ.get("LCZ_BENCH_MAIN_THREAD_EVENTS")
        for i, (label, alg, params) in enumerate(cases(inputs, work)):
            timeline = f"{timelines}.{i}" if timelines else None
            code = _CHILD.format(alg=alg, params=params, plugins=str(plugins), timeline=timeline)
            rows.append({"case": label, **run_python(code)})
        return rows
    finally:
        shutil.rmtree(work, ignore_errors=True)


def start_qgis(plugins: str):
    """An offscreen QgsApplication with Processing and the plugin's provider (the
    application and the plugin are returned: keep them alive)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from qgis.core import QgsApplication

    app = QgsApplication([], False)
    app.initQgis()
    sys.path.insert(0, "/usr/share/qgis/python/plugins")
    from processing.core.Processing import Processing

    Processing.initialize()
    sys.path.insert(0, plugins)
    import lcz_mapping

    plugin = lcz_mapping.classFactory(None)
    plugin.initProcessing()
    return app, plugin


def recording_feedback(events: list):
    """A QgsProcessingFeedback appending (monotonic time, kind, text) for every report."""
    from qgis.core import QgsProcessingFeedback
    from qgis.PyQt.QtCore import Qt

    class Recorder(QgsProcessingFeedback):
        def setProgressText(self, text):  # noqa: N802 - QGIS API
            events.append((time.monotonic(), "text", text))
            super().setProgressText(text)

        def pushInfo(self, info):  # noqa: N802 - QGIS API
            events.append((time.monotonic(), "info", info))
            super().pushInfo(info)

        def pushWarning(self, warning):  # noqa: N802 - QGIS API
            events.append((time.monotonic(), "warning", warning))
            super().pushWarning(warning)

        def pushDebugInfo(self, info):  # noqa: N802 - QGIS API
            events.append((time.monotonic(), "debug", info))
            super().pushDebugInfo(info)

        def reportError(self, error, fatalError=False):  # noqa: N802,N803 - QGIS API
            events.append((time.monotonic(), "error", error))
            super().reportError(error, fatalError)

    fb = Recorder()
    fb.progressChanged.connect(
        lambda p: events.append((time.monotonic(), "progress", p)), Qt.DirectConnection
    )
    return fb


def layers_loaded_on_completion(alg, params: dict) -> dict:
    """``params`` with every raster or vector output loaded into the project on completion,
    as the dialog's "Open output file after running" does."""
    from qgis.core import (
        QgsProcessingOutputLayerDefinition,
        QgsProcessingParameterRasterDestination,
        QgsProcessingParameterVectorDestination,
        QgsProject,
    )

    kinds = (QgsProcessingParameterRasterDestination, QgsProcessingParameterVectorDestination)
    out = dict(params)
    for d in alg.destinationParameterDefinitions():
        if isinstance(d, kinds) and out.get(d.name()):
            out[d.name()] = QgsProcessingOutputLayerDefinition(out[d.name()], QgsProject.instance())
    return out


def _gil_probe(stop, out: list) -> None:
    """Sleep 5 ms in a loop; keep the largest time between two wake-ups (GIL stalls)."""
    last = time.monotonic()
    while not stop.is_set():
        time.sleep(0.005)
        now = time.monotonic()
        out[0] = max(out[0], now - last)
        last = now


def _message_at(events: list, t: float) -> str:
    """The last text or log line reported before ``t`` (with the progress then)."""
    text, progress = "(before the first message)", None
    for when, kind, value in list(events):
        if when > t:
            break
        if kind == "progress":
            progress = value
        else:
            text = str(value)
    return f"{text[:90]} @ {progress:.0f}%" if progress is not None else text[:90]


def measure_in_qgis(alg_id: str, params: dict, plugins: str, timeline: str | None = None) -> dict:
    """Run ``alg_id`` in a task while the main thread ticks every ``TICK_MS``; the gaps
    (``timeline``: a file for every report and stall, module docstring)."""
    import threading

    from qgis.core import (
        QgsApplication,
        QgsProcessingAlgRunnerTask,
        QgsProcessingContext,
        QgsProject,
    )
    from qgis.PyQt.QtCore import QEventLoop, QTimer

    _qgis = start_qgis(plugins)  # kept alive until the measurement ends
    events, ticks, result = [], [], {}
    stop, gil = threading.Event(), [0.0]
    probe = threading.Thread(target=_gil_probe, args=(stop, gil), daemon=True)
    probe.start()
    from processing.gui.Postprocessing import handleAlgorithmResults

    alg = QgsApplication.processingRegistry().createAlgorithmById(alg_id)
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    params = layers_loaded_on_completion(alg, params)
    feedback = recording_feedback(events)
    t0 = time.monotonic()
    task = QgsProcessingAlgRunnerTask(alg, params, context, feedback)  # prepare: main thread
    ticks.append(time.monotonic())
    loop = QEventLoop()

    def tick():
        now = time.monotonic()
        if now - ticks[-1] > 0.5:
            events.append((ticks[-1], "GAP", f"{now - ticks[-1]:.2f} s"))
        ticks.append(now)

    def done(ok, results):  # main thread, after postProcessAlgorithm (the task's finished())
        result.update(ok=ok, results=results)
        if ok:  # the dialog then loads the output layers, on the main thread too
            handleAlgorithmResults(alg, context, feedback)
        QTimer.singleShot(200, loop.quit)

    timer = QTimer()
    timer.timeout.connect(tick)
    timer.start(TICK_MS)
    task.executed.connect(done)
    QgsApplication.taskManager().addTask(task)
    loop.exec_()
    timer.stop()
    stop.set()
    events.sort(key=lambda e: e[0])
    if timeline:
        with open(timeline, "w") as fh:
            fh.writelines(f"{when - t0:8.2f} {kind} {value}\n" for when, kind, value in events)
    events = [e for e in events if e[1] != "GAP"]
    seconds = time.monotonic() - t0
    gaps = [(b - a, a) for a, b in zip([t0, *ticks], ticks)]
    worst, start = max(gaps)
    times = [t0] + [when for when, _, _ in events] + [ticks[-1]]
    silence = max(b - a for a, b in zip(times, times[1:]))
    errors = [v for _, kind, v in events if kind == "error"]
    return {"ok": bool(result.get("ok")), "seconds": round(seconds, 1),
            "max_gap_s": round(worst, 2), "gap_during": _message_at(events, start),
            "gil_gap_s": round(gil[0], 2), "max_silence_s": round(silence, 1),
            "prepare_s": round(ticks[0] - t0, 2), "errors": "; ".join(errors)[:200]}  # fmt: skip


if __name__ == "__main__":  # python -m benchmarks.bench_main_thread [WORKDIR]
    from .common import print_table

    folder = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="lcz-main-thread-")
    print_table(TITLE, run(folder))
    print(json.dumps({"done": True}))
