"""Input paths checked before GDAL, OGR or h5py open them.

A named pipe, a socket or a device given as an input would make GDAL or OGR block for
ever (they read it like a file); a folder where a file is expected gives a driver's
bare message. ``check_input_file`` refuses such paths with one clear line. GDAL's
virtual paths (``/vsizip/...``, ``/vsicurl/...``) and URLs are left to GDAL.
"""

from __future__ import annotations

import os
import stat

from .errors import LczError

_VIRTUAL_PREFIXES = ("/vsi", "http://", "https://", "ftp://")


def is_virtual(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a GDAL virtual path or a URL (no local file to check)."""
    return str(path).startswith(_VIRTUAL_PREFIXES)


def check_input_file(
    path: str | os.PathLike, what: str = "input", *, folder_ok: bool = False
) -> str:
    """``path`` as a string when it names a regular file (or, with ``folder_ok``, a
    folder), else LczError naming ``what`` and the path.

    Args:
        path: the local path (GDAL virtual paths and URLs pass unchecked).
        what: how the message names the input ("training areas", "raster").
        folder_ok: accept a folder too (a .SAFE product, a FileGDB).

    Returns:
        ``str(path)``.
    """
    text = str(path)
    if is_virtual(text):
        return text
    try:
        mode = os.stat(text).st_mode
    except FileNotFoundError:
        raise LczError(f"{what} '{text}' does not exist") from None
    except OSError as exc:
        raise LczError(f"cannot read {what} '{text}': {exc.strerror or exc}") from None
    if stat.S_ISREG(mode):
        return text
    if stat.S_ISDIR(mode):
        if folder_ok:
            return text
        raise LczError(f"{what} '{text}' is a folder, not a file")
    kind = (
        "a named pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
    )
    raise LczError(f"{what} '{text}' is {kind}, not a regular file; give a file on disk")
