"""A local classify-many run listens on the loopback interface only (issue 21, finding 1:
Dask's dashboard was served on 0.0.0.0): every listening socket of the `lcz` process and
of its nanny and worker processes, polled for the whole run, is on 127.0.0.0/8 or ::1,
with the dashboard off (the default) and with --dashboard."""

from __future__ import annotations

import ipaddress
import os
import subprocess
import sys
import time

import psutil
import pytest
from helpers import REPO


def _listening(root: psutil.Process) -> set[tuple[str, int, int]]:
    """(address, port, pid) of every TCP socket listening in ``root`` and its descendants."""
    found = set()
    try:
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return found
    for proc in procs:
        try:
            conns = proc.net_connections(kind="inet")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        for c in conns:
            if c.status == psutil.CONN_LISTEN and c.laddr:
                found.add((c.laddr.ip, c.laddr.port, proc.pid))
    return found


def _is_loopback(address: str) -> bool:
    return ipaddress.ip_address(address.split("%")[0]).is_loopback


@pytest.mark.parametrize("dashboard", [False, True], ids=["default", "dashboard"])
def test_a_local_run_listens_on_loopback_only_for_the_whole_run(four, rf_model, tmp_path,
                                                                dashboard):  # fmt: skip
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "lcz_qgis", "classify-many", "--inputs", str(four["nw"]),
           "--model", str(rf_model), "--output-folder", str(out), "--workers", "1"]  # fmt: skip
    if dashboard:
        cmd.append("--dashboard")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    root = psutil.Process(proc.pid)
    seen = set()
    deadline = time.monotonic() + 300
    while proc.poll() is None and time.monotonic() < deadline:
        seen |= _listening(root)
        time.sleep(0.05)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr[-2000:]
    assert (out / "tiles" / "nw.tif").exists()
    # the scheduler, the nanny and the worker each listened (the poll saw the cluster)
    pids = {pid for _, _, pid in seen}
    assert proc.pid in pids and len(pids) >= 2, seen
    outside = {s for s in seen if not _is_loopback(s[0])}
    assert not outside, f"listening outside loopback: {outside}"
    assert ("Dask dashboard (this machine only): http://127.0.0.1:" in stderr + stdout) is dashboard
