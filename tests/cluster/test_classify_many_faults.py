"""classify-many faults for real: a whole run (client, nanny, worker) SIGKILLed and resumed,
and a disk that fills up while a task writes its tile."""

from __future__ import annotations

import errno
import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO

from lcz_qgis.cluster.run import LOCK_NAME, ManyOptions, classify_many, plan_run
from lcz_qgis.cluster.tasks import record_path, run_task, tile_path
from lcz_qgis.common.errors import LczError


def _descendants(pid: int) -> set[int]:
    """Every live process below ``pid`` (children, grandchildren...), from /proc."""
    parent = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text.rsplit(")", 1)[1].split()
        parent[int(stat.parent.name)] = (int(fields[1]), fields[0])
    found, todo = set(), [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, (pp, _) in parent.items() if pp == p]
        found.update(kids)
        todo += kids
    return found


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


KILLED_RUN = """
import sys
from lcz_qgis.cluster.run import ManyOptions, classify_many
classify_many(sys.argv[1], sys.argv[2], sys.argv[3], ManyOptions(scheduler="local", workers=1))
"""


def test_a_sigkilled_run_resumes_skipping_its_finished_tasks_with_identical_outputs(
    cluster, four, four_ref, rf_model, tmp_path
):
    out = tmp_path / "out"
    src = four["nw"].parent / "list.txt"
    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": str(REPO),
    }
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(src), str(rf_model), str(out)],
                            cwd=REPO, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not list((out / "done").glob("*.json")) and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            time.sleep(0.01)
        family = _descendants(proc.pid)  # the LocalCluster's nanny and worker processes
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole run: client, nanny, worker
        proc.wait(30)
    deadline = time.monotonic() + 10
    while any(map(_alive, family)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(family) >= 2 and not [p for p in family if _alive(p)], "orphan workers remain"
    finished = {p.stem for p in (out / "done").glob("*.json")}
    assert 1 <= len(finished) < 4, finished
    assert json.loads((out / LOCK_NAME).read_text())["pid"] == proc.pid  # the dead run's lock
    assert not (out / "run_report.json").exists()

    rep = classify_many(src, rf_model, out, ManyOptions(scheduler=cluster, cog=True))
    report = json.loads((out / "run_report.json").read_text())
    status = {t["name"]: t["status"] for t in report["tasks"]}
    assert {n for n, s in status.items() if s == "skipped"} == finished
    assert {n for n, s in status.items() if s == "done"} == set(four) - finished
    assert (report["skipped"], report["done"], report["failed"]) == (len(finished),
                                                                     4 - len(finished), 0)  # fmt: skip
    assert rep.count("skipped") == len(finished)
    for name, ref in four_ref.items():
        assert tile_path(out, name).read_bytes() == ref, name
    assert not list((out / "tiles").glob("*lcz-partial*"))  # the killed task's temporary
    assert not (out / LOCK_NAME).exists()
    # the same as a run that was never killed, mosaic and COG included
    whole = tmp_path / "whole"
    classify_many(src, rf_model, whole, ManyOptions(scheduler=cluster, cog=True))
    for name in ("mosaic.vrt", "mosaic.tif", "area_table.csv"):
        assert (out / name).read_bytes() == (whole / name).read_bytes(), name


# -- a disk that fills up while a task writes --------------------------------------------------


def _fill_disk_for(monkeypatch, victim: str) -> list:
    """Make closing a GeoTIFF whose name starts with ``victim`` (its temporary) fail with
    ENOSPC after the file is written, as a full disk shows when the last blocks go out.
    Both writers are patched: ``classify_raster``'s and the crop of a tile. Returns the
    list of the failed files."""
    import lcz_qgis.classify.outputs as outputs
    import lcz_qgis.raster.io as rio

    real = rio.close_raster
    failed = []

    def close_raster(ds):
        name = ds.name
        real(ds)
        if Path(name).name.startswith(f"{victim}.tif") and Path(name).parent.name == "tiles":
            failed.append(name)
            raise OSError(errno.ENOSPC, "No space left on device", name)

    monkeypatch.setattr(outputs, "close_raster", close_raster)
    monkeypatch.setattr(rio, "close_raster", close_raster)
    return failed


@pytest.fixture()
def thread_cluster():
    """A LocalCluster of one thread in this process, so monkeypatching reaches its tasks."""
    from distributed import LocalCluster

    saved = dict(os.environ)  # the warm-up caps this process's threads in os.environ
    c = LocalCluster(n_workers=1, threads_per_worker=1, processes=False,  # inproc://
                     dashboard_address="127.0.0.1:0", silence_logs=50)  # fmt: skip
    yield c.scheduler_address
    c.close()
    os.environ.clear()
    os.environ.update(saved)


@pytest.mark.parametrize("tile_size,victim", [(0, "sw"), (11, "sw_r000_c001")])
def test_a_disk_full_while_a_task_writes_its_tile_fails_that_task_by_name_only(
    thread_cluster, four, four_ref, rf_model, tmp_path, monkeypatch, tile_size, victim
):
    failed = _fill_disk_for(monkeypatch, victim)
    out = tmp_path / "out"
    opts = ManyOptions(scheduler=thread_cluster, tile_size=tile_size, retries=1)
    rep = classify_many(four["nw"].parent / "list.txt", rf_model, out, opts)
    bad = [t for t in rep.tasks if t["status"] == "failed"]
    assert [t["name"] for t in bad] == [victim] and len(failed) == 2  # tried twice
    assert bad[0]["attempts"] == 2
    assert f"task {victim}: disk full" in bad[0]["error"]
    assert "no space left on device while writing" in bad[0]["error"]
    assert f"tiles/{victim}.tif" in bad[0]["error"]
    assert f"failed: {victim}: task {victim}: disk full" in rep.summary()
    # nothing of it is left: no tile, no temporary, no style, no record, no halo map
    assert not [p.name for p in (out / "tiles").iterdir() if p.name.startswith(f"{victim}.")]
    assert not list((out / "tiles").glob("*lcz-partial*"))
    assert not record_path(out, victim).exists()
    assert not list((out / ".lcz-work").glob("halo/*.tif*"))
    # the others finished, and a re-run once there is space again redoes only it
    assert rep.count("done") == len(rep.tasks) - 1
    if tile_size == 0:
        for name in ("nw", "ne", "se"):
            assert tile_path(out, name).read_bytes() == four_ref[name], name
    monkeypatch.undo()
    again = classify_many(four["nw"].parent / "list.txt", rf_model, out, opts)
    assert again.count("done") == 1 and again.count("skipped") == len(rep.tasks) - 1
    if tile_size == 0:
        assert tile_path(out, "sw").read_bytes() == four_ref["sw"]


def test_a_disk_full_error_survives_the_trip_from_a_worker_process(
    four, rf_model, tmp_path, monkeypatch
):
    _fill_disk_for(monkeypatch, "ne")
    tasks, job = plan_run(four["ne"], rf_model, tmp_path / "out", ManyOptions())
    with pytest.raises(LczError) as got:
        run_task(tasks[0], job)
    text = str(got.value)
    assert text.startswith("task ne: disk full on worker ")
    assert text.count("no space left on device") == 1
    # a worker process pickles the error to the client: the same message arrives
    assert str(pickle.loads(pickle.dumps(got.value))) == text
