"""One GeoTIFF writer: no core module but ``raster/io.py`` opens a raster for writing.

``raster.io.create_geotiff`` is the one place a raster is created
(``rasterio.open(..., "w")``); every other module calls it with its creation options,
so the checks on a write (``close_raster``'s GDAL failures, the options, the
georeferencing) live once. The check reads each core module's syntax tree: a call of
``.open`` on rasterio (however it is named: ``rasterio``, an alias, ``rio``, a ``_rio()``
helper) or of a name imported from rasterio, with the mode ``"w"`` or ``"w+"`` given
by position or keyword, GDAL's ``Create``/``CreateCopy``, and ``Translate``/``Warp``
into anything but a VRT (``raster.io.copy_as_cog`` writes the COGs).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

CORE = Path(__file__).resolve().parents[2] / "lcz_qgis"
WRITER = "raster/io.py"
# Modules allowed to open rasters for writing themselves while they move onto
# create_geotiff (none now); the test says when an entry is no longer needed.
ALLOWED: set[str] = set()
WRITE_MODES = {"w", "w+"}
_RIO = re.compile(r"(^|[^A-Za-z0-9])_?(rasterio|rio)\b")


def _mode(call: ast.Call):
    """The mode given to ``open`` (the second positional argument or ``mode=``)."""
    for kw in call.keywords:
        if kw.arg == "mode":
            return kw.value.value if isinstance(kw.value, ast.Constant) else "?"
    if len(call.args) >= 2:
        a = call.args[1]
        return a.value if isinstance(a, ast.Constant) else "?"
    return None


def raster_writes(source: str) -> list[tuple[int, str]]:
    """``(line, call)`` of each place ``source`` opens a raster for writing.

    Args:
        source: a module's source text.

    Returns:
        The rasterio ``open`` calls with a write mode (or a mode that is not a literal) and
        the GDAL ``Create``/``CreateCopy`` calls, in line order.
    """
    tree = ast.parse(source)
    aliases = {"rasterio", "rio"}  # names bound to the rasterio module
    opens = set()  # names bound to rasterio.open itself
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases |= {a.asname for a in node.names if a.name == "rasterio" and a.asname}
        elif isinstance(node, ast.ImportFrom) and node.module == "rasterio":
            opens |= {a.asname or a.name for a in node.names if a.name == "open"}
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        if isinstance(f, ast.Attribute) and f.attr in ("Create", "CreateCopy"):
            found.append((node.lineno, ast.unparse(f)))
            continue
        if isinstance(f, ast.Attribute) and f.attr in ("Translate", "Warp"):
            fmt = next((k.value for k in node.keywords if k.arg == "format"), None)
            if not (isinstance(fmt, ast.Constant) and str(fmt.value).upper() == "VRT"):
                found.append((node.lineno, ast.unparse(f)))  # a copy into a raster file
            continue
        if isinstance(f, ast.Attribute) and f.attr == "open":
            receiver = ast.unparse(f.value)
            is_rio = receiver in aliases or bool(_RIO.search(receiver))
        else:
            is_rio = isinstance(f, ast.Name) and f.id in opens
        mode = _mode(node) if is_rio else None
        if mode in WRITE_MODES or mode == "?":
            found.append((node.lineno, ast.unparse(node)))
    return sorted(found)


def test_no_core_module_but_raster_io_opens_a_raster_for_writing():
    writers = {}
    for path in sorted(CORE.rglob("*.py")):
        rel = path.relative_to(CORE).as_posix()
        calls = raster_writes(path.read_text())
        if calls:
            writers[rel] = calls
    assert WRITER in writers, "raster/io.py no longer creates rasters: update this test"
    others = {k: v for k, v in writers.items() if k != WRITER and k not in ALLOWED}
    assert not others, "create rasters with raster.io.create_geotiff, not: " + "; ".join(
        f"{k}:{line} {call}" for k, calls in others.items() for line, call in calls
    )
    stale = {k for k in ALLOWED if k not in writers}
    assert not stale, f"{stale} no longer write rasters themselves: drop them from ALLOWED"


def test_the_check_finds_every_spelling_of_a_raster_write():
    src = (
        "import rasterio\nimport rasterio as rs\nfrom rasterio import open as ropen\n"
        "def _rio():\n    return rasterio\n"
        "def f(p, profile, g, m):\n"
        "    rasterio.open(p, 'w', **profile)\n"  # 7
        "    rs.open(p, mode='w+')\n"  # 8
        "    ropen(p, 'w')\n"  # 9
        "    _rio().open(p, 'w', driver='GTiff')\n"  # 10
        "    rio.open(p, m)\n"  # 11: a mode that is not a literal counts
        "    g.GetDriverByName('GTiff').Create(p, 1, 1)\n"  # 12
        "    g.Translate(p, 'a.vrt', format='COG')\n"  # 13
        "    g.Warp(p, 'a.tif')\n"  # 14: GTiff by default
        "    g.Translate(p, 'a.tif', format='VRT', srcWin=[0, 0, 1, 1])\n"  # a VRT: not counted
        "    rasterio.open(p)\n"  # reading
        "    rasterio.open(p, 'r')\n"
        "    open(p, 'w')\n"  # a text file
        "    Path(p).open('w')\n"
        "    tarfile.open(p, 'w')\n"
        "    zipfile.ZipFile(p).open('x', 'w')\n"
    )
    assert [line for line, _ in raster_writes(src)] == [7, 8, 9, 10, 11, 12, 13, 14]
