"""The classifier's raster outputs, written block by block: the LCZ map (uint8 with the
colour table), the confidence and the 17 class probabilities (float or byte percent);
the QML styles of the confidence and probability rasters."""

from __future__ import annotations

import numpy as np

from ..common.legend import LCZ_CLASSES, N_CLASSES
from ..raster.io import (
    GTIFF_OPTIONS,
    close_raster,
    create_geotiff,
    name_lcz_categories,
    style_lcz_band,
)
from ..styling.styles import RampStop, qml_pseudocolor

FORMATS = ("float", "byte")
BYTE_NODATA = 255
FLOAT_NODATA = -1.0


class OutputWriters:
    """The raster outputs (map, confidence, probabilities), written block by block into
    temporary files of ``staging`` (an ``atomic.StagedOutputs``, which moves them into
    place with their .aux.xml when the whole run succeeded)."""

    def __init__(self, staging, grid, crs_wkt, output, confidence, conf_fmt, probabilities, p_fmt):
        self.conf_fmt, self.p_fmt = conf_fmt, p_fmt
        self.counts = np.zeros(N_CLASSES + 1, np.int64)
        gt = grid.geotransform

        def create(path, count, dtype, nodata, descriptions=None):
            tmp = staging.temp(path)
            return create_geotiff(
                tmp, grid.cols, grid.rows, count, dtype, gt, crs_wkt, nodata, GTIFF_OPTIONS,
                descriptions,
            )  # fmt: skip

        self.map = create(output, 1, "uint8", 0)
        style_lcz_band(self.map)
        self.conf = self.proba = None
        if confidence:
            byte = conf_fmt == "byte"
            self.conf = create(
                confidence,
                1,
                "uint8" if byte else "float32",
                BYTE_NODATA if byte else FLOAT_NODATA,
                [
                    "LCZ confidence (max probability, %)"
                    if byte
                    else "LCZ confidence (max probability)"
                ],
            )
        if probabilities:
            byte = p_fmt == "byte"
            unit = " (%)" if byte else ""
            self.proba = create(
                probabilities,
                N_CLASSES,
                "uint8" if byte else "float32",
                BYTE_NODATA if byte else FLOAT_NODATA,
                [f"P(LCZ {c.letter}){unit}" for c in sorted(LCZ_CLASSES, key=lambda c: c.code)],
            )

    def write(self, r0, codes, conf, proba, valid):
        """Write one block of output rows, from output row ``r0`` down.

        Args:
            r0: the block's first output row.
            codes: (rows, cols) uint8 LCZ codes, 0 for cells not classified; also counted in
                ``counts`` (per value 0..17).
            conf: (rows, cols) confidence (max probability, 0..1); the float format writes it
                as given, the byte format as percent with 255 outside ``valid``.
            proba: (rows, cols, 17) class probabilities, 0..1; written as float or byte
                percent, with that format's nodata outside ``valid``.
            valid: (rows, cols) bool, the cells that were classified.
        """
        from rasterio.windows import Window

        rows, cols = codes.shape
        win = Window(0, r0, cols, rows)
        self.map.write(codes, 1, window=win)
        self.counts += np.bincount(codes.ravel(), minlength=N_CLASSES + 1)
        if self.conf is not None:
            if self.conf_fmt == "byte":
                c = np.where(valid, np.rint(np.clip(conf, 0, 1) * 100), BYTE_NODATA)
                self.conf.write(c.astype(np.uint8), 1, window=win)
            else:
                self.conf.write(conf.astype(np.float32), 1, window=win)
        if self.proba is not None:
            if self.p_fmt == "byte":
                p = np.where(valid[..., None], np.rint(np.clip(proba, 0, 1) * 100), BYTE_NODATA)
                p = p.astype(np.uint8)
            else:
                p = np.where(valid[..., None], proba, FLOAT_NODATA).astype(np.float32)
            self.proba.write(p.transpose(2, 0, 1), window=win)

    def close(self):
        """Flush and close every dataset (all of them closed even when one fails: its
        error, e.g. a full disk, is raised after); the map then gets its category names."""
        datasets, error = [self.map, self.conf, self.proba], None
        self.map = self.conf = self.proba = None
        for k, ds in enumerate(datasets):
            if ds is not None:
                try:
                    close_raster(ds)
                    if k == 0:
                        name_lcz_categories(ds.name)
                except Exception as exc:  # noqa: BLE001 - re-raised below
                    error = error or exc
            datasets[k] = ds = None
        if error is not None:
            raise error


def confidence_qml(maximum: float) -> str:
    """A QGIS pseudocolour style for a confidence raster (0..maximum, red to green)."""
    return qml_pseudocolor(_probability_stops(maximum))


def probabilities_qml(maximum: float) -> str:
    """The style of the 17-band probability raster: band 1, P(LCZ 1), on the confidence
    ramp (QGIS's default would paint P(LCZ 1..3) as red, green and blue); the other bands
    are picked in the layer's properties."""
    return qml_pseudocolor(_probability_stops(maximum), band=1)


def _probability_stops(maximum: float) -> list:
    unit = " %" if maximum == 100 else ""
    return [
        RampStop(v * maximum, c, f"{v * maximum:g}{unit}")
        for v, c in ((0.0, "#d7191c"), (0.5, "#fdae61"), (0.75, "#a6d96a"), (1.0, "#1a9641"))
    ]
