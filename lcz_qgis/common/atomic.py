"""Write-then-rename, so an existing output is never left half-written: one output
(``atomic_output``), or all outputs of a run replaced together (``StagedOutputs``,
``staged_outputs``, ``replace_together``); the checks made before anything is written;
a full disk as one clear error (``DiskFull``); SIGTERM handled like Ctrl-C.

Every temporary file is named ``<output name>.lcz-partial-<pid>.<host>-<random><extension>``
beside its output (``map.tif.lcz-partial-4711.3fa2c1-k3x9_a.tif``: the writer's process
id and a tag of its host), so a user who finds one after a crash knows it may be
deleted. A later run writing the same output removes such leftovers before it writes,
but only those whose writer is gone (``is_stale_partial``): another run writing the same
output at the same time keeps its temporaries.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import math
import os
import re
import shutil
import signal
import socket
import stat
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path

from .errors import LczError, keys_as_params

PARTIAL = ".lcz-partial-"  # in the name of every temporary file of an output
# GDAL messages that mean the disk (or the user's quota) is full
_FULL_WORDS = ("no space left", "disk is full", "disk full", "not enough space", "quota exceeded")
_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}


class DiskFull(LczError):
    """The disk filled up while writing ``path``: nothing was replaced."""

    def __init__(self, path, needed: int = 0, more_than: bool = False):
        self.path, self.needed = str(path), int(needed)
        mb = max(1, math.ceil(self.needed / 1e6))
        super().__init__(
            f"no space left on device while writing {self.path} "
            f"(needs {'more than' if more_than else 'about'} {mb} MB)"
        )


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``): handled like Ctrl-C, so temporary files are removed."""


def terminate_like_interrupt(signum, frame):
    """SIGTERM handler: raise ``Terminated`` once; a second SIGTERM during the cleanup
    is ignored, so the cleanup completes (SIGKILL still stops the process)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


def output_name(path) -> str:
    """The output a temporary file belongs to (``map.tif`` for
    ``map.tif.lcz-partial-ab12.tif``), else the path itself."""
    s = str(path)
    return s.split(PARTIAL)[0] if PARTIAL in Path(s).name else s


def check_output_path(path: str | os.PathLike) -> Path:
    """Fail early, with a clear message, when the output's folder does not exist or
    cannot be written (before any output of the run is written)."""
    p = Path(path)
    if not p.parent.exists() or not p.parent.is_dir():
        raise LczError(f"output folder '{p.parent}' does not exist (for output '{p}')")
    if p.is_dir():
        raise LczError(f"output '{p}' is a folder, not a file")
    if not os.access(p.parent, os.W_OK | os.X_OK):
        raise LczError(f"cannot write to the folder '{p.parent}' (for output '{p}')")
    return p


def file_key(path: str | os.PathLike) -> tuple:
    """What identifies the file ``path`` names: its device and inode when it exists (so
    links and other spellings of it match), else its resolved path (any case on Windows)."""
    try:
        st = os.stat(path)
        return ("file", st.st_dev, st.st_ino)
    except OSError:
        return ("path", os.path.normcase(os.path.realpath(path)))


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Whether ``a`` and ``b`` name the same file (``file_key``: links and aliases match)."""
    return file_key(a) == file_key(b)


def _paths(named: dict) -> list[tuple[str, str]]:
    """(name, path) pairs of a {name: path, list of paths or None} mapping."""
    out = []
    for name, value in named.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        out += [(name, str(v)) for v in values if v]
    return out


def check_distinct_paths(inputs: dict, outputs: dict, sidecar: str | None = None) -> None:
    """Fail when an output would overwrite one of the inputs or another output.

    ``inputs`` and ``outputs`` map a name the user knows (a parameter) to a path, a list
    of paths or None. ``sidecar`` (e.g. ".qml"): outputs must also differ in the name of
    that sidecar file. Linear in the number of paths (patches checks thousands).
    Parameter keys in the names (``OUTPUT``, ``style of INPUT``) are shown by each front
    end its way (``errors.keys_as_params``).
    """
    outs = _paths(outputs)
    ins = {file_key(src): name for name, src in _paths(inputs) if not src.startswith("/vsi")}
    for name, out in outs:
        in_name = ins.get(file_key(out))
        if in_name is not None:
            raise LczError(
                f"{keys_as_params(name)} '{out}' is the input {keys_as_params(in_name)}: "
                "writing it would destroy the "
                "input; choose another output file"
            )
    files: dict = {}
    styles: dict = {}
    for name, out in outs:
        key = file_key(out)
        side = file_key(Path(out).with_suffix(sidecar)) if sidecar else None
        if key in files:
            (first_name, first), what = files[key], "file"
        elif side is not None and side in styles:
            (first_name, first), what = styles[side], f"{sidecar} style file"
        else:
            files[key] = styles[side] = (name, out)
            continue
        raise LczError(
            f"{keys_as_params(first_name)} '{first}' and {keys_as_params(name)} '{out}' would "
            f"write the same {what}; "
            "give each output its own name"
        )


# -- temporary files, stale leftovers, full disks -------------------------------------


# a temporary whose writer cannot be checked (another host, or no process check on this
# system) is stale once it has not been written for this long
STALE_AGE = 24 * 3600.0
# the writer's tag in a temporary's name: <pid>.<host tag>-
_WRITER = re.compile(r"^(\d{1,10})\.([0-9a-f]{6})-")


def host_tag() -> str:
    """Six hex digits naming this host in temporary names (a hash of its host name)."""
    return hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]


def partial_path(target: str | os.PathLike) -> Path:
    """A new, unused temporary name beside ``target``:
    ``<name>.lcz-partial-<pid>.<host>-<random><ext>`` (this process's id and host tag,
    so other runs can tell whether its writer is alive; the extension kept for writers
    that pick a format from it). Nothing is created."""
    target = Path(target)
    fd, tmp = tempfile.mkstemp(
        prefix=f"{target.name}{PARTIAL}{os.getpid()}.{host_tag()}-",
        suffix=target.suffix,
        dir=target.parent,
    )
    os.close(fd)
    os.unlink(tmp)  # writers (GDAL, zipfile) create it themselves
    return Path(tmp)


def pid_alive(pid: int) -> bool | None:
    """Whether process ``pid`` of this host is alive; None where it cannot be checked
    (Windows: ``os.kill`` would end the process)."""
    if os.name == "nt" or pid <= 0:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    except OSError:
        return None
    return True


def is_stale_partial(path: str | os.PathLike, mtime: float, before: float) -> bool:
    """Whether the temporary ``path`` (last modified at ``mtime``) was left by a writer
    that is gone, so a run started at ``before`` may remove it:

    * named by a process of this host: that process is no longer alive;
    * named by another host's process, or one that cannot be checked: not written for
      ``STALE_AGE`` (a day);
    * an older name without its writer (earlier versions): modified before ``before``.
    """
    if mtime >= before:
        return False
    rest = Path(path).name.split(PARTIAL, 1)[-1]
    m = _WRITER.match(rest)
    if m is None:
        return True
    alive = pid_alive(int(m.group(1))) if m.group(2) == host_tag() else None
    if alive is None:
        return mtime < before - STALE_AGE
    return not alive


def remove_stale_partials(target: str | os.PathLike, before: float) -> list[Path]:
    """Remove the temporary files killed earlier runs left for the output ``target``
    (``<name>.lcz-partial*`` plain files, ``is_stale_partial`` at ``before``, a
    ``time.time()``): only those of this output name, never those of a run still
    writing. Returns the files removed."""
    target = Path(target)
    removed = []
    with contextlib.suppress(OSError):
        for p in target.parent.glob(glob.escape(target.name) + PARTIAL + "*"):
            try:
                st = p.lstat()
                if stat.S_ISREG(st.st_mode) and is_stale_partial(p, st.st_mtime, before):
                    p.unlink()
                    removed.append(p)
            except OSError:
                pass
    return removed


def _chain(exc: BaseException | None) -> list[BaseException]:
    out: list[BaseException] = []
    while exc is not None and exc not in out and len(out) < 20:
        out.append(exc)
        exc = exc.__cause__ or exc.__context__
    return out


def _existing_folder(path: Path) -> Path:
    p = Path(os.path.abspath(path)).parent
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def free_bytes(path: str | os.PathLike) -> int | None:
    """Free space (bytes) for files in ``path``'s folder, or None when unknown."""
    try:
        return shutil.disk_usage(_existing_folder(Path(path))).free
    except OSError:
        return None


LOW_SPACE = 16 * 2**20  # a failed write with less free than this: the disk is full


def is_disk_full(exc: BaseException, paths=()) -> bool:
    """Whether ``exc`` (or an exception it was raised from) means the disk or quota is
    full: ENOSPC/EDQUOT, GDAL's 'No space left on device', or a GDAL (osgeo or rasterio)
    write failure that does not say why while the folder of one of ``paths`` has (almost) no space left."""
    chain = _chain(exc)
    for e in chain:
        if isinstance(e, DiskFull):
            return True
        if isinstance(e, OSError) and e.errno in _FULL_ERRNOS:
            return True
        if any(w in str(e).lower() for w in _FULL_WORDS):
            return True
    if any(_gdal_failure(e) and "write" in str(e).lower() for e in chain):
        frees = [free_bytes(p) for p in paths]
        return any(f is not None and f < LOW_SPACE for f in frees)
    return False


def _gdal_failure(e: BaseException) -> bool:
    """A failure GDAL reported: osgeo's RuntimeError, or rasterio's errors (its
    ``RasterioIOError`` is an OSError without an errno)."""
    return isinstance(e, RuntimeError) or type(e).__module__.startswith("rasterio")


@contextlib.contextmanager
def quiet_close():
    """While datasets of a failed run are closed and removed: no 'Exception ignored in
    delete_Dataset' (GDAL raising from a destructor) and no GDAL warnings on the console."""
    old = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: None
    gdal = sys.modules.get("osgeo.gdal")
    if gdal is not None:
        gdal.PushErrorHandler("CPLQuietErrorHandler")
    try:
        yield
    finally:
        if gdal is not None:
            gdal.PopErrorHandler()
        sys.unraisablehook = old


def _remove(paths) -> list[Path]:
    """Remove files (folders too); returns those that could not be removed."""
    left = []
    for p in paths:
        try:
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p)
            else:
                p.unlink()
        except FileNotFoundError:
            pass
        except OSError:
            left.append(p)
    return left


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, sidecars: tuple[str, ...] = ()):
    """Yield a temporary path beside ``path``; rename it into place only on success.

    ``sidecars`` are suffixes (e.g. ".aux.xml", ".qml") of files written next to the
    temporary file that move with it. On any exception every temporary file is removed
    and an existing ``path`` stays untouched; a full disk raises ``DiskFull``. For
    several outputs of one run use ``staged_outputs``.
    """
    final = check_output_path(path)
    remove_stale_partials(final, time.time())
    tmp_path = partial_path(final)
    try:
        yield tmp_path
        for s in sidecars:
            side = Path(str(tmp_path) + s)
            if side.exists():
                os.replace(side, str(final) + s)
        os.replace(tmp_path, final)
    except BaseException as exc:
        written = sum(p.stat().st_size for p in [tmp_path] if p.is_file())
        full = is_disk_full(exc, [final])
        with quiet_close():
            _remove([tmp_path] + [Path(str(tmp_path) + s) for s in (*sidecars, ".aux.xml")])
        if full:
            needed = exc.needed if isinstance(exc, DiskFull) else written
            raise DiskFull(output_name(final), needed, more_than=True) from None
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file (``atomic_output``).

    Returns:
        ``path`` as a Path.

    Raises:
        LczError: the folder does not exist or cannot be written.
        DiskFull: the disk filled up; an earlier ``path`` is left as it was.
    """
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


# -- several outputs of one run, replaced together ----------------------------------


RASTER_SUFFIXES = (".tif", ".tiff")


class StagedOutputs:
    """All outputs of a run, written first to temporary files beside their targets.

    ``temp`` names the temporary file of a target (``<name>.lcz-partial-<random><ext>``;
    the first call for a target removes that target's stale temporaries of killed
    earlier runs); ``scratch`` a working file that is removed, never moved in.
    ``expect`` records the bytes a target needs, so ``check_space`` can refuse a run
    before any input is read and a full disk is reported with the space needed.
    ``commit`` puts them all in place at the end of a successful run, all or none
    (``swap_in``), each raster with its ``.aux.xml`` (a stale one of the earlier output
    is removed); ``discard`` removes the temporary files only, so the files of an
    earlier run stay as they were and nothing of a failed or cancelled run is left.
    Use it through ``staged_outputs``, which does both and reports a full disk.
    """

    SIDECARS = (".aux.xml",)  # written by GDAL next to a raster; they move with it
    LEFTOVERS = (".aux.xml", "-wal", "-shm", "-journal")

    def __init__(self):
        self.pairs: list[tuple[Path, Path]] = []  # (temporary, target)
        self.scratches: list[tuple[Path, Path]] = []  # (working file, the target it is for)
        self.started = time.time()
        self.expected: dict[Path, tuple[int, int]] = {}  # target -> (about, surely) bytes
        self._cleaned: set[Path] = set()
        self.last: Path | None = None  # the target whose temporary was begun last

    def clean_stale(self, *targets) -> None:
        """Remove the stale temporaries of ``targets`` (done by ``temp`` too)."""
        for t in map(Path, targets):
            if t not in self._cleaned:
                self._cleaned.add(t)
                remove_stale_partials(t, self.started)

    def temp(self, target: str | os.PathLike) -> Path:
        """A new temporary file for ``target``, moved onto it by ``commit``.

        The first call for a target removes that target's stale temporaries of killed runs.
        """
        return self._new_partial(target, self.pairs)

    def scratch(self, target: str | os.PathLike) -> Path:
        """A working file beside ``target``, named as its temporaries are; removed by
        ``drop``, ``commit`` or ``discard``."""
        return self._new_partial(target, self.scratches)

    def _new_partial(self, target: str | os.PathLike, into: list) -> Path:
        """A new ``*.lcz-partial-*`` path for ``target``, recorded in ``into``."""
        target = Path(target)
        self.clean_stale(target)
        tmp = partial_path(target)
        into.append((tmp, target))
        self.last = target
        return tmp

    def adopt(self, tmp: str | os.PathLike, target: str | os.PathLike) -> None:
        """Stage the file another writer makes at ``tmp`` (a ``*.lcz-partial-*`` name
        beside ``target``, e.g. the style a writer puts next to a staged raster) for
        ``target``: moved onto it by ``commit``, removed by ``discard``."""
        if PARTIAL not in Path(tmp).name or Path(tmp).parent != Path(target).parent:
            raise ValueError(f"'{tmp}' is not a temporary name beside '{target}'")
        self.pairs.append((Path(tmp), Path(target)))

    def drop(self, scratch: Path) -> None:
        """Remove a working file now (and its .aux.xml), freeing its space."""
        _remove([scratch, Path(str(scratch) + ".aux.xml")])
        self.scratches = [(s, t) for s, t in self.scratches if s != scratch]

    def path_of(self, target: str | os.PathLike) -> Path:
        """The temporary file of ``target`` (the latest one given)."""
        return next(tmp for tmp, t in reversed(self.pairs) if t == Path(target))

    def write_text(self, target, text: str) -> None:
        """Stage ``text`` (UTF-8) for ``target``, recording its size with ``expect``."""
        self.expect(target, len(text.encode("utf-8")))
        self.temp(target).write_text(text, encoding="utf-8")

    def write_bytes(self, target, data: bytes) -> None:
        """Stage ``data`` for ``target``, recording its size with ``expect``."""
        self.expect(target, len(data))
        self.temp(target).write_bytes(data)

    def expect(self, target, about: int, surely: int = 0) -> None:
        """``target`` needs about ``about`` bytes (an estimate: uncompressed for a
        compressed raster), of which ``surely`` bytes at least (uncompressed files)."""
        a, s = self.expected.get(Path(target), (0, 0))
        self.expected[Path(target)] = (a + int(about), s + int(surely))

    def needed(self) -> int:
        """Bytes all expected outputs need, about (the sum of the ``about`` estimates)."""
        return sum(a for a, _ in self.expected.values())

    def check_space(self) -> None:
        """Refuse the run (``DiskFull``) when the bytes it surely writes do not fit in
        the free space of their file system; also removes stale temporaries first."""
        self.clean_stale(*self.expected)
        by_disk: dict = {}
        for target, (_, surely) in self.expected.items():
            folder = _existing_folder(target)
            try:
                dev = folder.stat().st_dev
            except OSError:
                continue
            entry = by_disk.setdefault(dev, [folder, 0, target, 0])
            entry[1] += surely
            if surely > entry[3]:
                entry[2], entry[3] = target, surely
        for folder, surely, target, _ in by_disk.values():
            free = free_bytes(folder / "x")
            if surely and free is not None and free < surely:
                raise DiskFull(target, max(self.needed(), surely))

    def written(self) -> int:
        """Bytes in the temporary files so far."""
        n = 0
        for tmp, _ in self.pairs + self.scratches:
            for p in (tmp, Path(str(tmp) + ".aux.xml")):
                with contextlib.suppress(OSError):
                    n += p.stat().st_size
        return n

    def disk_full(self, exc: BaseException) -> DiskFull | None:
        """The ``DiskFull`` error to raise for ``exc`` when it means the disk is full
        (naming the output being written), else None. Call before ``discard``."""
        paths = [t for _, t in self.pairs + self.scratches] + list(self.expected)
        if not is_disk_full(exc, paths):
            return None
        text = " ".join(
            f"{e} {getattr(e, 'filename', '') or ''} {getattr(e, 'filename2', '') or ''}"
            for e in _chain(exc)
        )
        target = None
        for tmp, t in reversed(self.pairs + self.scratches):
            if tmp.name in text:
                target = t
                break
        if target is None:
            earlier = next((e for e in _chain(exc) if isinstance(e, DiskFull)), None)
            named = next((e.filename for e in _chain(exc) if getattr(e, "filename", None)), None)
            if earlier is not None:
                target = earlier.path
            elif named:
                target = output_name(named)
            else:  # the file begun last
                target = self.last or "the outputs"
        known = self.needed()
        return DiskFull(output_name(target), max(known, self.written()), more_than=not known)

    def commit(self) -> None:
        """Move every temporary file onto its target, all or none (``swap_in``).

        Each raster's new ``.aux.xml`` moves with it; an earlier raster's stale ``.aux.xml``
        is removed. Working files (``scratch``) are removed.
        """
        targets = {t for _, t in self.pairs}
        moves: list[tuple[Path | None, Path]] = []
        for tmp, target in self.pairs:
            moves.append((tmp, target))
            for s in self.SIDECARS:
                new, old = Path(str(tmp) + s), Path(str(target) + s)
                if new.exists():
                    moves.append((new, old))
                elif (
                    target.suffix.lower() in RASTER_SUFFIXES
                    and old not in targets
                    and os.path.lexists(old)
                    and not old.is_dir()
                ):
                    moves.append((None, old))  # the earlier raster's: it goes with it
        swap_in(moves)
        self.pairs = []
        for s, _ in list(self.scratches):
            self.drop(s)

    def discard(self) -> list[Path]:
        """Remove the temporary files; returns those that could not be removed (a file
        another program holds open on Windows), never raising over the run's own error."""
        files = []
        for tmp, _ in self.pairs + self.scratches:
            files += [tmp, *(Path(str(tmp) + s) for s in self.LEFTOVERS)]
        self.pairs, self.scratches = [], []
        return _remove(files)


@contextlib.contextmanager
def staged_outputs(feedback=None, staging: StagedOutputs | None = None):
    """Stage every output of a run: yields a ``StagedOutputs``; when the block completes
    they are all moved into place together (Ctrl-C/SIGTERM held back meanwhile); on any
    exception, cancel included, the temporary files are removed, the earlier outputs
    stay byte for byte as they were, and a full disk raises ``DiskFull`` (one line).

    Datasets still open in the failed frames are released first (``traceback``
    frames cleared), so their files can be removed (Windows) and GDAL writes no
    ``.aux.xml`` after the cleanup.
    """
    st = staging if staging is not None else StagedOutputs()
    try:
        yield st
        with hold_interrupt(feedback):
            st.commit()
    except BaseException as exc:
        full = st.disk_full(exc)
        with quiet_close():
            traceback.clear_frames(exc.__traceback__)
            left = st.discard()
        if left and feedback is not None:
            feedback.warning(f"could not remove temporary files: {', '.join(map(str, left))}")
        if full is not None:
            raise full from None
        raise


_HELD = (signal.SIGINT, getattr(signal, "SIGTERM", None))


@contextlib.contextmanager
def hold_interrupt(feedback):
    """Hold Ctrl-C (and SIGTERM, when handled like it) back while the outputs are
    renamed into place (milliseconds), so a signal cannot leave a run half-committed;
    the run then simply completes."""
    raising = {signal.default_int_handler, terminate_like_interrupt}
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.getsignal(s) for s in _HELD if s is not None}
    held = [s for s, h in old.items() if h in raising]
    got: list = []
    for s in held:
        signal.signal(s, lambda *a: got.append(a))
    try:
        yield
    finally:
        for s in held:
            signal.signal(s, old[s])
    if got and feedback is not None:
        feedback.warning("interrupted while the outputs were moved into place: the run completed")


def swap_in(moves: list[tuple[Path | None, Path]]) -> None:
    """Move each new file onto its target, all or none (a new file None: the target is
    removed, e.g. an earlier raster's .aux.xml).

    First every existing target is moved aside to a backup name beside it
    (``<name>.lcz-old``; on Windows a file open elsewhere fails here, before anything new
    is in place), then the new files are moved in. If any step fails or is interrupted,
    the new files go back to their temporary names and the backups are restored; the
    error then names the file. A target that is a folder is refused before anything moves.
    """
    for _, target in moves:
        if target.is_dir() and not target.is_symlink():
            raise LczError(f"output '{target}' is a folder, not a file; nothing was replaced")
    backups: list[tuple[Path, Path]] = []  # (backup, target)
    placed: list[tuple[Path, Path]] = []  # (new, target)
    try:
        for _, target in moves:
            if os.path.lexists(target):
                backup = target.with_name(f"{target.name}.lcz-old")
                os.replace(target, backup)
                backups.append((backup, target))
        for new, target in moves:
            if new is not None:
                os.replace(new, target)
                placed.append((new, target))
    except BaseException as exc:
        kept = []
        for new, target in reversed(placed):
            with contextlib.suppress(OSError):
                os.replace(target, new)
        for backup, target in reversed(backups):
            try:
                os.replace(backup, target)
            except OSError:
                kept.append(str(backup))
        if kept:  # never delete earlier files: say where they are
            raise LczError(
                f"replacing the outputs failed and the earlier files could not all be put "
                f"back; they are kept as {', '.join(kept)}"
            ) from None
        if isinstance(exc, OSError):
            where = exc.filename or ""
            raise LczError(
                f"cannot replace '{where}' ({exc.strerror or exc}); it may be open in another "
                "program (close the layer in QGIS). The earlier files were kept."
            ) from None
        raise
    for backup, _ in backups:
        with contextlib.suppress(OSError):
            backup.unlink()


def replace_together(new_dir: Path, folder: Path, names: list[str]) -> None:
    """Move the files ``names`` of ``new_dir`` into ``folder``, all or none (``swap_in``)."""
    swap_in([(Path(new_dir) / n, Path(folder) / n) for n in names])
