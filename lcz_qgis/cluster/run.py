"""A classify-many run on Dask distributed: lock, plan, resume, submit, retry, finish.

``local`` starts a ``LocalCluster`` (worker processes on this machine); an address
(``tcp://host:8786``) connects to a running scheduler (dask-jobqueue on Slurm, a
Kubernetes Dask cluster...; docs/cluster.md). Tasks are submitted a few per worker
at a time (so cancel stops submission at once and a 1,000-city run does not flood the
scheduler), each with ``retries``: a task that raises is retried, one whose worker died
is rescheduled by the scheduler (``distributed.scheduler.allowed-failures`` times). A
task that still fails is reported by name and the others finish. Finished tasks
(``records.finished_record``: checked against their tiles) are skipped, so a re-run resumes. A lock file keeps a second
run out of the output folder while the first is alive.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import threading
import time
import uuid
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ..classify.sliding_window import WINDOW
from ..common.atomic import DiskFull, free_bytes
from ..common.enums import Filter, Scale
from ..common.errors import Cancelled, LczError, param
from ..common.feedback import Feedback
from ..common.legend import N_CLASSES
from ..models.model import DEFAULT_BATCH
from .client import CONNECT_TIMEOUT_S, close_quietly, start_client
from .inputs import TaskSpec

LOCK_NAME = ".lcz-classify-many.lock"
DEFAULT_RETRIES = 2
TILE_BYTES_PER_CELL = 1  # uint8 map, before compression: an upper bound per task
FILTER_BYTES_PER_CELL = N_CLASSES * 4  # the post-filter's temporary probabilities


class RunCancelled(Cancelled):
    """A cancelled classify-many run. Its finished tiles stay for a re-run to resume, so
    the run does not say "no output was written": ``kept`` says what was kept and how to
    finish (the CLI and Processing show it), e.g. "3 of 8 tiles finished and kept in
    OUT/tiles for resume; no mosaic was written; run again with the same options to
    finish"."""

    def __init__(self, kept: str):
        """``kept``: what the cancelled run left, in words (no "cancelled" in it)."""
        super().__init__(f"cancelled: {kept}")
        self.kept = kept


# -- the lock ---------------------------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class RunLock:
    """``<output folder>/.lcz-classify-many.lock``: one run per output folder.

    The lock names its run (host, pid, start). A lock left by a dead run on this host
    (its process is gone) is taken over; a live one, or one from another host, refuses.
    """

    def __init__(self, folder: Path):
        """The lock of ``folder`` (not yet taken)."""
        self.path = Path(folder) / LOCK_NAME
        self.token = uuid.uuid4().hex
        self.took_over: dict | None = None

    def _holder(self) -> dict | None:
        """The lock's note (host, pid, started, token), None when it cannot be read or
        is not a note this class wrote (a damaged or edited lock file)."""
        try:
            held = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return None
        ok = (isinstance(held, dict) and isinstance(held.get("host"), str)
              and type(held.get("pid")) is int and 0 < held["pid"] < 2**31
              and type(held.get("started", 0)) in (int, float))  # fmt: skip
        return held if ok else None

    def _refusal(self, held: dict | None) -> LczError:
        where = f"{param('OUTPUT_FOLDER')} '{self.path.parent}'"
        if held is None:
            return LczError(
                f"{where} has a damaged lock file {self.path} (not a classify-many lock "
                "note); if no classify-many run is using that folder, delete it"
            )
        try:
            since = time.strftime("%Y-%m-%d %H:%M", time.localtime(held.get("started", 0)))
        except (OverflowError, OSError, ValueError):
            since = "?"
        return LczError(
            f"{where} is in use by another classify-many run (pid {held['pid']} on "
            f"{held['host'][:80]}, since {since}); wait for it, or delete {self.path} if "
            "that run is gone"
        )

    def acquire(self) -> None:
        """Take the lock.

        Raises:
            LczError: another run holds it (it is named, with how to clear a stale one),
                or the lock file is damaged (how to clear it).
        """
        note = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time(),
                "token": self.token}  # fmt: skip
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                held = self._holder()
                dead = (
                    held is not None
                    and held["host"] == socket.gethostname()
                    and (not _pid_alive(held["pid"]))
                )
                if not dead:
                    raise self._refusal(held) from None
                self.took_over = held
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(note, f)
            return
        raise LczError(f"cannot take the lock {self.path}")

    def release(self) -> None:
        """Remove the lock if it is still this run's."""
        if (self._holder() or {}).get("token") == self.token:
            self.path.unlink(missing_ok=True)


# -- submission -------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What became of the tasks: records of those done now, skipped ones, failures."""

    done: dict = field(default_factory=dict)  # name -> success record (this run)
    skipped: dict = field(default_factory=dict)  # name -> success record (earlier run)
    failed: dict = field(default_factory=dict)  # name -> message
    wall_s: float = 0.0  # first submission to last result


def _failure_text(fut) -> str:
    try:
        exc = fut.exception()
    except Exception as e:  # noqa: BLE001 - a cancelled future raises its own error
        return f"{type(e).__name__}: {e}"
    if type(exc).__name__ == "KilledWorker":
        return "the worker running it died on every try (KilledWorker)"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text if isinstance(exc, LczError) else f"{type(exc).__name__}: {text}"


def _in_flight(client) -> int:
    """How many tasks to keep submitted: two per worker thread (at least 4)."""
    try:
        threads = sum(w.get("nthreads", 1) for w in client.scheduler_info()["workers"].values())
    except (KeyError, OSError):
        threads = 1
    return max(4, 2 * threads)


def submit_all(client, tasks: list[TaskSpec], job, retries: int, outcome: Outcome,
               feedback: Feedback, total: int) -> None:  # fmt: skip
    """Submit ``tasks`` a few at a time and collect results until all have ended.

    Progress is the share of finished tasks (skipped ones included); cancel stops
    submitting and cancels what is in flight (raises ``Cancelled``).
    """
    queue, pending = deque(tasks), {}
    token = uuid.uuid4().hex[:8]
    t0 = time.monotonic()
    with interrupt_as_cancel() as interrupted:
        _collect(client, queue, pending, job, retries, outcome, feedback, total, token,
                 lambda: interrupted() or feedback.is_cancelled())  # fmt: skip
    outcome.wall_s = time.monotonic() - t0


@contextmanager
def interrupt_as_cancel():
    """Within the block, Ctrl-C (SIGINT) in the main thread sets a flag instead of
    raising ``KeyboardInterrupt`` wherever the main thread happens to be (Dask's client
    code may catch it there and go on); yields ``interrupted()``. Elsewhere (another
    thread, QGIS), nothing changes."""
    hit = []
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    before = signal.signal(signal.SIGINT, lambda *_: hit.append(True))
    try:
        yield lambda: bool(hit)
    finally:
        signal.signal(signal.SIGINT, before)


def _collect(client, queue, pending, job, retries, outcome, feedback, total, token, cancelled):
    """``submit_all``'s loop: submit, collect, report progress, stop on ``cancelled()``."""
    from .tasks import run_task

    t0 = time.monotonic()
    while queue or pending:
        limit = _in_flight(client)
        while queue and len(pending) < limit:
            task = queue.popleft()
            fut = client.submit(run_task, task, job, key=f"lcz-{task.name}-{token}",
                                retries=retries, pure=False)  # fmt: skip
            pending[fut] = task
        for fut in _wait_some(client, list(pending)):
            task = pending.pop(fut)
            if fut.status == "finished":
                outcome.done[task.name] = fut.result()
            else:
                outcome.failed[task.name] = _failure_text(fut)
                feedback.warning(f"task {task.name} failed: {outcome.failed[task.name]}")
            fut.release()
        ended = len(outcome.done) + len(outcome.failed) + len(outcome.skipped)
        feedback.progress(100.0 * ended / max(1, total))
        if cancelled():
            client.cancel(list(pending))
            outcome.wall_s = time.monotonic() - t0
            raise Cancelled()


def warm_workers(client, job, feedback: Feedback) -> dict:
    """Run ``tasks.warm_worker`` once on every worker, side by side, before any task: the
    framework's import and the model's load then happen once per worker, outside the
    tasks' times. Each worker that is ready is reported on ``feedback`` ("worker 1 of 2
    ready (TensorFlow imported in 4.1 s, model loaded in 0.3 s)"). A worker that fails
    here (or leaves) is only warned about: its tasks load the model themselves, and fail
    with their own message if it cannot.

    Returns:
        {import_s, load_s}: the slowest worker's import and load seconds (0 without any).

    Raises:
        Cancelled: the user cancelled meanwhile.
    """
    from .tasks import framework_name, warm_worker

    token = uuid.uuid4().hex[:8]
    workers = list(client.scheduler_info()["workers"])
    feedback.info(f"readying {len(workers)} worker(s): each imports {framework_name(job)} "
                  "and loads the model...")  # fmt: skip
    pending = {client.submit(warm_worker, job, key=f"lcz-warm-{i}-{token}", workers=[addr],
                             allow_other_workers=False, pure=False): addr
               for i, addr in enumerate(workers)}  # fmt: skip
    got, ready = {"import_s": 0.0, "load_s": 0.0}, 0
    while pending:
        for fut in _wait_some(client, list(pending)):
            pending.pop(fut)
            if fut.status == "finished":
                res, ready = fut.result(), ready + 1
                got = {k: max(got[k], res[k]) for k in got}
                feedback.info(f"worker {ready} of {len(workers)} ready ({res.get('framework')} "
                              f"imported in {res['import_s']:.1f} s, model loaded in "
                              f"{res['load_s']:.1f} s)")  # fmt: skip
            else:
                feedback.warning(f"a worker could not load the model: {_failure_text(fut)}")
            fut.release()
        gone = [f for f, addr in pending.items() if addr not in client.scheduler_info()["workers"]]
        for fut in gone:  # its worker left: the warm-up would wait for it for ever
            pending.pop(fut)
            fut.cancel()
        if feedback.is_cancelled():
            client.cancel(list(pending))
            raise Cancelled()
    return got


def _wait_some(client, futures, timeout: float = 0.5) -> set:
    """The futures that end within ``timeout`` seconds (at least one, or none)."""
    from distributed import wait

    try:
        with client.as_current():
            return wait(futures, timeout=timeout, return_when="FIRST_COMPLETED").done
    except TimeoutError:
        return set()


def check_space(folder: Path, tasks: list[TaskSpec], filter_name: str) -> None:
    """Refuse a run whose tiles (uncompressed) would not fit the output folder's disk.

    Raises:
        DiskFull: the free space is less than the tiles need, plus the largest task's
            temporaries.
    """
    if not tasks:
        return
    cells = [t.cells[2] * t.cells[3] for t in tasks]
    need = sum(cells) * TILE_BYTES_PER_CELL
    if filter_name != Filter.NONE:
        need += max(cells) * FILTER_BYTES_PER_CELL * 2  # two tasks at once, say
    free = free_bytes(folder)
    if free is not None and free < need:
        raise DiskFull(folder, need)


# -- the run ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ManyOptions:
    """How a classify-many run classifies and where it runs.

    Attributes:
        stride, batch_size, scale, filter, bands, bands_s1: as for ``classify_raster``.
        tile_size: output cells per tile side (0: one task per raster or tile box).
        scheduler: ``local`` or a scheduler address.
        workers: LocalCluster worker processes.
        threads: TensorFlow / OpenMP / scikit-learn / ONNX Runtime threads per task.
        retries: retries of a task that raises.
        cog: also write a COG of each mosaic.
        connect_timeout: seconds to reach a remote scheduler (connection, then handshake).
        dashboard: a local cluster serves Dask's dashboard on 127.0.0.1 (default: none).
        runtime: what runs the model (``models.model.RUNTIMES``): ``auto``, ``onnx`` or
            ``tensorflow``, as for ``load_model``; resolved once in the client
            (``check_model``), so every worker runs the same engine.
        offset: added to the Sentinel-2 values before the factor, as for
            ``classify_raster`` (dn or a factor only).
    """

    stride: int = 10
    batch_size: int = DEFAULT_BATCH
    scale: str = Scale.AUTO
    filter: str = Filter.NONE
    bands: str | None = None
    bands_s1: str | None = None
    tile_size: int = 0
    scheduler: str = "local"
    workers: int = 2
    threads: int = 1
    retries: int = DEFAULT_RETRIES
    cog: bool = False
    connect_timeout: float = CONNECT_TIMEOUT_S
    dashboard: bool = False
    runtime: str = "auto"
    offset: float = 0.0


# (key, field, least value, largest value) of the numeric options
_RANGES = (("STRIDE", "stride", 1, WINDOW), ("BATCH_SIZE", "batch_size", 1, None),
           ("TILE_SIZE", "tile_size", 0, None), ("WORKERS", "workers", 1, None),
           ("THREADS", "threads", 1, None), ("RETRIES", "retries", 0, None))  # fmt: skip


def check_options(options: ManyOptions) -> None:
    """Refuse options out of range before anything is read, locked or started (the
    workers would otherwise refuse them task after task, each retry dumping the error).

    Raises:
        LczError: a number option that is not a whole number in its range, a connect
            timeout that is not a positive number of seconds, an unknown runtime, an
            offset that is not a finite number or comes with SCALE auto or reflectance.
    """
    from ..classify.inputs import parse_offset
    from ..models.model import RUNTIMES

    for key, name, lo, hi in _RANGES:
        value = getattr(options, name)
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or value < lo
            or (hi is not None and value > hi)
        ):
            limit = f"from {lo} to {hi}" if hi is not None else f"of at least {lo}"
            raise LczError(f"{param(key, name)} must be a whole number {limit}; got {value!r}")
    t = options.connect_timeout
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t < 1e6:
        raise LczError(f"connect_timeout must be a positive number of seconds; got {t!r}")
    parse_offset(options.offset, options.scale)  # a finite number, with dn or a factor
    if options.runtime not in RUNTIMES:
        raise LczError(f"{param('RUNTIME', 'runtime')} must be one of {', '.join(RUNTIMES)}; "
                       f"got {str(options.runtime)[:40]!r}")  # fmt: skip


def check_model(model, runtime: str = "auto") -> tuple[str, str]:
    """The sensor of a model file and the runtime its workers load it with: the file is
    loaded here once on ``runtime``'s engine with every check of
    ``models.modelfile.load_model`` (``models.safety``, ``models.onnx_safety``: nothing in
    it runs), so a damaged or hostile model, or an engine the file or this installation
    cannot give (``onnx`` for a file without a graph), is refused before any worker
    starts.

    Returns:
        (sensor, runtime): ``runtime`` is ``auto`` resolved here, ``onnx`` when ONNX
        Runtime runs the model, else ``tensorflow`` (its own framework), so every worker
        runs the engine chosen here.

    Raises:
        LczError: the model is missing, not a regular file, damaged or refused, or the
            runtime cannot run it.
    """
    from ..common.enums import Framework
    from ..common.input_files import check_input_file
    from ..models.modelfile import load_model

    p = check_input_file(model, f"{param('MODEL')}: model file")
    loaded = load_model(p, runtime=runtime)
    return loaded.sensor, "onnx" if loaded.runtime == Framework.ONNX else "tensorflow"


def plan_run(inputs, model, output_folder, options: ManyOptions) -> tuple[list[TaskSpec], object]:
    """The run's tasks and its ``JobConfig``, before anything is locked or submitted.

    Raises:
        LczError: bad inputs or model, an output folder that cannot be made.
    """
    from ..classify.postfilter import check_filter
    from ..common.legend import check_language, check_palette
    from .inputs import TilePlan, halo_for, plan_tasks
    from .tasks import JobConfig, file_sha256

    check_options(options)
    method = check_filter(options.filter)
    folder = Path(output_folder).resolve()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LczError(f"{param('OUTPUT_FOLDER')}: cannot create '{folder}': {exc}") from None
    sensor, runtime = check_model(model, options.runtime)
    plan = TilePlan(options.stride, halo_for(method, options.stride, 10.0), options.tile_size)
    tasks = plan_tasks(inputs, sensor, plan)
    job = JobConfig(
        str(Path(model).resolve()), file_sha256(model), str(folder), options.stride,
        options.batch_size, options.scale, method, options.bands, options.bands_s1,
        options.threads, time.time(), runtime, float(options.offset or 0.0),
        check_palette(None), check_language(None),  # the run's legend, for the tiles
    )  # fmt: skip
    return tasks, job


def execute(tasks: list[TaskSpec], job, options: ManyOptions, feedback: Feedback | None = None):
    """Run planned tasks: lock, skip finished ones, submit the rest, mosaic, report.

    Returns:
        The ``report.RunReport`` (also written as ``run_report.json``).

    Raises:
        LczError: another run holds the folder, the scheduler cannot be reached, no task
            finished.
        DiskFull: the tiles would not fit.
        RunCancelled: the user cancelled (finished tiles stay, and it says how many; a
            re-run resumes).
    """
    from .report import RunReport

    feedback = feedback or Feedback()
    folder = Path(job.output_folder)
    lock = RunLock(folder)
    lock.acquire()
    if lock.took_over:
        feedback.info(f"took over the lock of a run that is gone (pid {lock.took_over.get('pid')})")
    try:
        outcome, todo = _split_finished(tasks, job, feedback)
        check_space(folder, todo, job.filter)
        report = RunReport(folder, options.scheduler, 0, runtime=job.runtime,
                           overlaps=warn_overlaps(tasks, feedback))  # fmt: skip
        if todo:
            try:
                _run_tasks(report, todo, job, options, outcome, feedback, len(tasks))
            except Cancelled:
                raise RunCancelled(_kept_text(tasks, job)) from None
        return _finish(report, tasks, job, outcome, options, feedback)
    finally:
        lock.release()


def _run_tasks(report, todo, job, options: ManyOptions, outcome: Outcome, feedback, total: int):
    """Start (or reach) the cluster, ready its workers and run ``todo`` on them, saying
    what happens meanwhile (the workers' start-up takes seconds to half a minute:
    ``client.local_client`` and ``warm_workers`` report it); the client and a local
    cluster are closed at the end, whatever happens."""
    client, cluster = start_client(options.scheduler, options.workers, options.threads,
                                   options.connect_timeout, options.dashboard,
                                   feedback)  # fmt: skip
    try:
        if cluster is not None and options.dashboard:
            feedback.info(f"Dask dashboard (this machine only): {cluster.dashboard_link}")
        report.workers = len(client.scheduler_info()["workers"])
        warm = warm_workers(client, job, feedback)
        report.import_s, report.load_s = warm["import_s"], warm["load_s"]
        feedback.info(f"running {len(todo)} task(s) on {report.workers} worker(s)...")
        submit_all(client, todo, job, options.retries, outcome, feedback, total)
    finally:
        close_quietly(client, cluster)


def warn_overlaps(tasks: list[TaskSpec], feedback: Feedback) -> dict:
    """Warn once when tiles of one CRS overlap (rasters that overlap, e.g. neighbouring
    Sentinel-2 tiles), naming up to 5 pairs and which tile the mosaic shows there.

    Returns:
        The report's ``overlaps``: {count, pairs, rule}, or {} when no tiles overlap.
    """
    from .mosaic import OVERLAP_RULE, overlapping_pairs

    pairs, count = overlapping_pairs((t.name, t.crs, t.cells) for t in tasks)
    if not count:
        return {}
    named = "; ".join(f"{a} and {b}" for a, b in pairs)
    more = f" (and {count - len(pairs)} more)" if count > len(pairs) else ""
    feedback.warning(f"{count} pair(s) of tiles overlap: {named}{more}; {OVERLAP_RULE}")
    return {"count": count, "pairs": [list(p) for p in pairs], "rule": OVERLAP_RULE}


def _kept_text(tasks: list[TaskSpec], job) -> str:
    """What a cancelled run leaves, counted on disk once its workers are gone: the tiles
    whose records check out (a re-run skips them), and that no mosaic was written."""
    from .records import finished_record

    kept = sum(1 for t in tasks if finished_record(job, t) is not None)
    if not kept:
        which = "the tile" if len(tasks) == 1 else f"none of the {len(tasks)} tiles"
        return f"{which} had {'not ' if len(tasks) == 1 else ''}finished; no mosaic was written"
    return (f"{kept} of {len(tasks)} tiles finished and kept in "
            f"{Path(job.output_folder) / 'tiles'} for resume; no mosaic was written; run "
            "again with the same options to finish")  # fmt: skip


def _split_finished(tasks, job, feedback: Feedback) -> tuple[Outcome, list[TaskSpec]]:
    from .records import finished_record

    outcome, todo = Outcome(), []
    for t in tasks:
        rec = finished_record(job, t, feedback)
        if rec is None:
            todo.append(t)
        else:
            outcome.skipped[t.name] = rec
    return outcome, todo


def _finish(report, tasks, job, outcome: Outcome, options: ManyOptions, feedback):
    """Mosaic(s), COG(s), the area table and the report, from every finished task."""
    from ..classify.area_table import write_area_csv
    from . import mosaic
    from .report import task_entry
    from .tasks import attempts_since

    folder = Path(job.output_folder)
    report.wall_s = outcome.wall_s
    for t in tasks:
        if t.name in outcome.done:
            report.tasks.append(task_entry(t.name, "done", outcome.done[t.name]))
        elif t.name in outcome.skipped:
            report.tasks.append(task_entry(t.name, "skipped", outcome.skipped[t.name]))
        else:
            n = len(attempts_since(folder, t.name, job.run_started))
            entry = task_entry(t.name, "failed", None, outcome.failed.get(t.name, "not run"))
            report.tasks.append({**entry, "attempts": n, "retries": max(0, n - 1)})
    records = [*outcome.skipped.values(), *outcome.done.values()]
    if records:
        groups = mosaic.group_by_crs(records)
        one = len(groups) == 1
        vrts = {}
        for wkt, recs in groups.items():
            stem = "mosaic" if one else f"mosaic_{mosaic.crs_label(wkt)}"
            vrts[wkt] = mosaic.build_vrt(folder, recs, f"{stem}.vrt")
            report.outputs[f"MOSAIC{'' if one else '_' + mosaic.crs_label(wkt)}"] = vrts[wkt].name
            if options.cog:
                cog = mosaic.build_cog(vrts[wkt], folder / f"{stem}.tif")
                report.outputs[f"COG{'' if one else '_' + mosaic.crs_label(wkt)}"] = cog.name
        counts, report.area_from = mosaic.area_counts(records, vrts)
        table = write_area_csv(folder / "area_table.csv", counts, records[0]["cell_area_m2"])
        report.outputs["AREA_TABLE"] = table.name
    report.outputs["REPORT"] = "run_report.json"
    report.write()
    if not records:
        raise LczError("no task finished: " + "; ".join(f"{k}: {v}" for k, v in
                                                       list(outcome.failed.items())[:3]))  # fmt: skip
    return report


def classify_many(inputs, model, output_folder, options: ManyOptions | None = None,
                  feedback: Feedback | None = None):  # fmt: skip
    """Classify many rasters (or tiles) on Dask distributed into one output folder.

    Args:
        inputs: LIST file(s), FOLDER(s) or tile index(es) (``inputs.read_inputs``).
        model: the model file.
        output_folder: tiles/, done/, mosaic.vrt, area_table.csv, run_report.json go here.
        options: classification and cluster settings (``ManyOptions``).
        feedback: progress (finished tasks), messages, cancel.

    Returns:
        The ``report.RunReport``.
    """
    options = options or ManyOptions()
    tasks, job = plan_run(inputs, model, output_folder, options)
    return execute(tasks, job, options, feedback)
