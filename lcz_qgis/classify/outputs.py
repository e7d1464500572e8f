"""The classifier's raster outputs, written block by block: the LCZ map (uint8 with the
colour table), the confidence and the 17 class probabilities (float or byte percent),
the runner-up class and the margin between the two highest probabilities, and for a
multi-date run the agreement between dates and the count of dates seen; the QML style
of each raster.

SECOND_CLASS is the most probable class other than the map's class (ties go to the
lowest code, as the map's own argmax); MARGIN is the highest probability minus the
second highest. Both describe the probabilities the run writes (after a Gaussian filter,
the filtered ones): where the map's class is the argmax they are the first two classes
of the probabilities sorted high to low. AGREEMENT is the share of the dates with a
valid window at the cell whose own most probable class is the map's class; DATE_COUNT
the number of such dates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..common.enums import Format, codes
from ..common.legend import LCZ_CLASSES, N_CLASSES, qml_paletted
from ..raster.io import (
    GTIFF_OPTIONS,
    close_raster,
    create_geotiff,
    name_lcz_categories,
    style_lcz_band,
)
from ..styling.styles import RampStop, qml_date_count, qml_pseudocolor

FORMATS = codes(Format)
BYTE_NODATA = 255
FLOAT_NODATA = -1.0
LCZ_RASTERS = ("OUTPUT", "SECOND_CLASS")  # byte codes 1-17 with the LCZ legend
# the rasters written in CONFIDENCE_FORMAT
SCALARS = ("CONFIDENCE", "MARGIN", "AGREEMENT")


@dataclass(frozen=True)
class OutputRequest:
    """The files a classification run is asked to write, and their formats.

    Attributes:
        output: the LCZ map (GeoTIFF).
        confidence: the confidence raster, or None.
        confidence_format: ``float`` or ``byte`` (``FORMATS``); also the format of the
            margin and agreement rasters.
        probabilities: the 17-band probability raster, or None.
        probabilities_format: ``float`` or ``byte``.
        area_table: the area table (CSV), or None.
        map_image: the map image (PNG), or None.
        map_title: the map image's title; None for the default.
        second_class: the runner-up class raster, or None.
        margin: the top-1 minus top-2 probability raster, or None.
        agreement: the share of dates agreeing with the map (multi-date runs), or None.
        date_count: the number of dates seen per cell (multi-date runs), or None.
        n_dates: the dates of the run (the date count's style goes up to it).
    """

    output: object
    confidence: object = None
    confidence_format: str = Format.FLOAT
    probabilities: object = None
    probabilities_format: str = Format.FLOAT
    area_table: object = None
    map_image: object = None
    map_title: str | None = None
    second_class: object = None
    margin: object = None
    agreement: object = None
    date_count: object = None
    n_dates: int = 1

    @property
    def rasters(self) -> dict:
        """The raster outputs by parameter name (OUTPUT, CONFIDENCE, PROBABILITIES,
        SECOND_CLASS, MARGIN, AGREEMENT, DATE_COUNT)."""
        return {
            "OUTPUT": self.output,
            "CONFIDENCE": self.confidence,
            "PROBABILITIES": self.probabilities,
            "SECOND_CLASS": self.second_class,
            "MARGIN": self.margin,
            "AGREEMENT": self.agreement,
            "DATE_COUNT": self.date_count,
        }

    @property
    def files(self) -> dict:
        """Every output by parameter name: the rasters, AREA_TABLE and MAP_IMAGE."""
        return {**self.rasters, "AREA_TABLE": self.area_table, "MAP_IMAGE": self.map_image}

    @property
    def formats(self) -> dict:
        """The format (``float``/``byte``) of each raster output by parameter name."""
        fmts = {k: Format.BYTE for k in self.rasters}
        fmts.update({k: self.confidence_format for k in SCALARS})
        fmts["PROBABILITIES"] = self.probabilities_format
        return fmts

    @property
    def bands(self) -> dict:
        """The band count of each raster output by parameter name."""
        return {k: N_CLASSES if k == "PROBABILITIES" else 1 for k in self.rasters}


_DESCRIPTIONS = {
    "CONFIDENCE": "LCZ confidence (max probability{unit})",
    "MARGIN": "LCZ margin (highest minus second highest probability{unit})",
    "AGREEMENT": "Date agreement (share of dates whose class is the map's{unit})",
}


def _layout(key: str, fmt: str) -> tuple:
    """(bands, dtype, nodata, band descriptions) of the raster output ``key``."""
    if key in LCZ_RASTERS:
        return 1, "uint8", 0, ["LCZ" if key == "OUTPUT" else "LCZ runner-up (second class)"]
    if key == "DATE_COUNT":
        return 1, "uint8", None, ["Dates with a valid window"]
    byte = fmt == Format.BYTE
    dtype, nodata = ("uint8", BYTE_NODATA) if byte else ("float32", FLOAT_NODATA)
    if key == "PROBABILITIES":
        unit = " (%)" if byte else ""
        names = [f"P(LCZ {c.letter}){unit}" for c in sorted(LCZ_CLASSES, key=lambda c: c.code)]
        return N_CLASSES, dtype, nodata, names
    return 1, dtype, nodata, [_DESCRIPTIONS[key].format(unit=", %" if byte else "")]


def _scalar(values: np.ndarray, valid: np.ndarray, fmt: str) -> np.ndarray:
    """Values 0..1 as the format writes them: byte percent (255 outside ``valid``) or
    float32 (-1 outside ``valid``); ``values`` may have a trailing band axis."""
    if values.ndim > valid.ndim:
        valid = valid[..., None]
    if fmt == Format.BYTE:
        return np.where(valid, np.rint(np.clip(values, 0, 1) * 100), BYTE_NODATA).astype(np.uint8)
    return np.where(valid, values, FLOAT_NODATA).astype(np.float32)


def runner_up(proba: np.ndarray, codes: np.ndarray, valid: np.ndarray) -> tuple:
    """The second class and the margin of a block.

    Args:
        proba: (rows, cols, 17) class probabilities.
        codes: (rows, cols) the map's codes 1..17 (0 where not classified).
        valid: (rows, cols) the cells classified.

    Returns:
        (second uint8: the most probable class other than ``codes``, the lowest code on a
        tie, 0 outside ``valid``; margin float32: highest minus second highest
        probability, 0..1).
    """
    p = np.asarray(proba, np.float32)
    others = p.copy()
    own = np.maximum(codes.astype(np.intp) - 1, 0)[..., None]
    np.put_along_axis(others, own, -np.inf, axis=-1)
    second = np.where(valid, np.argmax(others, axis=-1) + 1, 0).astype(np.uint8)
    top = np.partition(p, N_CLASSES - 2, axis=-1)
    margin = (top[..., N_CLASSES - 1] - top[..., N_CLASSES - 2]).astype(np.float32)
    return second, margin


def date_agreement(codes: np.ndarray, date_codes: np.ndarray) -> tuple:
    """The agreement between dates and the dates seen, per cell of a block.

    Args:
        codes: (rows, cols) the map's codes (0 where not classified).
        date_codes: (rows, cols, dates) each date's own most probable class, 0 where the
            date has no valid window.

    Returns:
        (agreement float32: share of the dates seen whose class is the map's, 0 where
        none is; count uint8: the dates seen).
    """
    count = (date_codes > 0).sum(axis=-1)
    same = ((date_codes == codes[..., None]) & (codes[..., None] > 0)).sum(axis=-1)
    share = same / np.maximum(count, 1)
    return share.astype(np.float32), count.astype(np.uint8)


class OutputWriters:
    """The raster outputs of a request, written block by block into temporary files of
    ``staging`` (an ``atomic.StagedOutputs``, which moves them into place with their
    .aux.xml when the whole run succeeded).

    Args:
        staging: the run's staging.
        grid: the output grid.
        crs_wkt: the grid's CRS.
        request: the outputs asked for (``OutputRequest``).
    """

    def __init__(self, staging, grid, crs_wkt, request: OutputRequest):
        self.formats = request.formats
        self.counts = np.zeros(N_CLASSES + 1, np.int64)
        self.ds = {}
        for key, path in request.rasters.items():
            if not path:
                continue
            count, dtype, nodata, names = _layout(key, self.formats[key])
            self.ds[key] = create_geotiff(
                staging.temp(path), grid.cols, grid.rows, count, dtype, grid.geotransform,
                crs_wkt, nodata, GTIFF_OPTIONS, names,
            )  # fmt: skip
            if key in LCZ_RASTERS:
                style_lcz_band(self.ds[key])
                self.ds[key].set_band_description(1, names[0])

    def _write(self, key, arr, win) -> None:
        ds = self.ds.get(key)
        if ds is not None:
            ds.write(arr.transpose(2, 0, 1) if arr.ndim == 3 else arr[None], window=win)

    def write(self, r0, codes, conf, proba, valid, date_codes=None):
        """Write one block of output rows, from output row ``r0`` down.

        Args:
            r0: the block's first output row.
            codes: (rows, cols) uint8 LCZ codes, 0 for cells not classified; also counted in
                ``counts`` (per value 0..17).
            conf: (rows, cols) confidence (the map's class's probability, 0..1).
            proba: (rows, cols, 17) class probabilities, 0..1.
            valid: (rows, cols) bool, the cells that were classified; outside them each
                scalar raster gets its format's nodata.
            date_codes: (rows, cols, dates) each date's own class (0: not seen), for the
                AGREEMENT and DATE_COUNT rasters of a multi-date run.
        """
        from rasterio.windows import Window

        win = Window(0, r0, codes.shape[1], codes.shape[0])
        fmt = self.formats
        self._write("OUTPUT", codes, win)
        self.counts += np.bincount(codes.ravel(), minlength=N_CLASSES + 1)
        self._write("CONFIDENCE", _scalar(conf, valid, fmt["CONFIDENCE"]), win)
        self._write("PROBABILITIES", _scalar(proba, valid, fmt["PROBABILITIES"]), win)
        if "SECOND_CLASS" in self.ds or "MARGIN" in self.ds:
            second, margin = runner_up(proba, codes, valid)
            self._write("SECOND_CLASS", second, win)
            self._write("MARGIN", _scalar(margin, valid, fmt["MARGIN"]), win)
        if date_codes is not None and ("AGREEMENT" in self.ds or "DATE_COUNT" in self.ds):
            share, count = date_agreement(codes, date_codes)
            self._write("AGREEMENT", _scalar(share, valid, fmt["AGREEMENT"]), win)
            self._write("DATE_COUNT", count, win)

    def close(self):
        """Flush and close every dataset (all of them closed even when one fails: its
        error, e.g. a full disk, is raised after); the LCZ rasters then get their
        category names."""
        datasets, error = self.ds, None
        self.ds = {}
        for key, ds in datasets.items():
            try:
                close_raster(ds)
                if key in LCZ_RASTERS:
                    name_lcz_categories(ds.name)
            except Exception as exc:  # noqa: BLE001 - re-raised below
                error = error or exc
        datasets.clear()
        if error is not None:
            raise error


def raster_qml(key: str, fmt: str, n_dates: int = 1) -> str:
    """The QGIS style of the raster output ``key`` written in format ``fmt``.

    Args:
        key: OUTPUT, SECOND_CLASS (the LCZ legend), CONFIDENCE, MARGIN, AGREEMENT (the
            confidence ramp), PROBABILITIES (band 1 on that ramp) or DATE_COUNT.
        fmt: ``float`` (0..1) or ``byte`` (0..100).
        n_dates: the run's dates (the date count's ramp ends there).

    Returns:
        The QML document.
    """
    if key in LCZ_RASTERS:
        return qml_paletted()
    if key == "DATE_COUNT":
        return qml_date_count(n_dates)
    maximum = 100 if fmt == Format.BYTE else 1
    if key == "PROBABILITIES":
        return probabilities_qml(maximum)
    return confidence_qml(maximum)


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
