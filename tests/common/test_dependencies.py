"""Installing the dependencies from inside QGIS (issue 23, item 4): what is missing for
what, the pins for this Python and numpy, and ``install`` driven headless into temporary
folders from local wheels (written here) with pip of this installation: the folder is
appended to ``sys.path`` of a fresh QGIS Python, whose own numpy stays the one imported;
the installation's packages are never installed again; a cancel ends pip and leaves the
folder as it was; an upgrade replaces the earlier version's files, and shared folders
(``google/``) are merged. The Python finder's layouts per OS are tested in
tests/cluster/test_worker_python.py."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
from helpers import REPO

from lcz_qgis.common.dependencies import (
    CONSTRAINTS_DIR,
    FEATURES,
    NEEDS,
    InstallResult,
    add_to_path,
    constraints_file,
    constraints_text,
    install,
    missing,
    move_in,
    numpy_version,
    target_dir,
)
from lcz_qgis.common.errors import Cancelled, LczError
from lcz_qgis.common.feedback import Feedback, RecordingFeedback

QGIS_PYTHON = "/usr/bin/python3"  # the Python QGIS embeds on Debian


def write_wheel(folder: Path, name: str, version: str, files: dict, requires=()) -> Path:
    """A pure-Python wheel of ``files`` (path -> text) that needs ``requires``."""
    dist = f"{name.replace('-', '_')}-{version}"
    members = dict(files)
    members[f"{dist}.dist-info/METADATA"] = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        + "".join(f"Requires-Dist: {r}\n" for r in requires)
    )
    members[f"{dist}.dist-info/WHEEL"] = (
        "Wheel-Version: 1.0\nGenerator: lcz-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    record = []
    for path, text in members.items():
        digest = hashlib.sha256(text.encode()).digest()
        b64 = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
        record.append(f"{path},sha256={b64},{len(text.encode())}")
    members[f"{dist}.dist-info/RECORD"] = "\n".join([*record, f"{dist}.dist-info/RECORD,,"]) + "\n"
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"{dist}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        for path, text in members.items():
            z.writestr(path, text)
    return wheel


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> Path:
    """lczprobe 0.9 and 1.0 (needing numpy and lczprobe-dep), lczprobe-dep, a numpy 99
    that must never be installed, and two packages sharing the ``lczns`` folder."""
    d = tmp_path_factory.mktemp("wheels")
    write_wheel(d, "lczprobe", "0.9", {"lczprobe/__init__.py": "VALUE = 9\n",
                                       "lczprobe/old_only.py": ""}, ["lczprobe-dep"])  # fmt: skip
    write_wheel(d, "lczprobe", "1.0", {"lczprobe/__init__.py": "import lczprobe_dep\nVALUE = 42\n"},
                ["numpy>=1.0", "lczprobe-dep"])  # fmt: skip
    write_wheel(d, "lczprobe-dep", "2.0", {"lczprobe_dep/__init__.py": "X = 1\n"})
    write_wheel(d, "numpy", "99.0", {"numpy/__init__.py": "raise ImportError('pip numpy')\n"})
    write_wheel(d, "lczns-a", "1.0", {"lczns/a/__init__.py": "A = 1\n"})
    write_wheel(d, "lczns-b", "1.0", {"lczns/b/__init__.py": "B = 1\n"})
    write_wheel(d, "lczneedsnew", "1.0", {"lczneedsnew/__init__.py": ""}, ["numpy>=50"])
    write_wheel(d, "lczneedsfiona", "1.0", {"lczneedsfiona/__init__.py": ""}, ["fiona"])
    write_wheel(d, "fiona", "9.0", {"fiona/__init__.py": ""})
    return d


def _snapshot(folder: Path) -> dict:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def _qgis_python_imports(target: Path, *modules: str) -> dict:
    """A fresh QGIS Python (QgsApplication offscreen) that adds ``target`` with
    ``add_to_path`` and imports ``modules`` and numpy: where each came from."""
    if not os.path.exists(QGIS_PYTHON):
        pytest.skip(f"{QGIS_PYTHON} is not installed")
    code = (
        "import importlib, json, sys\n"
        "from qgis.core import QgsApplication\n"
        "app = QgsApplication([], False)\n"
        "app.initQgis()\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "from lcz_qgis.common.dependencies import add_to_path\n"
        "assert add_to_path(sys.argv[1])\n"
        "import numpy\n"
        "got = {'last': sys.path[-1], 'numpy': numpy.__file__, 'numpy_version': numpy.__version__}\n"
        "for m in sys.argv[2:]:\n"
        "    got[m] = importlib.import_module(m).__file__\n"
        "print('RESULT ' + json.dumps(got))\n"
        "app.exitQgis()\n"
    )  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["QT_QPA_PLATFORM"] = "offscreen"
    res = subprocess.run([QGIS_PYTHON, "-c", code, str(target), *modules], capture_output=True,
                         text=True, timeout=300, env=env)  # fmt: skip
    line = next((s for s in res.stdout.splitlines() if s.startswith("RESULT ")), None)
    assert line, res.stderr[-2000:]
    return json.loads(line[len("RESULT ") :])


# -- what is missing for what, and the pins ------------------------------------------------


def test_missing_says_what_is_missing_for_what(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # blocked = not installed
    monkeypatch.setitem(sys.modules, "skops", None)
    got = missing(["classify", "forests"])
    assert [(n.feature, n.module, n.package) for n in got] == [
        ("classify", "onnxruntime", "onnxruntime"),
        ("forests", "skops", "skops"),
    ]
    assert all(n.pip for n in got)
    assert not [n for n in missing() if n.module in ("numpy", "h5py")]  # here they are
    monkeypatch.setitem(sys.modules, "h5py", None)
    h5 = [n for n in missing(["classify"]) if n.module == "h5py"]
    assert h5 and not h5[0].pip  # from QGIS's distribution, never pip
    assert {n.feature for n in NEEDS} == set(FEATURES)
    with pytest.raises(LczError, match="unknown feature"):
        missing(["painting"])


def test_the_pins_suit_the_python_and_numpy():
    assert constraints_file(version=(3, 11), numpy="1.24.2").name == "debian12-py311.txt"
    assert constraints_file(version=(3, 13), numpy="2.2.4").name == "py312-313-numpy2.txt"
    assert constraints_file(version=(3, 12), numpy="2.0.0").name == "py312-313-numpy2.txt"
    assert constraints_file(version=(3, 12), numpy="1.26.4") is None  # no tested set
    assert constraints_file(version=(3, 14), numpy="2.3.0") is None
    # what is installed wins over the file's pin: it is the copy that is imported
    text = constraints_text(constraints_file(version=(3, 11), numpy="1.24.2"),
                            {"numpy": "1.24.2", "protobuf": "3.21.12"})  # fmt: skip
    lines = text.splitlines()
    assert "numpy==1.24.2" in lines and "protobuf==3.21.12" in lines
    assert "numpy<2" not in lines and "protobuf==4.25.9" not in lines
    assert "onnxruntime==1.32.0" in lines and "tensorflow-cpu==2.17.1" in lines


def test_the_pins_ship_with_the_plugin():
    makefile = (REPO / "Makefile").read_text()
    shipped = re.search(r"^PLUGIN_FILES :=(.*?)(?<!\\)$", makefile, re.M | re.S).group(1)
    shipped = shipped.replace("\\\n", " ").split()
    assert CONSTRAINTS_DIR.relative_to(REPO).parts[0] in shipped
    assert "install_dialog.py" in shipped


def test_the_folder_is_per_python_and_numpy_and_appended(tmp_path, monkeypatch):
    folder = target_dir(tmp_path, version=(3, 12), numpy="2.1.0")
    assert folder == tmp_path / "lcz_mapping" / "python" / "py312-numpy2"
    monkeypatch.setattr(sys, "path", list(sys.path))
    assert not add_to_path(folder)  # not there yet: nothing added
    folder.mkdir(parents=True)
    assert add_to_path(folder) and sys.path[-1] == str(folder)
    assert add_to_path(folder) and sys.path.count(str(folder)) == 1


# -- install: headless, from local wheels ----------------------------------------------------


def test_install_from_local_wheels_keeps_qgis_numpy(tmp_path, wheels):
    target = target_dir(tmp_path, numpy=numpy_version())
    feedback = RecordingFeedback()
    result = install(["lczprobe"], target, feedback, find_links=str(wheels))
    assert isinstance(result, InstallResult) and result.ok
    assert result.installed == ["lczprobe==1.0", "lczprobe-dep==2.0"]
    # numpy 99 was offered, and lczprobe needs numpy: this Python's own numpy is kept
    assert not (target / "numpy").exists()
    assert not list(target.glob("numpy-*"))
    assert sorted(p.name for p in target.iterdir()) == [
        "lczprobe", "lczprobe-1.0.dist-info", "lczprobe_dep", "lczprobe_dep-2.0.dist-info"]  # fmt: skip
    # pip's log reached the feedback line by line, and the result is said
    assert any(
        "Successfully installed lczprobe-1.0 lczprobe-dep-2.0" in m for m in feedback.messages
    )
    assert feedback.messages[-1].startswith("Installed lczprobe==1.0, lczprobe-dep==2.0 into")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lcz_mapping"]  # no staging left
    assert sorted(p.name for p in target.parent.iterdir()) == [target.name]
    # a numpy put into the folder by anyone loses against QGIS's own
    (target / "numpy").mkdir()
    (target / "numpy" / "__init__.py").write_text("raise ImportError('shadowed')\n")
    got = _qgis_python_imports(target, "lczprobe", "lczprobe_dep")
    assert got["last"] == str(target)
    assert got["lczprobe"] == str(target / "lczprobe" / "__init__.py")
    assert not got["numpy"].startswith(str(target)) and got["numpy_version"] == numpy_version()
    # a second install finds everything there
    again = install(["lczprobe"], target, RecordingFeedback(), find_links=str(wheels))
    assert again.installed == [] and again.summary().startswith("Nothing to install")


def test_an_upgrade_replaces_the_old_files_and_shared_folders_merge(tmp_path, wheels):
    target = tmp_path / "py"
    install(["lczprobe==0.9", "lczns-a"], target, Feedback(), find_links=str(wheels))
    assert (target / "lczprobe" / "old_only.py").exists()
    install(["lczprobe==1.0", "lczns-b"], target, Feedback(), find_links=str(wheels))
    assert not (target / "lczprobe" / "old_only.py").exists()
    assert not (target / "lczprobe-0.9.dist-info").exists()
    assert "VALUE = 42" in (target / "lczprobe" / "__init__.py").read_text()
    assert (target / "lczns" / "a" / "__init__.py").exists()  # kept: lczns-a's
    assert (target / "lczns" / "b" / "__init__.py").exists()


def test_what_cannot_suit_this_python_is_one_clear_error(tmp_path, wheels):
    target = tmp_path / "py"
    with pytest.raises(LczError) as err:
        install(["lczneedsnew"], target, Feedback(), find_links=str(wheels))
    text = str(err.value)
    assert "lczneedsnew 1.0 depends on numpy>=50" in text
    assert f"kept or pinned: numpy=={numpy_version()}" in text and "\n" not in text
    with pytest.raises(LczError, match="No matching distribution found for lcz-nothing"):
        install(["lcz-nothing"], target, Feedback(), find_links=str(wheels))
    if "fiona" not in sys.modules and not _has("fiona"):
        with pytest.raises(LczError, match="need 'fiona', which this Python does not have.*"
                                           "python3-fiona"):  # fmt: skip
            install(["lczneedsfiona"], target, Feedback(), find_links=str(wheels))
    assert not target.exists() and sorted(p.name for p in tmp_path.iterdir()) == []


def _has(module: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_a_failed_move_puts_everything_back(tmp_path):
    target, new = tmp_path / "target", tmp_path / "new"
    (target / "pkg").mkdir(parents=True)
    (target / "pkg" / "__init__.py").write_text("old\n")
    (new / "pkg").mkdir(parents=True)
    (new / "pkg" / "__init__.py").write_text("new\n")
    (new / "zzz").mkdir()
    (new / "zzz" / "f.py").write_text("")
    (target / "zzz").write_text("a file where the new folder goes\n")  # cannot be replaced
    before = _snapshot(target)
    with pytest.raises(LczError, match="nothing was changed"):
        move_in(new, target, tmp_path / "aside")
    assert _snapshot(target) == before
    assert (new / "pkg" / "__init__.py").read_text() == "new\n"


# -- cancel -----------------------------------------------------------------------------------


def _earlier_install(target: Path) -> Path:
    """A folder as an earlier install left it: lczprobe 0.9 (which 1.0 would replace)."""
    (target / "lczprobe").mkdir(parents=True)
    (target / "lczprobe" / "__init__.py").write_text("VALUE = 9\n")
    (target / "lczprobe-0.9.dist-info").mkdir()
    (target / "lczprobe-0.9.dist-info" / "RECORD").write_text("lczprobe/__init__.py,,\n")
    return target


class _CancelWhen(Feedback):
    """Cancels once ``when()`` is true; keeps the messages."""

    def __init__(self, when):
        self.when, self.messages = when, []

    def info(self, message):
        self.messages.append(message)

    def is_cancelled(self):
        return self.when(self)


def test_cancel_ends_pip_and_leaves_the_folder_as_it_was(tmp_path, wheels, monkeypatch):
    """pip waits on a loopback index that never answers; the cancel must end it (its
    connection closes) within seconds, not after pip's own timeouts."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    target = _earlier_install(tmp_path / "py")
    before = _snapshot(target)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(60)
    connections = []
    threading.Thread(target=lambda: connections.append(server.accept()[0]), daemon=True).start()
    t0 = time.monotonic()
    with pytest.raises(Cancelled):
        install(["lczprobe==1.0"], target, _CancelWhen(lambda f: bool(connections)),
                index_url=f"http://127.0.0.1:{server.getsockname()[1]}/simple")  # fmt: skip
    assert time.monotonic() - t0 < 60
    conn = connections[0]
    conn.settimeout(10)
    received = b""
    while chunk := conn.recv(65536):  # pip asked, then its end closed the connection
        received += chunk
    assert received.startswith(b"GET /simple/lczprobe/")
    server.close()
    assert _snapshot(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["py"]  # no staging left


def test_cancel_while_pip_installs_leaves_the_folder_as_it_was(tmp_path, wheels):
    target = _earlier_install(tmp_path / "py")
    before = _snapshot(target)
    feedback = _CancelWhen(lambda f: bool(_after_resolving(f.messages)))
    with pytest.raises(Cancelled):
        install(["lczprobe==1.0"], target, feedback, find_links=str(wheels))
    assert _after_resolving(feedback.messages)[0].startswith("Looking in")  # pip's 2nd run
    assert _snapshot(target) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["py"]


def _after_resolving(messages: list[str]) -> list[str]:
    """The messages after pip's dry run said what it would install."""
    ends = [i for i, m in enumerate(messages) if m.startswith("Would install")]
    return messages[ends[0] + 1 :] if ends else []


# -- onnxruntime itself, into QGIS's Python, when a local index holds it --------------------

LOCAL_INDEX = Path("/opt/pypi/simple")


@pytest.mark.skipif(not (LOCAL_INDEX / "onnxruntime").is_dir(), reason="no local package index")
def test_onnxruntime_installs_into_qgis_python_and_imports_there(tmp_path):
    if not os.path.exists(QGIS_PYTHON) or _runs(QGIS_PYTHON, "import onnxruntime"):
        pytest.skip(f"{QGIS_PYTHON} is missing or has onnxruntime already")
    target = tmp_path / "py"
    empty = tmp_path / "no-pins.txt"  # the shipped pin (1.32.0) is not in the local index
    empty.write_text("")
    result = install(["onnxruntime"], target, Feedback(), index_url=LOCAL_INDEX.as_uri(),
                     python=QGIS_PYTHON, constraints=empty)  # fmt: skip
    assert result.ok and result.installed[0].startswith("onnxruntime==")
    assert not (target / "numpy").exists()
    got = _qgis_python_imports(target, "onnxruntime")
    assert got["onnxruntime"].startswith(str(target))
    assert got["numpy"].startswith("/usr/lib/python3/") and got["numpy_version"] == numpy_version()


def _runs(python: str, code: str) -> bool:
    return subprocess.run([python, "-c", code], capture_output=True, timeout=120).returncode == 0


def test_no_pip_is_one_clear_error(tmp_path):
    fake = tmp_path / "python3"
    fake.write_text("#!/bin/sh\necho 'No module named pip' >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(LczError, match="pip is not installed for this Python .*python3-pip"):
        install(["onnxruntime"], tmp_path / "py", Feedback(), python=str(fake))
