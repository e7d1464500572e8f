"""The workers' Python (issue 21, finding 10): inside QGIS ``sys.executable`` is QGIS or a
stranger's python3, and workers started with it died and were respawned for ever.
``common.python_exe.find_python`` finds this installation's interpreter per OS layout
(fake layouts with small scripts standing in for interpreters), a run started from a
process whose ``sys.executable`` is unusable works or fails in one line within 60 s, and
workers that cannot start are given up within a bounded time."""

from __future__ import annotations

import json
import multiprocessing.spawn
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import REPO

from lcz_qgis.common.errors import LczError
from lcz_qgis.common.python_exe import Interpreter, check_python, find_python


def _fake_python(path: Path, version=(3, 12), prefix="", missing=()) -> Path:
    """A script that answers the finder's check as a Python of ``version`` and ``prefix``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    found = {"version": list(version), "prefix": str(prefix), "base_prefix": str(prefix),
             "missing": list(missing)}  # fmt: skip
    path.write_text(f"#!/bin/sh\necho 'LCZ-PYTHON {json.dumps(found)}'\n")
    path.chmod(0o755)
    return path


def _program(path: Path) -> Path:
    """A QGIS program: executable, but not a Python."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 3\n")
    path.chmod(0o755)
    return path


def _find(tmp_path, **kw) -> str:
    return find_python(version=(3, 12), package_dir=str(tmp_path), **kw)


def test_osgeo4w_on_windows_finds_the_prefix_s_python_exe(tmp_path):
    root = tmp_path / "OSGeo4W"
    exe = _program(root / "bin" / "qgis-bin.exe")
    prefix = root / "apps" / "Python312"
    good = _fake_python(prefix / "python.exe", prefix=prefix)
    assert _find(tmp_path, platform="win32", executable=str(exe), prefix=str(prefix)) == str(good)


def test_windows_falls_back_to_apps_python3x_and_bin_python3_exe(tmp_path):
    root = tmp_path / "QGIS 3.34"
    exe = _program(root / "bin" / "qgis-ltr-bin.exe")
    prefix = root / "apps" / "Python312"
    _fake_python(prefix / "python.exe", version=(3, 9), prefix=prefix)  # another version
    good = _fake_python(root / "bin" / "python3.exe", prefix=prefix)
    assert _find(tmp_path, platform="win32", executable=str(exe), prefix=str(prefix)) == str(good)
    (root / "bin" / "python3.exe").unlink()
    other = _fake_python(root / "apps" / "Python313" / "python.exe", version=(3, 12),
                         prefix=prefix)  # fmt: skip
    assert _find(tmp_path, platform="win32", executable=str(exe), prefix=str(prefix)) == str(other)


def test_qgis_app_on_macos_finds_contents_macos_bin_python3(tmp_path):
    app = tmp_path / "QGIS.app" / "Contents"
    exe = _program(app / "MacOS" / "QGIS")
    prefix = app / "Frameworks" / "Python.framework" / "Versions" / "3.12"
    good = _fake_python(app / "MacOS" / "bin" / "python3", prefix=prefix)
    assert _find(tmp_path, platform="darwin", executable=str(exe), prefix=str(prefix)) == str(good)


def test_linux_skips_a_stranger_s_python3_first_on_path(tmp_path):
    pyenv = _fake_python(tmp_path / "pyenv" / "bin" / "python3", version=(3, 12),
                         prefix=tmp_path / "pyenv")  # fmt: skip
    prefix = tmp_path / "usr"
    _fake_python(prefix / "bin" / "python3.12", prefix=prefix, missing=["_csv"])
    good = _fake_python(prefix / "bin" / "python3", prefix=prefix)
    got = _find(tmp_path, platform="linux", executable=str(pyenv), prefix=str(prefix))
    assert got == str(good)
    me = Interpreter.running("linux", str(pyenv), str(prefix), version=(3, 12))
    why = check_python(pyenv, me, str(tmp_path))
    assert why.startswith("another installation")


def test_none_working_is_one_error_naming_each_place_tried(tmp_path):
    root = tmp_path / "OSGeo4W"
    exe = _program(root / "bin" / "qgis-bin.exe")
    prefix = root / "apps" / "Python312"
    _fake_python(prefix / "python.exe", version=(3, 11), prefix=prefix)
    with pytest.raises(LczError) as info:
        _find(tmp_path, platform="win32", executable=str(exe), prefix=str(prefix))
    msg = str(info.value)
    assert msg.startswith("cannot find the Python 3.12 interpreter of this installation")
    assert f"{prefix / 'python.exe'}: Python 3.11, not 3.12" in msg
    assert f"{root / 'bin' / 'python3.exe'}: not there" in msg and "\n" not in msg


def test_a_candidate_that_hangs_is_given_up_after_the_timeout(tmp_path):
    prefix = tmp_path / "usr"
    slow = prefix / "bin" / "python3"
    slow.parent.mkdir(parents=True)
    slow.write_text("#!/bin/sh\nexec sleep 30\n")
    slow.chmod(0o755)
    t0 = time.monotonic()
    with pytest.raises(LczError, match="did not answer within 1 s"):
        _find(tmp_path, platform="linux", executable="/bin/false", prefix=str(prefix),
              timeout=1)  # fmt: skip
    assert time.monotonic() - t0 < 15


def test_the_running_interpreter_is_found_when_sys_executable_is_not_python():
    got = find_python(executable="/bin/false", modules=("_csv", "distributed"))
    res = subprocess.run([got, "-c", "import sys; print(sys.version_info[:2])"],
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    assert res.stdout.strip() == str(sys.version_info[:2])


UNUSABLE = """
import sys
sys.executable = sys.argv[1]
if sys.argv[2] == "stranger":  # and no Python of this installation anywhere
    sys.prefix = sys.base_prefix = "/nonexistent/prefix"
from lcz_qgis.cli import main
sys.exit(main(sys.argv[3:]))
"""


@pytest.mark.parametrize("case", ["qgis", "stranger"])
def test_a_run_from_a_process_whose_executable_is_not_python_works_or_fails_clearly(
    case, four, rf_model, tmp_path
):
    qgis = _program(tmp_path / "bin" / "qgis")
    out = tmp_path / "out"
    cmd = [sys.executable, "-c", UNUSABLE, str(qgis), case, "classify-many", "--inputs",
           str(four["nw"]), "--model", str(rf_model), "--output-folder", str(out),
           "--workers", "1"]  # fmt: skip
    t0 = time.monotonic()
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    assert time.monotonic() - t0 < 60
    assert "Traceback" not in res.stderr, res.stderr[-2000:]
    if case == "qgis":  # this installation's Python is found: a working run
        assert res.returncode == 0, res.stderr[-2000:]
        assert (out / "tiles" / "nw.tif").exists()
    else:
        assert res.returncode == 2
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and "cannot find the Python" in lines[0], lines
        assert str(qgis) in lines[0] or "/usr/bin/python3" in lines[0]


@pytest.fixture
def restored_spawn():
    before = multiprocessing.spawn.get_executable()
    yield
    multiprocessing.spawn.set_executable(before)


def test_workers_that_never_start_are_given_up_within_the_bounded_time(monkeypatch, tmp_path,
                                                                       restored_spawn):  # fmt: skip
    import lcz_qgis.cluster.client as client_mod

    hang = tmp_path / "python3"
    hang.write_text("#!/bin/sh\nexec sleep 300\n")
    hang.chmod(0o755)
    monkeypatch.setattr(client_mod, "worker_python", lambda: str(hang))
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()  # with this Python, before the spawn executable changes
    t0 = time.monotonic()
    with pytest.raises(LczError, match="did not start within 5 s") as info:
        client_mod.local_client(1, 1, start_timeout=5)
    assert time.monotonic() - t0 < 30
    assert str(hang) in str(info.value)
    time.sleep(1)
    left = subprocess.run(["pgrep", "-f", "sleep 300"], capture_output=True, text=True)
    mine = [p for p in left.stdout.split() if Path(f"/proc/{p}").exists()
            and str(os.getpid()) in _ancestors(int(p))]  # fmt: skip
    assert not mine, "a worker process was left running"


def _ancestors(pid: int) -> list[str]:
    out = []
    while pid > 1:
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
        out.append(str(pid))
    return out


class _CancelNow:
    def is_cancelled(self):
        return True


def test_cancel_while_workers_start_stops_at_once(monkeypatch, tmp_path, restored_spawn):
    import lcz_qgis.cluster.client as client_mod
    from lcz_qgis.common.errors import Cancelled

    hang = tmp_path / "python3"
    hang.write_text("#!/bin/sh\nexec sleep 300\n")
    hang.chmod(0o755)
    monkeypatch.setattr(client_mod, "worker_python", lambda: str(hang))
    from multiprocessing import resource_tracker

    resource_tracker.ensure_running()
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        client_mod.local_client(1, 1, start_timeout=60, feedback=_CancelNow())
    assert time.monotonic() - t0 < 15  # not the 60 s start timeout
