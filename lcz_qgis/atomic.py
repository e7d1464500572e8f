"""Write-then-rename, so an existing output is never left half-written: one output
(``atomic_output``), or all outputs of a run replaced together (``StagedOutputs``,
``replace_together``); and the checks made before anything is written."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path

from .errors import LczError


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
    """
    outs = _paths(outputs)
    ins = {file_key(src): name for name, src in _paths(inputs) if not src.startswith("/vsi")}
    for name, out in outs:
        in_name = ins.get(file_key(out))
        if in_name is not None:
            raise LczError(
                f"{name} '{out}' is the input {in_name}: writing it would destroy the "
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
            f"{first_name} '{first}' and {name} '{out}' would write the same {what}; "
            "give each output its own name"
        )


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike, sidecars: tuple[str, ...] = ()):
    """Yield a temporary path beside ``path``; rename it into place only on success.

    ``sidecars`` are suffixes (e.g. ".aux.xml", ".qml") of files written next to the
    temporary file that move with it. On any exception every temporary file is removed
    and an existing ``path`` stays untouched.
    """
    final = check_output_path(path)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{final.stem}.", suffix=f".part{final.suffix}", dir=final.parent
    )
    os.close(fd)
    os.unlink(tmp)  # writers (GDAL, zipfile) create it themselves
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        for s in sidecars:
            side = Path(str(tmp_path) + s)
            if side.exists():
                os.replace(side, str(final) + s)
        os.replace(tmp_path, final)
    except BaseException:
        for p in [tmp_path] + [Path(str(tmp_path) + s) for s in (*sidecars, ".aux.xml")]:
            with contextlib.suppress(FileNotFoundError):
                if p.is_dir():
                    shutil.rmtree(p)
                else:
                    p.unlink()
        raise


def write_text_atomic(path: str | os.PathLike, text: str) -> Path:
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


# -- several outputs of one run, replaced together ----------------------------------


class StagedOutputs:
    """All outputs of a run, written first to temporary files beside their targets.

    ``commit`` puts them all in place at the end of a successful run, all or none
    (``swap_in``); ``discard`` removes the temporary files only, so the files of an
    earlier run stay as they were and nothing of a failed or cancelled run is left.
    """

    SIDECARS = (".aux.xml",)  # written by GDAL next to a raster; they move with it
    LEFTOVERS = (".aux.xml", "-wal", "-shm", "-journal")

    def __init__(self):
        self.pairs: list[tuple[Path, Path]] = []  # (temporary, target)

    def temp(self, target: Path) -> Path:
        fd, tmp = tempfile.mkstemp(
            prefix=f".{target.stem}.", suffix=f".part{target.suffix}", dir=target.parent
        )
        os.close(fd)
        self.pairs.append((Path(tmp), target))
        os.unlink(tmp)  # writers (GDAL) create it themselves
        return Path(tmp)

    def write_text(self, target: Path, text: str) -> None:
        self.temp(target).write_text(text, encoding="utf-8")

    def commit(self) -> None:
        moves = []
        for tmp, target in self.pairs:
            moves.append((tmp, target))
            for s in self.SIDECARS:
                if Path(str(tmp) + s).exists():
                    moves.append((Path(str(tmp) + s), Path(str(target) + s)))
        swap_in(moves)
        self.pairs = []

    def discard(self) -> list[Path]:
        """Remove the temporary files; returns those that could not be removed (a file
        another program holds open on Windows), never raising over the run's own error."""
        left = []
        for tmp, _ in self.pairs:
            for p in (tmp, *(Path(str(tmp) + s) for s in self.LEFTOVERS)):
                try:
                    if p.is_dir() and not p.is_symlink():
                        shutil.rmtree(p)
                    else:
                        p.unlink()
                except FileNotFoundError:
                    pass
                except OSError:
                    left.append(p)
        self.pairs = []
        return left


@contextlib.contextmanager
def hold_interrupt(feedback):
    """Hold Ctrl-C back while the outputs are renamed into place (milliseconds), so an
    interrupt cannot leave a run half-committed; the run then simply completes."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield
        return
    got: list = []
    signal.signal(signal.SIGINT, lambda *a: got.append(a))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if got:
        feedback.warning("interrupted while the outputs were moved into place: the run completed")


def swap_in(moves: list[tuple[Path, Path]]) -> None:
    """Move each new file onto its target, all or none.

    First every existing target is moved aside to a backup name beside it (on Windows a
    file open elsewhere fails here, before anything new is in place), then the new files
    are moved in. If any step fails or is interrupted, the new files go back to their
    temporary names and the backups are restored; the error then names the file.
    A target that is a folder is refused before anything moves.
    """
    for _, target in moves:
        if target.is_dir() and not target.is_symlink():
            raise LczError(f"output '{target}' is a folder, not a file; nothing was replaced")
    backups: list[tuple[Path, Path]] = []  # (backup, target)
    placed: list[tuple[Path, Path]] = []  # (new, target)
    try:
        for _, target in moves:
            if os.path.lexists(target):
                backup = target.with_name(f".{target.name}.lcz-old")
                os.replace(target, backup)
                backups.append((backup, target))
        for new, target in moves:
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
