"""--scheduler addresses that are not a Dask scheduler (issue 21, finding 5): a port that
accepts and never answers, a web server, tls:// without certificates, ucx://, ws:// to
a web server. Each is one LczError line within a bounded time, and the CLI exits 2 with
no traceback, no "Exception ignored" and no 20 s stall at exit; a real scheduler still
works."""

from __future__ import annotations

import http.server
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from helpers import REPO

from lcz_qgis.cluster.client import start_client
from lcz_qgis.common.errors import LczError


@pytest.fixture(scope="module")
def silent_port():
    """A TCP port on 127.0.0.1 that accepts connections and never says a word."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    held = []

    def accept():
        while True:
            try:
                held.append(srv.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield srv.getsockname()[1]
    srv.close()
    for c in held:
        c.close()


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def http_port():
    """A small web server on 127.0.0.1."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Quiet)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


CASES = {
    "silent": ("tcp://127.0.0.1:{silent}", "no Dask scheduler answered within 2 s"),
    # distributed 2025 waits for a handshake the HTTP server never sends; 2026 reads the
    # server's reply as a Dask message (test_another_servers_reply_...): either is told
    "http": (
        "tcp://127.0.0.1:{http}",
        ("no Dask scheduler answered within 2 s", "it answered, but not as a Dask scheduler"),
    ),
    "tls": ("tls://127.0.0.1:{http}", "tls:// needs certificates"),
    "ucx": ("ucx://127.0.0.1:{http}", "ucx:// needs UCX-Py"),
    "ws": ("ws://127.0.0.1:{http}", "Non-websocket response"),
    "malformed": ("tcp://[::1", "invalid address"),
}


@pytest.mark.parametrize("case", CASES)
def test_an_address_that_is_not_a_scheduler_is_one_clear_error_in_bounded_time(
    case, silent_port, http_port
):
    template, expected = CASES[case]
    address = template.format(silent=silent_port, http=http_port)
    t0 = time.monotonic()
    with pytest.raises(LczError) as info:
        start_client(address, 1, 1, timeout=2)
    assert time.monotonic() - t0 < 6  # connection and handshake: 2 s, at most
    text = str(info.value)
    assert "cannot reach the Dask scheduler at" in text and address in text
    assert any(e in text for e in ((expected,) if isinstance(expected, str) else expected))
    assert "\n" not in text


def test_another_servers_reply_read_as_a_huge_message_is_no_scheduler():
    """distributed 2026 reads an HTTP server's first bytes as the length of a message
    and fails to allocate exabytes (Debian 14's Python 3.14 environment, unpinned): that
    is a server answering, not a scheduler, said without the allocation's numbers."""
    from lcz_qgis.cluster.client import _explained

    exc = MemoryError("Unable to allocate 3.01 EiB for an array with shape (3471766442030158920,)")
    assert _explained(exc) == (
        "it answered, but not as a Dask scheduler (its reply is no Dask message)"
    )
    assert _explained(OSError("Connection refused")) == "Connection refused"


RUN_CLI = """
import sys
from lcz_qgis.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("case", ["silent", "tls"])
def test_the_cli_exits_2_at_once_with_one_line_and_no_stall(case, four, rf_model, silent_port,
                                                            http_port, tmp_path):  # fmt: skip
    address = CASES[case][0].format(silent=silent_port, http=http_port)
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", RUN_CLI, "classify-many", "--inputs", str(four["nw"]),
           "--model", str(rf_model), "--output-folder", str(out), "--scheduler", address]  # fmt: skip
    t0 = time.monotonic()
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    took = time.monotonic() - t0
    assert res.returncode == 2, res.stderr[-2000:]
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lcz classify-many: error: cannot reach"), lines
    assert "--scheduler" in lines[0]
    assert "Traceback" not in res.stderr and "Exception ignored" not in res.stderr
    assert took < 30, took  # the 10 s deadline, plus loading the model; no 20 s stall at exit
    assert not (out / ".lcz-classify-many.lock").exists()


def test_a_real_scheduler_still_connects(cluster):
    client, none = start_client(cluster, 1, 1, timeout=5)
    try:
        assert none is None and client.scheduler_info()["workers"]
    finally:
        client.close()
