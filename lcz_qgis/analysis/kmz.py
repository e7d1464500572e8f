"""``export_map(..., fmt="kmz")``: an LCZ map for Google Earth.

The KMZ (a zip) holds ``doc.kml`` (first, as Google Earth reads it), a GroundOverlay
``files/lcz_map.png`` and a ScreenOverlay legend ``files/legend.png``. The overlay is the
map in EPSG:4326 on the WRF export's grid (``export.wrf_grid``, ``wrf_strips``: each
cell the map's code under its centre, nearest neighbour with exact transforms, from any
CRS); its LatLonBox is that grid's bounds. It is a palette PNG: index = LCZ code, the
colours of ``common.legend``, code 0 (nodata, off the map) fully transparent. It is
written strip by strip (zlib stream), so memory stays flat in map size.

Size: Google Earth draws overlays as textures, and one wider than ``MAX_SIDE`` pixels is
not shown reliably; a larger map is downsampled (the cells of a coarser grid over the
same bounds, each still a code under its centre), with a note in the log.
"""

from __future__ import annotations

import math
import struct
import time
import xml.etree.ElementTree as ET
import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..common.atomic import staged_outputs
from ..common.errors import LczError
from ..common.legend import CODES, class_colors, class_rgb, lcz_class
from .read_map import LczMap
from .wgs84_grid import WGS84, wrf_grid, wrf_strips

MAX_SIDE = 8192
KML_NS = "http://www.opengis.net/kml/2.2"
OVERLAY, LEGEND = "files/lcz_map.png", "files/legend.png"


def kmz_grid(lcz_map: LczMap, max_side: int | None = None):
    """The overlay's grid: (Affine, width, height, note or ""), at most ``max_side``
    (default ``MAX_SIDE``) pixels a side, over the map's bounds in degrees."""
    from rasterio.transform import Affine

    max_side = max_side or MAX_SIDE
    transform, width, height, _ = wrf_grid(lcz_map)
    if max(width, height) <= max_side:
        return transform, width, height, ""
    factor = max(width, height) / max_side
    w2, h2 = min(max_side, math.ceil(width / factor)), min(max_side, math.ceil(height / factor))
    note = (f"the overlay would be {width} x {height} pixels; Google Earth shows at most about "
            f"{max_side} a side, so it was downsampled to {w2} x {h2} (each pixel the "
            "map's class at its centre)")  # fmt: skip
    a, e = transform.a * width / w2, transform.e * height / h2
    return Affine(a, 0.0, transform.c, 0.0, e, transform.f), w2, h2, note


def _chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC."""
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def write_palette_png(f, width: int, height: int, strips) -> np.ndarray:
    """Write an 8-bit palette PNG of the LCZ codes ``strips`` yields (``(row0, codes)``)
    to the binary file ``f``: index = code, the run's legend colours
    (``legend.legend_style``), 0 transparent. Returns the pixels per code 0-17."""
    palette = bytearray(3 * 18)
    for code in CODES:
        palette[3 * code : 3 * code + 3] = bytes(class_rgb(code))
    f.write(b"\x89PNG\r\n\x1a\n")
    f.write(_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0)))
    f.write(_chunk(b"PLTE", bytes(palette)))
    f.write(_chunk(b"tRNS", bytes([0] + [255] * 17)))
    z, counts = zlib.compressobj(6), np.zeros(18, np.int64)
    for _, codes in strips:
        rows = np.zeros((codes.shape[0], width + 1), np.uint8)  # filter byte 0: none
        rows[:, 1:] = codes
        counts += np.bincount(codes.ravel(), minlength=18)
        data = z.compress(rows.tobytes())
        if data:
            f.write(_chunk(b"IDAT", data))
    f.write(_chunk(b"IDAT", z.flush()))
    f.write(_chunk(b"IEND", b""))
    return counts


def legend_png(codes) -> bytes:
    """The legend image: a swatch, the code and the name of each class in ``codes``, in
    the run's palette and language (``legend.legend_style``)."""
    from matplotlib.patches import Patch

    from ..reports.plots import _figure, _png

    classes = [lcz_class(int(c)) for c in codes]
    fig = _figure(3.2, 0.26 * len(classes) + 0.45)
    fig.patch.set_facecolor("white")
    colors = class_colors()
    handles = [Patch(facecolor=colors[c.code], edgecolor="0.3", label=c.label_in())
               for c in classes]  # fmt: skip
    fig.legend(handles=handles, loc="center", frameon=False, title="Local Climate Zones",
               fontsize=8, title_fontsize=9)  # fmt: skip
    return _png(fig)


def kml_text(name: str, transform, width: int, height: int) -> str:
    """``doc.kml``: the GroundOverlay on the grid's bounds and the ScreenOverlay legend
    at the lower left of the screen."""
    ET.register_namespace("", KML_NS)

    def sub(parent, tag, text=None, **attrib):
        el = ET.SubElement(parent, f"{{{KML_NS}}}{tag}", attrib)
        el.text = text
        return el

    kml = ET.Element(f"{{{KML_NS}}}kml")
    doc = sub(kml, "Document")
    sub(doc, "name", name)
    ground = sub(doc, "GroundOverlay")
    sub(ground, "name", f"{name} (LCZ map)")
    sub(sub(ground, "Icon"), "href", OVERLAY)
    box = sub(ground, "LatLonBox")
    for side, value in (("north", transform.f), ("south", transform.f + height * transform.e),
                        ("east", transform.c + width * transform.a), ("west", transform.c)):  # fmt: skip
        sub(box, side, repr(float(value)))
    screen = sub(doc, "ScreenOverlay")
    sub(screen, "name", "LCZ legend")
    sub(sub(screen, "Icon"), "href", LEGEND)
    fraction = {"xunits": "fraction", "yunits": "fraction"}
    sub(screen, "overlayXY", x="0", y="0", **fraction)
    sub(screen, "screenXY", x="0.01", y="0.06", **fraction)
    sub(screen, "size", x="0", y="0", **fraction)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(kml, encoding="unicode")


def write_kmz(lcz_map: LczMap, tmp, feedback) -> dict:
    """Write the KMZ of ``lcz_map`` to the temporary file ``tmp``.

    Returns:
        dict: ``width``, ``height`` (of the overlay), ``counts`` (pixels per code 0-17),
        ``bounds`` (W, S, E, N in degrees), ``note`` (downsampling, or "").
    """
    transform, width, height, note = kmz_grid(lcz_map)
    if note:
        feedback.info(note)
    name = Path(str(lcz_map.path)).stem
    with zipfile.ZipFile(tmp, "w") as zf:
        zf.writestr("doc.kml", kml_text(name, transform, width, height), zipfile.ZIP_DEFLATED)
        member = zipfile.ZipInfo(OVERLAY, date_time=time.localtime()[:6])
        with zf.open(member, "w", force_zip64=True) as f:
            strips = _progress(wrf_strips(lcz_map, transform, width, height), height, feedback)
            counts = write_palette_png(f, width, height, strips)
        present = np.flatnonzero(counts[1:]) + 1
        if present.size:  # none: export_map refuses the map
            zf.writestr(LEGEND, legend_png(present))
    bounds = (transform.c, transform.f + height * transform.e,
              transform.c + width * transform.a, transform.f)  # fmt: skip
    return {"width": width, "height": height, "counts": counts, "bounds": bounds, "note": note}


def _progress(strips, height: int, feedback):
    """The strips, checking for cancel and reporting progress."""
    for row0, codes in strips:
        feedback.check_cancelled()
        yield row0, codes
        feedback.progress(95.0 * (row0 + codes.shape[0]) / height)


def export_kmz(lcz_map: LczMap, output, feedback) -> dict:
    """Write the KMZ of ``lcz_map`` to ``output`` (staged: an earlier file is replaced only
    by a whole new one).

    Returns:
        ``export_map``'s dict, with ``bounds`` and ``note``.

    Raises:
        LczError: the map holds no LCZ cell.
    """
    with staged_outputs(feedback) as st:
        made = write_kmz(lcz_map, st.temp(output), feedback)
        counts = made["counts"]
        if counts[1:].sum() == 0:
            raise LczError(f"the LCZ map '{lcz_map.path}' holds no LCZ cell where it is exported")
    share = float(counts[0] / counts.sum())
    return {"output": str(output), "format": "kmz", "crs": WGS84, "width": made["width"],
            "height": made["height"], "classes": [int(c) for c in np.flatnonzero(counts[1:]) + 1],
            "nodata_share": share, "bounds": made["bounds"], "note": made["note"]}  # fmt: skip
