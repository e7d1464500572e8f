"""Write-then-rename, so an existing output is never left half-written."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from .errors import LczError


def check_output_path(path: str | os.PathLike) -> Path:
    """Fail early, with a clear message, when the output's folder does not exist."""
    p = Path(path)
    if not p.parent.exists() or not p.parent.is_dir():
        raise LczError(f"output folder '{p.parent}' does not exist (for output '{p}')")
    if p.is_dir():
        raise LczError(f"output '{p}' is a folder, not a file")
    return p


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
