"""Stale temporaries are removed only when their writer is gone (lcz_qgis.common.atomic).

Two runs writing the same output at once: the later run must not remove the earlier
run's live ``*.lcz-partial-*`` file. Each temporary names its writer's pid and host;
a later run removes those of dead processes of this host, those of other hosts once a
day old, and those named the old way (no writer) once older than its start.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from lcz_qgis.common.atomic import (
    PARTIAL,
    STALE_AGE,
    StagedOutputs,
    host_tag,
    partial_path,
    remove_stale_partials,
)


def _partial(folder, pid, host=None, age=3600.0, name="map.tif"):
    p = folder / f"{name}{PARTIAL}{pid}.{host or host_tag()}-abcd1234.tif"
    p.write_bytes(b"being written")
    t = time.time() - age
    os.utime(p, (t, t))
    return p


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_temporary_names_its_writer():
    p = partial_path("/tmp/map.tif")
    assert p.name.startswith(f"map.tif{PARTIAL}{os.getpid()}.{host_tag()}-")
    assert p.suffix == ".tif"


def test_a_live_writers_temporary_survives_and_a_dead_ones_is_removed(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = _partial(tmp_path, sleeper.pid)
        dead = _partial(tmp_path, _dead_pid())
        removed = remove_stale_partials(tmp_path / "map.tif", time.time())
    finally:
        sleeper.kill()
        sleeper.wait()
    assert removed == [dead] and not dead.exists()
    assert live.read_bytes() == b"being written"
    # once its writer is gone, the next run removes it
    assert remove_stale_partials(tmp_path / "map.tif", time.time()) == [live]


def test_another_hosts_temporary_is_removed_only_after_a_day(tmp_path):
    other = "0" * 6 if host_tag() != "0" * 6 else "1" * 6
    recent = _partial(tmp_path, 1, other, age=STALE_AGE / 2)
    old = _partial(tmp_path, 2, other, age=STALE_AGE * 2, name="map.tif")
    assert remove_stale_partials(tmp_path / "map.tif", time.time()) == [old]
    assert recent.exists()


def test_two_runs_writing_the_same_output_keep_each_others_temporaries(tmp_path):
    target = tmp_path / "map.tif"
    target.write_bytes(b"earlier")
    first = StagedOutputs()
    t1 = first.temp(target)
    t1.write_bytes(b"first run")
    old = time.time() - 600
    os.utime(t1, (old, old))  # the first run has not written for a while
    second = StagedOutputs()  # started later, by another run of this live process
    t2 = second.temp(target)
    assert t1.read_bytes() == b"first run"  # the second run left it alone
    t2.write_bytes(b"second run")
    first.commit()
    assert target.read_bytes() == b"first run"
    second.commit()
    assert target.read_bytes() == b"second run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["map.tif"]
