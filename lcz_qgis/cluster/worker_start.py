"""What every worker process of a local cluster runs at its start (a Dask preload).

A terminal's Ctrl-C sends SIGINT to its whole foreground process group: the ``lcz``
client and the worker processes it spawned alike. The client cancels the run and closes
its workers itself, so a worker ignores SIGINT rather than dying with a
``KeyboardInterrupt`` traceback each. Dask calls ``dask_setup`` in the worker's main
thread when the worker starts (respawned workers included); importing this module
does nothing.
"""

from __future__ import annotations

import signal
import threading


def dask_setup(worker=None) -> None:
    """Ignore SIGINT in this worker process (called by Dask in the worker's main thread)."""
    if threading.current_thread() is threading.main_thread() and hasattr(signal, "SIGINT"):
        signal.signal(signal.SIGINT, signal.SIG_IGN)
