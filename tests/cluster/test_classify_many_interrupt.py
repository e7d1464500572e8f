"""Ctrl-C in the terminal during a classify-many run (issue 21, finding 9): the terminal
sends SIGINT to the whole foreground process group, the `lcz` client and its Dask worker
processes alike. The user gets one "cancelled" line and exit status 130; no worker
prints a KeyboardInterrupt traceback, and no process is left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from helpers import REPO

from lcz_qgis.cluster.tasks import attempts_dir


def _descendants(pid: int) -> set[int]:
    import psutil

    try:
        return {p.pid for p in psutil.Process(pid).children(recursive=True)}
    except psutil.NoSuchProcess:
        return set()


def test_ctrl_c_gives_one_cancelled_line_and_no_worker_traceback(four, rf_model, tmp_path):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "lcz_qgis", "classify-many", "--inputs", str(four["nw"]),
           "--model", str(rf_model), "--output-folder", str(out), "--workers", "2",
           "--tile-size", "3"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and proc.poll() is None:
        if (out / ".lcz-work" / "attempts").is_dir() and any(
            attempts_dir(out, p.name).glob("*.json")
            for p in (out / ".lcz-work" / "attempts").iterdir()
        ):
            break  # the workers run tasks
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()[1][-2000:]
    workers = _descendants(proc.pid)
    assert workers, "no worker process"
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr[-3000:]
    assert stderr.count("cancelled") == 1, stderr[-3000:]
    time.sleep(1)
    assert not {p for p in workers if os.path.exists(f"/proc/{p}")
                and open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"}  # fmt: skip
    assert not (out / ".lcz-classify-many.lock").exists()
