"""A classify-many run on Dask distributed: lock, plan, resume, submit, retry, finish.

``local`` starts a ``LocalCluster`` (worker processes on this machine); an address
(``tcp://host:8786``) connects to a running scheduler (dask-jobqueue on Slurm, a
Kubernetes Dask cluster...; docs/cluster.md). Tasks are submitted a few per worker
at a time (so cancel stops submission at once and a 1,000-city run does not flood the
scheduler), each with ``retries``: a task that raises is retried, one whose worker died
is rescheduled by the scheduler (``distributed.scheduler.allowed-failures`` times). A
task that still fails is reported by name and the others finish. Finished tasks
(``tasks.finished_record``) are skipped, so a re-run resumes. A lock file keeps a second
run out of the output folder while the first is alive.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from ..common.atomic import DiskFull, free_bytes
from ..common.enums import Filter, Scale
from ..common.errors import Cancelled, LczError, param
from ..common.feedback import Feedback
from ..common.legend import N_CLASSES
from .inputs import TaskSpec

LOCK_NAME = ".lcz-classify-many.lock"
CONNECT_TIMEOUT_S = 10
DEFAULT_RETRIES = 2
TILE_BYTES_PER_CELL = 1  # uint8 map, before compression: an upper bound per task
FILTER_BYTES_PER_CELL = N_CLASSES * 4  # the post-filter's temporary probabilities


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
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def acquire(self) -> None:
        """Take the lock.

        Raises:
            LczError: another run holds it (it is named, with how to clear a stale one).
        """
        note = {"host": socket.gethostname(), "pid": os.getpid(), "started": time.time(),
                "token": self.token}  # fmt: skip
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                held = self._holder() or {}
                dead = held.get("host") == socket.gethostname() and not _pid_alive(
                    int(held.get("pid", 0) or 0)
                )
                if not dead:
                    since = time.strftime("%Y-%m-%d %H:%M", time.localtime(held.get("started", 0)))
                    raise LczError(
                        f"{param('OUTPUT_FOLDER')} '{self.path.parent}' is in use by another "
                        f"classify-many run (pid {held.get('pid', '?')} on "
                        f"{held.get('host', '?')}, since {since}); wait for it, or delete "
                        f"{self.path} if that run is gone"
                    ) from None
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


# -- the client ---------------------------------------------------------------------------------


def _python_for_workers() -> str:
    """A Python interpreter for spawned workers (inside QGIS, sys.executable is QGIS)."""
    exe = Path(sys.executable)
    if exe.name.startswith("python"):
        return str(exe)
    for cand in (Path(sys.prefix) / "bin" / "python3", Path("/usr/bin/python3")):
        if cand.exists():
            return str(cand)
    return str(exe)


def _drop_dask_leftover(var: str) -> None:
    """Remove ``var`` from this process's environment when it holds Dask's default: an
    earlier cluster's nanny put it there, and the workers would inherit it."""
    import dask

    default = dask.config.get(f"distributed.nanny.pre-spawn-environ.{var}", None)
    if default is not None and os.environ.get(var) == str(default):
        del os.environ[var]


def start_client(scheduler: str, workers: int, threads: int, timeout: float = CONNECT_TIMEOUT_S):
    """A Dask client: on a new LocalCluster (``local``) or connected to ``scheduler``.

    Args:
        scheduler: ``local`` or a scheduler address (``tcp://host:8786``).
        workers: worker processes of a LocalCluster.
        threads: threads per task (TensorFlow, OpenMP), set in the workers' environment.
        timeout: seconds to reach a remote scheduler.

    Returns:
        (client, cluster or None); close both at the end.

    Raises:
        LczError: the scheduler cannot be reached within ``timeout`` seconds.
    """
    from distributed import Client, LocalCluster

    if scheduler == "local":
        import multiprocessing.spawn

        import dask

        from .tasks import thread_environment

        multiprocessing.spawn.set_executable(_python_for_workers())
        env = {**thread_environment(threads), "TF_CPP_MIN_LOG_LEVEL": "2",
               "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}  # fmt: skip
        # set before each worker process starts (BLAS reads them when numpy loads; the
        # nanny also sets them here, as Dask does its own), and glibc's own malloc tuning:
        # Dask's MALLOC_TRIM_THRESHOLD_ makes every large numpy temporary of a task a
        # fresh mmap (tasks about 1.3x slower, measured)
        blas = {k: v for k, v in env.items() if k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                      "MKL_NUM_THREADS")}  # fmt: skip
        spawn = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **blas,
                 "MALLOC_TRIM_THRESHOLD_": None}  # fmt: skip
        _drop_dask_leftover("MALLOC_TRIM_THRESHOLD_")
        # and no statistical profiler sampling every task's stack each 10 ms (about 10 %)
        with dask.config.set({"distributed.nanny.pre-spawn-environ": spawn,
                              "distributed.worker.profile.enabled": False}):  # fmt: skip
            cluster = LocalCluster(
                n_workers=max(1, int(workers)), threads_per_worker=1, processes=True,
                dashboard_address=":0", env=env, silence_logs=40,
            )  # fmt: skip
        return Client(cluster, set_as_default=False), cluster
    try:
        client = Client(scheduler, timeout=f"{timeout}s", set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise LczError(
            f"cannot reach the Dask scheduler at {param('SCHEDULER')} '{scheduler}' within "
            f"{timeout:g} s ({str(exc).splitlines()[0][:160]}); start it, or check the "
            "address (tcp://host:8786)"
        ) from None
    return client, None


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
    from .tasks import run_task

    queue, pending = deque(tasks), {}
    token = uuid.uuid4().hex[:8]
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
        if feedback.is_cancelled():
            client.cancel(list(pending))
            outcome.wall_s = time.monotonic() - t0
            raise Cancelled()
    outcome.wall_s = time.monotonic() - t0


def warm_workers(client, job, feedback: Feedback) -> dict:
    """Run ``tasks.warm_worker`` once on every worker, side by side, before any task: the
    framework's import and the model's load then happen once per worker, outside the
    tasks' times. A worker that fails here (or leaves) is only warned about: its tasks
    load the model themselves, and fail with their own message if it cannot.

    Returns:
        {import_s, load_s}: the slowest worker's import and load seconds (0 without any).

    Raises:
        Cancelled: the user cancelled meanwhile.
    """
    from .tasks import warm_worker

    token = uuid.uuid4().hex[:8]
    pending = {client.submit(warm_worker, job, key=f"lcz-warm-{i}-{token}", workers=[addr],
                             allow_other_workers=False, pure=False): addr
               for i, addr in enumerate(client.scheduler_info()["workers"])}  # fmt: skip
    got = {"import_s": 0.0, "load_s": 0.0}
    while pending:
        for fut in _wait_some(client, list(pending)):
            pending.pop(fut)
            if fut.status == "finished":
                got = {k: max(got[k], fut.result()[k]) for k in got}
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
        threads: TensorFlow / OpenMP / scikit-learn threads per task.
        retries: retries of a task that raises.
        cog: also write a COG of each mosaic.
        connect_timeout: seconds to reach a remote scheduler.
    """

    stride: int = 10
    batch_size: int = 256
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


def model_sensor(model) -> str:
    """The sensor of a model file, from its manifest (a plain Keras file is loaded)."""
    from ..models.modelfile import check_manifest, load_model, read_manifest

    p = Path(model)
    if not p.exists():
        raise LczError(f"{param('MODEL')}: model file '{p}' does not exist")
    if p.suffix.lower() == ".lczmodel":
        manifest = read_manifest(p)
        check_manifest(manifest, p.name)
        return manifest["sensor"]
    return load_model(p).sensor


def plan_run(inputs, model, output_folder, options: ManyOptions) -> tuple[list[TaskSpec], object]:
    """The run's tasks and its ``JobConfig``, before anything is locked or submitted.

    Raises:
        LczError: bad inputs or model, an output folder that cannot be made.
    """
    from ..classify.postfilter import check_filter
    from .inputs import TilePlan, halo_for, plan_tasks
    from .tasks import JobConfig, file_sha256

    method = check_filter(options.filter)
    if options.tile_size < 0:
        raise LczError(f"{param('TILE_SIZE')} must be 0 or more; got {options.tile_size}")
    folder = Path(output_folder).resolve()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LczError(f"{param('OUTPUT_FOLDER')}: cannot create '{folder}': {exc}") from None
    sensor = model_sensor(model)
    plan = TilePlan(options.stride, halo_for(method, options.stride, 10.0), options.tile_size)
    tasks = plan_tasks(inputs, sensor, plan)
    job = JobConfig(
        str(Path(model).resolve()), file_sha256(model), str(folder), options.stride,
        options.batch_size, options.scale, method, options.bands, options.bands_s1,
        options.threads, time.time(),
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
        Cancelled: the user cancelled (finished tiles stay; a re-run resumes).
    """
    from .report import RunReport

    feedback = feedback or Feedback()
    folder = Path(job.output_folder)
    lock = RunLock(folder)
    lock.acquire()
    if lock.took_over:
        feedback.info(f"took over the lock of a run that is gone (pid {lock.took_over.get('pid')})")
    try:
        outcome, todo = _split_finished(tasks, job)
        check_space(folder, todo, job.filter)
        report = RunReport(folder, options.scheduler, 0)
        if todo:
            client, cluster = start_client(options.scheduler, options.workers, options.threads,
                                           options.connect_timeout)  # fmt: skip
            try:
                report.workers = len(client.scheduler_info()["workers"])
                warm = warm_workers(client, job, feedback)
                report.import_s, report.load_s = warm["import_s"], warm["load_s"]
                submit_all(client, todo, job, options.retries, outcome, feedback, len(tasks))
            finally:
                client.close()
                if cluster is not None:
                    cluster.close()
        return _finish(report, tasks, job, outcome, options, feedback)
    finally:
        lock.release()


def _split_finished(tasks, job) -> tuple[Outcome, list[TaskSpec]]:
    from .tasks import finished_record

    outcome, todo = Outcome(), []
    for t in tasks:
        rec = finished_record(job, t)
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
