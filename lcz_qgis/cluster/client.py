"""The run's Dask client: a local cluster on loopback only, or a checked, bounded
connection to a running scheduler.

Security: a Dask scheduler runs the (pickled) functions of whoever connects to it, and
its workers run them too, so a local cluster listens on 127.0.0.1 only (scheduler,
nannies, workers) and serves no dashboard unless asked (then on 127.0.0.1 only);
connect only to a scheduler you trust (docs/cluster.md).

A local cluster's workers run the interpreter ``common.python_exe.find_python`` found
(inside QGIS, ``sys.executable`` is QGIS or a stranger's python3) and must all have
started within ``WORKER_START_S`` seconds, else the cluster is closed and the run
refused; they ignore SIGINT (``worker_start``), so a Ctrl-C in the terminal stops the
client, which closes them, without a ``KeyboardInterrupt`` traceback from each worker.

A scheduler address is first probed by a connection of its own, with one deadline for
the TCP (or TLS, WebSocket) connection and Dask's handshake together: a port that
accepts and never answers, a web server, ``tls://`` without certificates or a scheme
that is not installed give one ``LczError`` line within the timeout, and no half-made
client is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading

from ..common.errors import Cancelled, LczError, first_line, param

CONNECT_TIMEOUT_S = 10
WORKER_START_S = 90  # every local worker has started within this, or the run is refused


# -- a scheduler address ----------------------------------------------------------------------


async def _identity(address: str, timeout: float, connection_args: dict) -> dict:
    """The scheduler's answer to ``identity`` on a connection of its own (then closed),
    all within ``timeout`` seconds (the connection gets most of it, so its own reason,
    e.g. a refused connection, is what a failure says)."""
    from distributed.comm import connect

    async def ask():
        comm = await connect(address, timeout=0.8 * timeout, **connection_args)
        try:
            await comm.write({"op": "identity", "reply": True})
            return await comm.read()
        finally:
            comm.abort()

    return await asyncio.wait_for(ask(), timeout)


def _probe_failure(address: str, timeout: float) -> str | None:
    """Why ``address`` is not a Dask scheduler answering within ``timeout`` s (None: it is)."""
    from distributed.security import Security

    box: dict = {}

    def probe():
        try:
            args = Security().get_connection_args("client")
            box["reply"] = asyncio.run(_identity(address, timeout, args))
        except BaseException as exc:  # noqa: BLE001 - any failure is the answer
            box["error"] = exc

    t = threading.Thread(target=probe, name="lcz-scheduler-probe", daemon=True)
    t.start()
    t.join(timeout + 5)
    exc = box.get("error")
    if t.is_alive() or type(exc) in (TimeoutError, asyncio.TimeoutError):
        return f"no Dask scheduler answered within {timeout:g} s"
    if exc is not None:
        return _explained(exc)
    reply = box.get("reply")
    if not isinstance(reply, dict) or reply.get("type") != "Scheduler":
        return "it answered, but not as a Dask scheduler"
    return None


def _explained(exc: BaseException) -> str:
    """One line for a failed connection (TLS without certificates, UCX not installed...)."""
    text = first_line(exc) if str(exc) else type(exc).__name__
    if isinstance(exc, (MemoryError, OverflowError)):  # distributed 2026 reads the first
        # bytes of another server's reply (an HTTP page) as a message length of exabytes
        return "it answered, but not as a Dask scheduler (its reply is no Dask message)"
    if "ssl_context" in text:
        return ("tls:// needs certificates: set distributed.comm.tls.ca-file and "
                "distributed.comm.tls.client.cert/key in Dask's configuration")  # fmt: skip
    if "UCX" in text or "ucx" in text:
        return "ucx:// needs UCX-Py (distributed-ucxx), which is not installed"
    if isinstance(exc, (OSError, ValueError)):
        return text[:200]
    return f"{type(exc).__name__}: {text}"[:200]


def connect_client(address: str, timeout: float = CONNECT_TIMEOUT_S):
    """A client of the running scheduler at ``address``, or one clear error.

    Raises:
        LczError: nothing answers as a Dask scheduler there within ``timeout`` seconds
            (connection and handshake together), or the address is malformed.
    """
    from distributed import Client

    def refuse(why: str) -> LczError:
        return LczError(
            f"cannot reach the Dask scheduler at {param('SCHEDULER')} '{address}': {why}; "
            "start it, or check the address (tcp://host:8786)"
        )

    why = _probe_failure(address, timeout)
    if why is not None:
        raise refuse(why)
    client = Client.__new__(Client)
    try:
        client.__init__(address, timeout=f"{timeout}s", set_as_default=False)
    except Exception as exc:  # noqa: BLE001 - the scheduler went away meanwhile
        close_quietly(client, None)
        raise refuse(_explained(exc)) from None
    return client


# -- a local cluster --------------------------------------------------------------------------


def _drop_dask_leftover(var: str) -> None:
    """Remove ``var`` from this process's environment when it holds Dask's default: an
    earlier cluster's nanny put it there, and the workers would inherit it."""
    import dask

    default = dask.config.get(f"distributed.nanny.pre-spawn-environ.{var}", None)
    if default is not None and os.environ.get(var) == str(default):
        del os.environ[var]


def _worker_settings(threads: int) -> tuple[dict, dict]:
    """(the workers' environment, Dask's settings while the cluster starts)."""
    import dask

    from .tasks import thread_environment
    from .worker_start import dask_setup

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
    # no statistical profiler sampling every task's stack each 10 ms (about 10 %), and
    # workers that ignore the terminal's Ctrl-C (``worker_start``): the client stops them
    return env, {"distributed.nanny.pre-spawn-environ": spawn,
                 "distributed.worker.profile.enabled": False,
                 "distributed.worker.preload": [dask_setup.__module__]}  # fmt: skip


def worker_python() -> str:
    """The interpreter for local worker processes: this installation's Python, checked
    to import the standard library, this package and Dask (``find_python``).

    Raises:
        LczError: none found; the message names every place tried.
    """
    from ..common.python_exe import find_python

    return find_python(modules=("_csv", "distributed"))


def local_client(workers: int, threads: int, dashboard: bool = False,
                 start_timeout: float = WORKER_START_S, feedback=None):  # fmt: skip
    """A client of a new LocalCluster of ``workers`` processes, all on 127.0.0.1.

    Args:
        workers: worker processes (one task at a time each).
        threads: threads per task (TensorFlow, OpenMP), set in the workers' environment.
        dashboard: serve Dask's dashboard on 127.0.0.1 (a free port), else none.
        start_timeout: seconds for every worker to start.
        feedback: its cancel is checked every second while the workers start; it is told
            when they start and as each joins.

    Returns:
        (client, cluster); close both at the end.

    Raises:
        LczError: no usable Python for the workers, or they did not all start in time.
        Cancelled: the user cancelled while they started (nothing is left running).
    """
    import multiprocessing.spawn

    import dask
    from distributed import Client, LocalCluster

    python = worker_python()
    n = max(1, int(workers))
    _say(feedback, f"starting {n} local Dask worker(s)...")
    multiprocessing.spawn.set_executable(python)
    env, settings = _worker_settings(threads)
    if not dashboard:  # no pages about the run's tasks and workers, only /health
        settings["distributed.scheduler.http.routes"] = ["distributed.http.health"]
    _drop_dask_leftover("MALLOC_TRIM_THRESHOLD_")
    client = cluster = None
    try:
        with dask.config.set(settings):
            # the scheduler's HTTP server (/health; the dashboard and its pages only if
            # asked) on 127.0.0.1 at a free port
            cluster = LocalCluster(
                n_workers=0, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address="127.0.0.1:0", scheduler_kwargs={"dashboard": dashboard},
                env=env, silence_logs=40,
            )  # fmt: skip
            client = Client(cluster, set_as_default=False)
            cluster.scale(n)
            _wait_for_workers(client, n, start_timeout, feedback)
    except Cancelled:
        close_quietly(client, cluster, failed=True)
        raise
    except Exception as exc:  # noqa: BLE001 - Dask's own errors here: workers that died
        close_quietly(client, cluster, failed=True)
        raise LczError(
            f"the local Dask workers did not start within {start_timeout:g} s "
            f"({first_line(exc)[:160]}); the workers' Python is {python}"
        ) from None
    except BaseException:  # Ctrl-C or cancel while it starts: nothing left running
        close_quietly(client, cluster, failed=True)
        raise
    return client, cluster


def _say(feedback, message: str) -> None:
    """``message`` on ``feedback`` when it takes messages (a bare cancel check may not)."""
    info = getattr(feedback, "info", None)
    if info is not None:
        info(message)


def _wait_for_workers(client, n: int, timeout: float, feedback) -> None:
    """Wait until ``n`` workers have joined, at most ``timeout`` s, saying on ``feedback``
    as each joins ("worker 1 of 2 started (3.2 s)"); cancel is checked every second."""
    import time

    t0 = time.monotonic()
    deadline, seen = t0 + timeout, 0
    while True:
        left = deadline - time.monotonic()
        try:
            client.wait_for_workers(n, timeout=max(0.1, min(1.0, left)))
            done = True
        except TimeoutError:
            if left <= 1.0:
                raise
            done = False
        joined = n if done else min(n, len(client.scheduler_info().get("workers", ())))
        for k in range(seen + 1, joined + 1):
            _say(feedback, f"worker {k} of {n} started ({time.monotonic() - t0:.1f} s)")
        seen = max(seen, joined)
        if done:
            return
        if feedback is not None and feedback.is_cancelled():
            raise Cancelled()


def _stop_workers(cluster) -> None:
    """Kill the worker processes of a LocalCluster's nannies (started or still starting),
    the nannies told to close rather than restart them."""
    if cluster is None:
        return
    from distributed.core import Status

    nannies = [*getattr(cluster, "workers", {}).values(), *getattr(cluster, "_created", ())]
    for nanny in nannies:  # a nanny closing gracefully closes when its worker exits
        with contextlib.suppress(AttributeError, ValueError):
            if nanny.status not in (Status.closing, Status.closed, Status.failed):
                nanny.status = Status.closing_gracefully
    for nanny in nannies:
        with contextlib.suppress(AttributeError, TypeError, OSError):
            proc = nanny.process.process
            if proc.exitcode is None and proc.pid:  # still running (not yet reaped)
                os.kill(proc.pid, getattr(signal, "SIGKILL", signal.SIGTERM))


def close_quietly(client, cluster, timeout: float = 5, failed: bool = False) -> None:
    """Close ``client`` and ``cluster`` (either may be None or half made) without their
    log lines or exceptions; kill worker processes that do not stop (all of them first
    when the cluster ``failed`` to start)."""
    log = logging.getLogger("distributed")
    level = log.level
    log.setLevel(logging.CRITICAL + 1)
    try:
        if failed:
            _stop_workers(cluster)
        for obj in (client, cluster):
            if obj is None:
                continue
            with contextlib.suppress(Exception):
                obj.close(timeout=timeout)
            if obj is client:  # its __del__ would wait for a scheduler that never came
                with contextlib.suppress(Exception):
                    obj.status = "closed"
        _stop_workers(cluster)  # any that did not stop
    finally:
        log.setLevel(level)


def start_client(scheduler: str, workers: int, threads: int, timeout: float = CONNECT_TIMEOUT_S,
                 dashboard: bool = False, feedback=None):  # fmt: skip
    """A Dask client: on a new LocalCluster (``local``) or connected to ``scheduler``.

    Args:
        scheduler: ``local`` or a scheduler address (``tcp://host:8786``).
        workers: worker processes of a LocalCluster.
        threads: threads per task (TensorFlow, OpenMP), set in the workers' environment.
        timeout: seconds to reach a remote scheduler (connection and handshake).
        dashboard: a LocalCluster serves Dask's dashboard on 127.0.0.1.
        feedback: its cancel is checked while a LocalCluster's workers start.

    Returns:
        (client, cluster or None); close both at the end.

    Raises:
        LczError: the scheduler does not answer as one, or local workers do not start.
    """
    if scheduler == "local":
        return local_client(workers, threads, dashboard, feedback=feedback)
    return connect_client(scheduler, timeout), None
