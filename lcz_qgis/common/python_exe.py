"""The Python interpreter that matches the running one, found and tried before use.

Child Python processes (Dask's worker processes, pip run by ``dependencies.install``) need an
interpreter of the same installation as the running Python. ``sys.executable`` is not
always one: inside QGIS it is the QGIS program itself (Windows, macOS) or whatever
``python3`` comes first on PATH (a pyenv, conda or Homebrew Python of another version,
whose workers die at start with ``No module named '_csv'``). ``find_python`` lists the
places each platform's installers put that interpreter (OSGeo4W and the QGIS Windows
installer, QGIS.app on macOS, a venv or the system Python on Linux), runs each candidate
briefly (it must print the same Python version and installation prefix, import the
standard library's ``_csv`` and find this package) and returns the first that works,
or raises an ``LczError`` naming every place it tried and why each failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import LczError

CHECK_TIMEOUT_S = 20.0  # one candidate's trial run (a cold start on Windows takes seconds)

# what a candidate runs: its version and prefixes, and what it cannot import
_CHECK_CODE = """\
import importlib, json, sys
found = {"version": list(sys.version_info[:2]), "prefix": sys.prefix,
         "base_prefix": sys.base_prefix, "missing": []}
sys.path.insert(0, sys.argv[1])
for name in sys.argv[2:]:
    try:
        importlib.import_module(name)
    except Exception:
        found["missing"].append(name)
print("LCZ-PYTHON " + json.dumps(found))
"""


@dataclass(frozen=True)
class Interpreter:
    """What the Python interpreter to match is: the running one unless overridden.

    Attributes:
        platform: ``sys.platform`` (``win32``, ``darwin``, ``linux``).
        executable: ``sys.executable`` (inside QGIS: the QGIS program, or a stranger's
            python3).
        prefix, base_prefix: ``sys.prefix`` and ``sys.base_prefix``.
        version: (major, minor).
    """

    platform: str
    executable: str
    prefix: str
    base_prefix: str
    version: tuple

    @classmethod
    def running(cls, platform=None, executable=None, prefix=None, base_prefix=None,
                version=None) -> Interpreter:  # fmt: skip
        """The running interpreter, with any of its attributes overridden (tests)."""
        if prefix is None:
            prefix, base_prefix = (
                sys.prefix,
                sys.base_prefix if base_prefix is None else base_prefix,
            )
        return cls(
            platform if platform is not None else sys.platform,
            executable if executable is not None else (sys.executable or ""),
            prefix,
            base_prefix if base_prefix is not None else prefix,
            tuple(version if version is not None else sys.version_info[:2]),
        )

    @property
    def prefixes(self) -> set[str]:
        """The installation folders a matching interpreter may report (resolved)."""
        return {_resolved(p) for p in (self.prefix, self.base_prefix) if p}


def _resolved(path: str) -> str:
    try:
        return os.path.normcase(str(Path(path).resolve()))
    except (OSError, RuntimeError):
        return os.path.normcase(str(path))


def candidates(me: Interpreter) -> list[Path]:
    """Where ``me``'s interpreter may be, most likely first, without duplicates.

    - any platform: ``executable`` itself when it is named ``python*``;
    - Windows (OSGeo4W, the QGIS installer): ``prefix`` and ``base_prefix`` +
      ``python.exe``, then ``<root>/apps/Python3*/python.exe`` and
      ``<root>/bin/python3.exe`` (``root``: two folders above the QGIS program, or above
      the prefix's ``apps`` folder);
    - macOS (QGIS.app): ``Contents/MacOS/bin/python3`` beside the QGIS program, then
      ``prefix/bin/python3.X`` and ``prefix/bin/python3``;
    - Linux and others: ``prefix/bin/python3.X``, ``prefix/bin/python3`` (the same for
      ``base_prefix``), ``/usr/bin/python3.X``, ``/usr/bin/python3``.
    """
    exe = Path(me.executable) if me.executable else None
    major, minor = me.version[0], me.version[1]
    found: list[Path] = []
    if exe is not None and exe.name.lower().startswith("python"):
        found.append(exe)
    prefixes = [Path(p) for p in dict.fromkeys((me.prefix, me.base_prefix)) if p]
    if me.platform.startswith(("win", "cygwin")):
        found += [p / "python.exe" for p in prefixes]
        roots = [exe.parent.parent] if exe is not None else []
        roots += [p.parent.parent for p in prefixes if p.parent.name.lower() == "apps"]
        for root in dict.fromkeys(roots):
            apps = root / "apps"
            found += sorted(apps.glob("Python3*/python.exe"), reverse=True) if apps.is_dir() else []
            found.append(root / "bin" / "python3.exe")
    elif me.platform == "darwin":
        if exe is not None:
            found.append(exe.parent / "bin" / "python3")
        found += [p / "bin" / n for p in prefixes for n in (f"python{major}.{minor}", "python3")]
    else:
        found += [p / "bin" / n for p in prefixes for n in (f"python{major}.{minor}", "python3")]
        found += [Path(f"/usr/bin/python{major}.{minor}"), Path("/usr/bin/python3")]
    return list(dict.fromkeys(found))


def check_python(path: Path, me: Interpreter, package_dir: str | None, modules=("_csv",),
                 timeout: float = CHECK_TIMEOUT_S) -> str | None:  # fmt: skip
    """Why the interpreter ``path`` does not match ``me`` (None when it does).

    It is run once (``-c``, at most ``timeout`` seconds): it must report ``me``'s
    version and one of its prefixes, and import ``modules`` with ``package_dir`` first
    on its path.
    """
    if not path.is_file():
        return "not there"
    if not os.access(path, os.X_OK):
        return "not executable"
    try:
        res = subprocess.run(
            [str(path), "-c", _CHECK_CODE, package_dir or "", *modules], capture_output=True,
            text=True, timeout=timeout, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return f"did not answer within {timeout:g} s"
    except OSError as exc:
        return f"cannot run: {exc.strerror or exc}"
    line = next((s for s in res.stdout.splitlines() if s.startswith("LCZ-PYTHON ")), None)
    try:
        got = json.loads(line[len("LCZ-PYTHON ") :]) if line else None
        version = tuple(got["version"])
        prefixes = {_resolved(got["prefix"]), _resolved(got["base_prefix"])}
        missing = list(got["missing"])
    except (TypeError, ValueError, KeyError, AttributeError):
        tail = (res.stderr.strip().splitlines() or [f"exit status {res.returncode}"])[-1]
        return f"not a working Python ({tail[:120]})"
    if version[:2] != tuple(me.version[:2]):
        return f"Python {'.'.join(map(str, version))}, not {'.'.join(map(str, me.version))}"
    if not prefixes & me.prefixes:
        return f"another installation ({got['prefix']})"
    if missing:
        return f"cannot import {', '.join(missing)}"
    return None


_FOUND: dict = {}


def find_python(platform=None, executable=None, prefix=None, base_prefix=None, version=None,
                package_dir=None, modules=("_csv",), extra=(),
                timeout: float = CHECK_TIMEOUT_S) -> str:  # fmt: skip
    """The path of a Python interpreter of the running installation that works.

    Args:
        platform, executable, prefix, base_prefix, version: override what is known of
            the running interpreter (``sys.platform``, ``sys.executable``, ...): tests.
        package_dir: a folder the interpreter must import ``modules`` from (default:
            the folder holding this package, so ``lcz_qgis`` must be importable).
        modules: modules it must import (default: the standard library's ``_csv``;
            ``lcz_qgis`` is added with the default ``package_dir``).
        extra: more candidates, tried first.
        timeout: seconds each candidate may take to answer.

    Returns:
        The first candidate (``candidates``) that reports the same version and prefix
        and imports ``modules``; remembered for the process.

    Raises:
        LczError: none works; the message lists each place tried and why it failed.
    """
    me = Interpreter.running(platform, executable, prefix, base_prefix, version)
    if package_dir is None:
        package_dir = str(Path(__file__).resolve().parents[2])
        modules = (*modules, Path(__file__).resolve().parents[1].name)
    tried = [Path(p) for p in extra] + candidates(me)
    key = (me, package_dir, tuple(modules), tuple(map(str, tried)))
    if key in _FOUND:
        return _FOUND[key]
    failures = []
    for cand in dict.fromkeys(tried):
        why = check_python(cand, me, package_dir, modules, timeout)
        if why is None:
            _FOUND[key] = str(cand)
            return str(cand)
        failures.append(f"{cand}: {why}")
    raise LczError(
        f"cannot find the Python {'.'.join(map(str, me.version))} interpreter of this "
        f"installation (prefix {me.prefix}) to start Python processes; tried " + "; ".join(failures)
    )
