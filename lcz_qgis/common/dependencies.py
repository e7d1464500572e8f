"""The Python packages the plugin's work needs, and installing the missing ones with pip.

``missing`` says what is not installed for what (classify: onnxruntime; random forests:
scikit-learn, skops; deep models: TensorFlow; ...) without importing anything
(``importlib.util.find_spec``). ``install`` installs packages with the installation's own
Python (``python_exe.find_python``) into a folder of the plugin's own, which
``add_to_path`` APPENDS to ``sys.path``: whatever the installation already has (numpy,
GDAL, h5py, rasterio, QGIS's packages) comes first and is never replaced or shadowed.

How ``install`` keeps the installation's packages:

1. pip resolves the request (a dry run with a report) in the installation's own
   environment with the folder appended, under constraints: every distribution already
   installed there pinned to its installed version (it is the one imported, whatever
   the folder holds), the others to the pins of this Python and numpy in the plugin's
   ``constraints/`` files (when one suits them). Only wheels are used: nothing is built,
   so no package's code runs during the install.
2. Of the distributions pip would install, those that must share a C library with
   the installation (numpy, GDAL, h5py, rasterio, ...) are never installed: when the
   installation has them, its copy is used; when not, the install stops and says where
   to get them.
3. The rest are installed exactly as resolved (no dependencies) into a staging folder
   beside the target; only a complete, uncancelled install is moved in (entries of
   upgraded distributions moved aside first, all back on failure).
4. A fresh process of the same Python imports the requested packages from the folder
   (appended): the result says which import and which do not.

pip's log goes to the feedback line by line; cancelling terminates pip and leaves the
folder as it was.
"""

from __future__ import annotations

import contextlib
import csv
import importlib.metadata
import importlib.util
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from .errors import Cancelled, LczError

# what the plugin does -> what a user reads
FEATURES = {
    "classify": "Classify, evaluate and fuse with any model (ONNX Runtime)",
    "forests": "Train random forests",
    "deep": "Train and fine-tune deep models, import the published networks (TensorFlow)",
    "export": "Write the ONNX graph into model files",
    "cluster": "Classify many rasters (Dask)",
    "plots": "Plots in reports, the map image",
}


@dataclass(frozen=True)
class Need:
    """One package one feature needs.

    Attributes:
        feature: a key of ``FEATURES``.
        module: the name it is imported by (``sklearn``).
        package: the distribution pip installs (``scikit-learn``).
        pip: False when it must come from the distribution that installed QGIS (it
            shares a C library with QGIS: numpy, h5py, rasterio).
    """

    feature: str
    module: str
    package: str
    pip: bool = True


_TENSORFLOW = "tensorflow" if sys.platform == "darwin" else "tensorflow-cpu"
NEEDS = (
    Need("classify", "numpy", "numpy", pip=False),
    Need("classify", "h5py", "h5py", pip=False),
    Need("classify", "rasterio", "rasterio", pip=False),
    Need("classify", "onnxruntime", "onnxruntime"),
    Need("forests", "sklearn", "scikit-learn"),
    Need("forests", "skops", "skops"),
    Need("deep", "tensorflow", _TENSORFLOW),
    Need("export", "onnx", "onnx"),
    Need("export", "skl2onnx", "skl2onnx"),
    Need("export", "tf2onnx", "tf2onnx"),
    Need("cluster", "dask", "dask"),
    Need("cluster", "distributed", "distributed"),
    Need("plots", "matplotlib", "matplotlib"),
)

# distributions that share a C library (or Qt) with QGIS: pip never installs them
FROM_DISTRIBUTION = {
    "numpy": "numpy", "h5py": "h5py", "gdal": "osgeo", "rasterio": "rasterio",
    "fiona": "fiona", "pyproj": "pyproj", "shapely": "shapely", "netcdf4": "netCDF4",
    "pyqt5": "PyQt5", "pyqt6": "PyQt6", "pyqt5-sip": "PyQt5", "pyqt6-sip": "PyQt6", "sip": "sip",
}  # fmt: skip
DISTRIBUTION_ADVICE = (
    "install it from the distribution that installed QGIS (Debian/Ubuntu: the "
    "python3-{name} package; OSGeo4W: python3-{name}; conda: conda-forge's {name}); pip's "
    "wheel would bring a second copy of a library QGIS has loaded"
)
# constraints/ file for (Python minor version, numpy major version); as scripts/setup.sh
CONSTRAINT_FILES = {
    ((3, 11), 1): "debian12-py311.txt",
    ((3, 12), 2): "py312-313-numpy2.txt",
    ((3, 13), 2): "py312-313-numpy2.txt",
}
CONSTRAINTS_DIR = Path(__file__).resolve().parents[2] / "constraints"
MIN_PIP = (22, 2)  # pip install's dry run with a report
IMPORT_TIMEOUT_S = 600.0  # the check that the packages import (TensorFlow: tens of s)
STOP_GRACE_S = 5.0  # a cancelled pip gets this long to end before it is killed


def _normal(name: str) -> str:
    """A distribution name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def is_installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it (a module set to None in
    ``sys.modules``, i.e. blocked, counts as missing)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def missing(features=None) -> list[Need]:
    """The needs of ``features`` (keys of ``FEATURES``; default: all) not installed, in
    the order of ``NEEDS``; a package several features need is listed for the first."""
    wanted = set(FEATURES if features is None else features)
    unknown = wanted - set(FEATURES)
    if unknown:
        raise LczError(f"unknown feature(s) {sorted(unknown)}; known: {list(FEATURES)}")
    seen, out = set(), []
    for need in NEEDS:
        if need.feature in wanted and need.module not in seen and not is_installed(need.module):
            out.append(need)
            seen.add(need.module)
    return out


def numpy_version() -> str:
    """The version of the numpy this Python imports ('' when it has none)."""
    try:
        return importlib.metadata.version("numpy")
    except importlib.metadata.PackageNotFoundError:  # no metadata: the imported one's
        return str(getattr(sys.modules.get("numpy"), "__version__", ""))


def constraints_file(folder=None, version=None, numpy=None) -> Path | None:
    """The pinned versions for this Python and numpy: the ``constraints/`` file for
    ``version`` ((major, minor); default: the running one) and numpy version ``numpy``
    (default: the installed one), or None when no file suits them (or it is absent)."""
    version = tuple(version or sys.version_info[:2])
    numpy = numpy_version() if numpy is None else numpy
    major = int(numpy.split(".")[0]) if numpy[:1].isdigit() else 0
    name = CONSTRAINT_FILES.get((version, major))
    path = Path(folder or CONSTRAINTS_DIR) / name if name else None
    return path if path is not None and path.is_file() else None


def target_dir(settings_dir, version=None, numpy=None) -> Path:
    """The plugin's package folder under QGIS's settings folder (the profile:
    ``QgsApplication.qgisSettingsDirPath()``): ``lcz_mapping/python/py311-numpy1``. One
    per Python and numpy major version, since compiled packages suit only those."""
    version = tuple(version or sys.version_info[:2])
    numpy = numpy_version() if numpy is None else numpy
    tag = f"py{version[0]}{version[1]}-numpy{numpy.split('.')[0] or 'none'}"
    return Path(settings_dir) / "lcz_mapping" / "python" / tag


def add_to_path(folder) -> bool:
    """Append ``folder`` to ``sys.path`` (last, so the installation's own packages win)
    when it exists and is not there yet; True when it is on the path afterwards."""
    folder = os.path.abspath(str(folder))
    if not os.path.isdir(folder):
        return False
    if folder not in sys.path:
        sys.path.append(folder)
        importlib.invalidate_caches()
    return True


_VERSION = re.compile(r"^\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?(\+[a-z0-9.]+)?$", re.I)


# what a Python has: its version, its distributions (outside argv[1]) and which modules of
# argv[2:] it finds
_ENV_CODE = """\
import importlib.metadata as md, importlib.util, json, os, sys
skip = os.path.normcase(os.path.abspath(sys.argv[1]))
path = [p for p in sys.path if os.path.normcase(os.path.abspath(p or ".")) != skip]
pins = {}
for dist in md.distributions(path=path):
    if dist.metadata["Name"] and dist.version:
        pins.setdefault(dist.metadata["Name"], dist.version)
has = []
for name in sys.argv[2:]:
    try:
        if importlib.util.find_spec(name) is not None:
            has.append(name)
    except Exception:
        pass
print("LCZ-ENV " + json.dumps({"version": list(sys.version_info[:2]), "pins": pins, "has": has}))
"""


@dataclass(frozen=True)
class Environment:
    """What the Python that installs has (``environment``).

    Attributes:
        version: (major, minor).
        installed: each distribution (outside the plugin's folder) -> its version, by
            normalised name; the first on its path wins, as at import.
        has: the modules of ``FROM_DISTRIBUTION`` it finds.
    """

    version: tuple
    installed: dict
    has: frozenset


def environment(python: str, skip_dir) -> Environment:
    """Ask ``python`` what it has (outside ``skip_dir``, the plugin's folder)."""
    args = [python, "-c", _ENV_CODE, str(skip_dir), *sorted(set(FROM_DISTRIBUTION.values()))]
    try:
        res = subprocess.run(args, capture_output=True, text=True, timeout=120,
                             stdin=subprocess.DEVNULL, env=_pip_env())  # fmt: skip
        line = next(s for s in res.stdout.splitlines() if s.startswith("LCZ-ENV "))
        got = json.loads(line[len("LCZ-ENV ") :])
    except (OSError, subprocess.TimeoutExpired, StopIteration, ValueError) as exc:
        raise LczError(f"cannot ask {python} what it has installed: {exc}") from exc
    installed = {}
    for name, version in got["pins"].items():
        if _VERSION.match(version):
            installed.setdefault(_normal(name), version)
    return Environment(tuple(got["version"]), installed, frozenset(got["has"]))


def constraints_text(pinned: Path | None, installed: dict[str, str]) -> str:
    """pip constraints: ``installed`` (name -> version) pinned as they are, then the lines
    of the ``pinned`` file for the distributions not installed."""
    lines = [f"{name}=={version}" for name, version in sorted(installed.items())]
    if pinned is not None:
        for line in pinned.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            name = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
            if name and _normal(name.group()) not in installed:
                lines.append(line)
    return "\n".join(lines) + "\n"


@dataclass
class InstallResult:
    """What ``install`` did.

    Attributes:
        target: the folder.
        installed: ``name==version`` of each distribution put into it.
        kept: distributions pip asked for that the installation already has (its own
            copy is used).
        failed_imports: requested module -> why it does not import from the folder.
    """

    target: Path
    installed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    failed_imports: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether every requested package imports."""
        return not self.failed_imports

    def summary(self) -> str:
        """One paragraph for the user."""
        done = (f"installed {', '.join(self.installed)} into {self.target}" if self.installed
                else f"nothing to install: everything asked for is in {self.target} or "
                     "this Python already")  # fmt: skip
        if self.kept:
            done += f"; kept this Python's own {', '.join(self.kept)}"
        if self.failed_imports:
            done += "; but " + "; ".join(f"{m} does not import ({why})"
                                         for m, why in self.failed_imports.items())  # fmt: skip
        return done[0].upper() + done[1:] + "."


def _flags(**options) -> list[str]:
    """Command-line options from keywords: ``no_deps=True`` -> ``[--no-deps]``,
    ``target="d"`` -> ``[--target, d]``; None and False are left out."""
    out: list[str] = []
    for key, value in options.items():
        if value is None or value is False:
            continue
        out.append("--" + key.replace("_", "-"))
        if value is not True:
            out.append(str(value))
    return out


# runs pip in the given Python with the folder in argv[1] APPENDED to sys.path, as in QGIS
_PIP_CODE = (
    "import runpy, sys; sys.path.append(sys.argv.pop(1)); sys.argv[0] = 'pip'; "
    "runpy.run_module('pip', run_name='__main__', alter_sys=True)"
)


def _pip_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PIP_REQUIRE_VIRTUALENV"}
    env.update(PYTHONUNBUFFERED="1", PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1",
               PYTHONIOENCODING="utf-8")  # fmt: skip
    return env


def _start(cmd: list[str], cwd: Path) -> subprocess.Popen:
    """Start ``cmd`` with its output (both streams) on one pipe, in its own process
    group (so a cancel reaches pip's children) and without a console window."""
    kw: dict = {"start_new_session": True}
    if sys.platform.startswith("win"):
        kw = {"creationflags": subprocess.CREATE_NO_WINDOW | subprocess.CREATE_NEW_PROCESS_GROUP}
    return subprocess.Popen(
        cmd, cwd=str(cwd), env=_pip_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, encoding="utf-8", errors="replace", **kw,
    )  # fmt: skip


def _stop(proc: subprocess.Popen) -> None:
    """End ``proc`` and its group: terminate, then kill after ``STOP_GRACE_S``."""
    if proc.poll() is not None:
        return
    try:
        if sys.platform.startswith("win"):
            proc.kill()
        else:
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except (ProcessLookupError, PermissionError):
        proc.wait()


def _read_lines(stream, lines: queue.Queue) -> None:
    """Put each line of ``stream`` on ``lines``, then None (its end)."""
    try:
        for line in stream:
            lines.put(line)
    except (OSError, ValueError):  # the process was ended
        pass
    finally:
        stream.close()
        lines.put(None)


def run_pip(python: str, args: list[str], feedback, path_dir, cwd) -> list[str]:
    """Run ``python -m pip ARGS`` with ``path_dir`` appended to its ``sys.path``; each
    line of its log goes to ``feedback.info`` as it comes.

    Returns:
        The log's lines.

    Raises:
        Cancelled: the feedback was cancelled; pip (and its children) were ended.
        LczError: pip failed: its exit status and last error line.
    """
    proc = _start([python, "-c", _PIP_CODE, str(path_dir), *args], Path(cwd))
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True).start()
    log: list[str] = []
    try:
        while True:
            if feedback.is_cancelled():
                raise Cancelled()
            try:
                line = lines.get(timeout=0.1)
            except queue.Empty:
                continue
            if line is None:
                break
            log.append(line.rstrip())
            feedback.info(log[-1])
        proc.wait()
    finally:
        _stop(proc)  # the reader then sees the end of the pipe and closes it
    if proc.returncode != 0:
        raise LczError(pip_error(log, proc.returncode))
    return log


def pip_error(log: list[str], status: int) -> str:
    """One message for a failed pip from its log: the conflicts with this Python's own
    packages when the resolution failed, else pip's last error line."""
    depends = [s.strip() for s in log if " depends on " in s]
    pinned = [s.split("(constraint)")[1].strip() for s in log if "(constraint)" in s]
    if depends and pinned:
        return ("no versions of the packages suit this Python's own packages (kept as they "
                f"are) and the pinned versions: {'; '.join(dict.fromkeys(depends))}; kept or "
                f"pinned: {', '.join(dict.fromkeys(pinned))}")  # fmt: skip
    errors = [s for s in log if s.startswith("ERROR")] or log or ["no output"]
    text = errors[-1].removeprefix("ERROR: ").strip()
    if "No matching distribution" in text:
        text += " (no wheel of it for this Python and system, or the index is unreachable)"
    return f"pip failed (exit status {status}): {text[:300]}"


def _pip_version(python: str) -> tuple:
    """The version of pip in ``python``; LczError when it has none or it is too old."""
    code = "import pip; print(pip.__version__)"
    try:
        res = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=120,
                             stdin=subprocess.DEVNULL, env=_pip_env())  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LczError(f"cannot run {python}: {exc}") from exc
    found = re.match(r"(\d+)\.(\d+)", res.stdout.strip())
    if res.returncode != 0 or not found:
        raise LczError(
            f"pip is not installed for this Python ({python}); install it (Debian/Ubuntu: "
            "the python3-pip package; elsewhere: python -m ensurepip), then try again"
        )
    version = tuple(int(n) for n in found.groups())
    if version < MIN_PIP:
        raise LczError(f"pip {res.stdout.strip()} in {python} is too old; pip "
                       f"{'.'.join(map(str, MIN_PIP))} or newer is needed")  # fmt: skip
    return version


def _resolve(python, packages, source, work: Path, target: Path, feedback, constraints):
    """(name, version) of each distribution pip would install for ``packages`` in
    ``python`` with ``target`` appended, and what that Python has (step 1 of the
    module's docstring)."""
    env = environment(python, target)
    if constraints is None:
        constraints = constraints_file(version=env.version, numpy=env.installed.get("numpy", ""))
    constraints = Path(constraints) if constraints else None
    pins = constraints_text(constraints, env.installed)
    (work / "constraints.txt").write_text(pins, encoding="utf-8")
    how = f"pinned versions of {constraints.name}" if constraints else "no pinned set suits it"
    feedback.info(f"Resolving {', '.join(packages)} for {python} ({how}; its own packages kept)")
    args = ["install", *_flags(dry_run=True, report=work / "report.json",
                               constraint=work / "constraints.txt", only_binary=":all:",
                               progress_bar="off", **source), *packages]  # fmt: skip
    run_pip(python, args, feedback, target, work)
    report = json.loads((work / "report.json").read_text(encoding="utf-8"))
    found = [(item["metadata"]["name"], item["metadata"]["version"])
             for item in report.get("install", [])]  # fmt: skip
    return found, env


def _plan(resolved: list[tuple], env: Environment) -> tuple[list[str], list[str]]:
    """(``name==version`` to install, the Python's own packages kept) from pip's
    resolution; LczError for a package that must come from the distribution that
    installed QGIS and is missing (step 2)."""
    todo, kept = [], []
    for name, version in resolved:
        module = FROM_DISTRIBUTION.get(_normal(name))
        if module is None:
            todo.append(f"{name}=={version}")
        elif module in env.has:
            kept.append(name)
        else:
            raise LczError(f"the packages asked for need '{name}', which this Python does not have: "
                           + DISTRIBUTION_ADVICE.format(name=name.lower()))  # fmt: skip
    return todo, kept


def _files(folder: Path) -> list[str]:
    """Every file (or link) under ``folder``, as relative POSIX paths."""
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() or p.is_symlink())  # fmt: skip


def _owned_files(dist_info: Path) -> set[str]:
    """The files a distribution's RECORD lists inside the folder (relative paths)."""
    try:
        with open(dist_info / "RECORD", newline="", encoding="utf-8") as fh:
            rows = [row[0] for row in csv.reader(fh) if row and row[0]]
    except OSError:
        rows = []
    own = {Path(r).as_posix() for r in rows if ".." not in Path(r).parts}
    return own | {f"{dist_info.name}/{f}" for f in _files(dist_info)}


def _replaced(new: Path, target: Path) -> list[str]:
    """The files of ``target`` a move of ``new`` replaces: the same paths, and every file
    of the earlier versions of the distributions it brings."""
    paths = set(_files(new))
    projects = {_normal(p.name.split("-")[0]) for p in new.glob("*.dist-info")}
    for old in target.glob("*.dist-info"):
        if _normal(old.name.split("-")[0]) in projects:
            paths |= _owned_files(old)
    return sorted(p for p in paths if os.path.lexists(target / p))


def _move(pairs: list[tuple[Path, Path]]) -> list[tuple[Path, Path]]:
    """Move each (source, destination), creating folders; the moves done, in order."""
    done = []
    try:
        for src, dst in pairs:
            dst.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dst)
            done.append((src, dst))
    except BaseException as exc:
        exc.lcz_done = done  # type: ignore[attr-defined]
        raise
    return done


def _prune_empty(folder: Path, paths) -> None:
    """Remove the folders of ``paths`` under ``folder`` that are empty now."""
    for parent in sorted({(folder / p).parent for p in paths}, key=lambda d: -len(d.parts)):
        while parent != folder and parent.is_dir() and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent


def move_in(new: Path, target: Path, aside: Path) -> None:
    """Move every file of ``new`` into ``target``, all or none: the files they replace
    (``_replaced``: folders shared by several distributions, such as ``google/``, are
    merged) go to ``aside`` first; on any failure everything moves back and LczError
    names the file (on Windows: a file QGIS has loaded)."""
    shutil.rmtree(new / "bin", ignore_errors=True)  # console scripts: not for QGIS
    old = _replaced(new, target)
    done: list[tuple[Path, Path]] = []
    try:
        done += _move([(target / p, aside / p) for p in old])
        done += _move([(new / p, target / p) for p in _files(new)])
    except BaseException as exc:
        done += getattr(exc, "lcz_done", [])
        for src, dst in reversed(done):
            os.replace(dst, src)
        if isinstance(exc, OSError):
            raise LczError(f"cannot replace '{exc.filename}' in {target} ({exc.strerror}); "
                           "nothing was changed: restart QGIS and install again") from exc  # fmt: skip
        raise
    _prune_empty(target, old)


_IMPORT_CODE = """\
import importlib, json, sys
sys.path.append(sys.argv[1])
failed = {}
for name in sys.argv[2:]:
    try:
        importlib.import_module(name)
    except BaseException as exc:
        failed[name] = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
print("LCZ-IMPORTS " + json.dumps(failed))
"""


def check_imports(python: str, target, modules) -> dict[str, str]:
    """Module -> why it does not import in a fresh ``python`` with ``target`` appended to
    its path (empty: all import)."""
    if not modules:
        return {}
    try:
        res = subprocess.run([python, "-c", _IMPORT_CODE, str(target), *modules],
                             capture_output=True, text=True, timeout=IMPORT_TIMEOUT_S,
                             stdin=subprocess.DEVNULL, env=_pip_env())  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as exc:
        return dict.fromkeys(modules, f"the import check did not finish: {exc}")
    line = next((s for s in res.stdout.splitlines() if s.startswith("LCZ-IMPORTS ")), None)
    if line is None:
        tail = (res.stderr.strip().splitlines() or [f"exit status {res.returncode}"])[-1]
        return dict.fromkeys(modules, f"the import check failed: {tail[:200]}")
    return json.loads(line[len("LCZ-IMPORTS ") :])


def install(packages, target_dir, feedback, index_url=None, find_links=None, python=None,
            constraints=None) -> InstallResult:  # fmt: skip
    """Install ``packages`` (pip requirement names, e.g. ``["onnxruntime"]``) and what
    they need into ``target_dir``, keeping this Python's own packages (module docstring).

    Args:
        packages: distributions to install.
        target_dir: the plugin's folder (``target_dir()``); created when needed.
        feedback: gets pip's log line by line; cancelling stops pip.
        index_url: a package index instead of pip's configured one.
        find_links: a local folder of wheels; with it no index is used (offline).
        python: the Python to install for (default: ``find_python()``, this one).
        constraints: a pip constraints file to use instead of the ``constraints/`` file
            that suits that Python and its numpy (``constraints_file``).

    Returns:
        InstallResult: what was installed, kept, and what does not import.

    Raises:
        Cancelled: cancelled; the folder is as it was.
        LczError: no pip, no versions that suit this Python, a package that must come
            from QGIS's distribution, pip's error; the folder is as it was.
    """
    from .python_exe import find_python

    packages = [str(p).strip() for p in packages if str(p).strip()]
    if not packages:
        raise LczError("no package to install")
    python = python or find_python()
    _pip_version(python)
    target = Path(target_dir).resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    source = (
        {"no_index": True, "find_links": find_links} if find_links else {"index_url": index_url}
    )
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.lcz-partial-", dir=target.parent))
    try:
        resolved, env = _resolve(python, packages, source, work, target, feedback, constraints)
        todo, kept = _plan(resolved, env)
        result = InstallResult(target, todo, kept)
        if todo:
            args = ["install", *_flags(no_deps=True, target=work / "new", only_binary=":all:",
                                       progress_bar="off", **source), *todo]  # fmt: skip
            run_pip(python, args, feedback, target, work)
            feedback.check_cancelled()
            move_in(work / "new", target, work / "old")
        asked = {_normal(re.split(r"[^A-Za-z0-9._-]", p, maxsplit=1)[0]) for p in packages}
        modules = [n.module for n in NEEDS if _normal(n.package) in asked]
        result.failed_imports = check_imports(python, target, modules)
        feedback.info(result.summary())
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)
