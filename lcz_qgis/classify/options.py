"""What a classification run is asked for, in one object, and the checks of the request.

``ClassifyOptions`` holds the inputs, the sliding-window options and the outputs of one
run of ``pipeline`` (one raster) or ``multidate`` (several dates: ``dates`` is not None).
The commands build it once from their parameters; the keyword functions
(``classify_raster``, ``classify_dates``) build it for Python callers. ``check`` holds
every rule about the request itself (given and existing inputs, options, output paths),
each in one place, and runs before anything is opened; what needs the rasters (CRS,
pixel size, bands, scale) is checked by ``inputs`` when they are opened.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from ..common.atomic import check_distinct_paths, check_output_path
from ..common.enums import Filter, Format, Scale
from ..common.errors import LczError, param
from ..common.input_files import check_input_file
from ..models.model import DEFAULT_BATCH
from ..raster.io import check_tif_name
from .inputs import parse_offset
from .outputs import FORMATS, OutputRequest
from .postfilter import check_filter

DEFAULT_STRIDE = 10
MAX_DATES = 254  # the date count is a byte; 255 is kept free


@dataclass(frozen=True)
class ClassifyOptions:
    """One classification run's request (the keywords of ``classify_raster``).

    Attributes:
        output: the LCZ map (GeoTIFF).
        sentinel2, sentinel1: the input rasters (a multi-date run: the first date).
        dates: None for a one-raster run; a multi-date run's other Sentinel-2 dates.
        bands, bands_s1: band mappings in the BANDS grammar (``inputs.parse_band_map``).
        scale: auto|reflectance|dn (``Scale``) or a factor (``inputs.parse_scale``).
        offset: the number added to the Sentinel-2 values before the factor (0: none;
            only with dn or a factor: ``inputs.parse_offset``).
        stride: the window step in input pixels; ``resolution`` (m) overrides it.
        batch_size: windows per model call.
        mask, extent, extent_crs: the cells to classify (polygons; xmin, ymin, xmax,
            ymax in ``extent_crs``, by default the grid's CRS).
        filter: none|majority|gaussian (``Filter``).
        reproject, resample: on-the-fly warps of the (first) input to UTM / 10 m.
        confidence, probabilities, second_class, margin, agreement, date_count,
        area_table, map_image: optional outputs (agreement and date count: several dates).
        confidence_format, probabilities_format: float|byte (``Format``).
        map_title: the map image's title (None: the default).
    """

    output: str | os.PathLike
    sentinel2: str | os.PathLike | None = None
    sentinel1: str | os.PathLike | None = None
    dates: tuple | None = None
    bands: str | None = None
    bands_s1: str | None = None
    scale: str = Scale.AUTO
    offset: float = 0.0
    stride: int = DEFAULT_STRIDE
    resolution: float | None = None
    batch_size: int = DEFAULT_BATCH
    mask: str | os.PathLike | None = None
    extent: tuple | None = None
    extent_crs: str | None = None
    filter: str = Filter.NONE  # noqa: A003 - the Processing parameter's name
    reproject: bool = False
    resample: bool = False
    confidence: str | os.PathLike | None = None
    confidence_format: str = Format.FLOAT
    probabilities: str | os.PathLike | None = None
    probabilities_format: str = Format.FLOAT
    second_class: str | os.PathLike | None = None
    margin: str | os.PathLike | None = None
    agreement: str | os.PathLike | None = None
    date_count: str | os.PathLike | None = None
    area_table: str | os.PathLike | None = None
    map_image: str | os.PathLike | None = None
    map_title: str | None = None
    _checked: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.dates is not None:  # empty entries (a blank line in a list) dropped
            object.__setattr__(self, "dates", tuple(d for d in self.dates if d))

    @property
    def multidate(self) -> bool:
        """Whether this is a multi-date run (``dates`` given, possibly empty)."""
        return self.dates is not None

    @property
    def inputs(self) -> dict:
        """The input files by parameter key (SENTINEL2, SENTINEL1 or DATES, MASK)."""
        if self.multidate:
            return {"SENTINEL2": self.sentinel2, "DATES": list(self.dates), "MASK": self.mask}
        return {"SENTINEL2": self.sentinel2, "SENTINEL1": self.sentinel1, "MASK": self.mask}

    def request(self) -> OutputRequest:
        """The outputs asked for (``outputs.OutputRequest``)."""
        return OutputRequest(
            self.output, self.confidence, self.confidence_format, self.probabilities,
            self.probabilities_format, self.area_table, self.map_image, self.map_title,
            self.second_class, self.margin, self.agreement, self.date_count,
            n_dates=len(self.dates) + 1 if self.multidate else 1,
        )  # fmt: skip

    def check(self, model_path=None) -> ClassifyOptions:
        """Check the request before anything is opened; a checked request passes at once.

        Args:
            model_path: the model file (no output may overwrite it), or None.

        Returns:
            The options with the post-filter's canonical name, marked checked.

        Raises:
            LczError: no input (or no first date), a missing input file, too many dates,
                a bad scale or offset (``inputs.parse_offset``), an unknown filter or
                format, a batch size below 1, an output that cannot be written, two
                outputs (or an output and an input, or two rasters' .qml) on the same
                file, a raster output not named .tif/.tiff, agreement or date count asked
                of a one-raster run.
        """
        if self._checked:
            return self
        self._check_inputs()
        offset = parse_offset(self.offset, self.scale)
        method = check_filter(self.filter)
        for fmt in (self.confidence_format, self.probabilities_format):
            if fmt not in FORMATS:
                raise LczError(f"unknown output format '{fmt}'; use one of {', '.join(FORMATS)}")
        if self.batch_size < 1:
            raise LczError(f"batch size must be at least 1; got {self.batch_size}")
        self._check_outputs(model_path)
        checked = replace(self, filter=method, offset=offset)
        object.__setattr__(checked, "_checked", True)
        return checked

    def _check_inputs(self) -> None:
        """The inputs given (one raster: Sentinel-2 and/or -1; dates: the first date) and
        each an existing file or folder (a Sentinel-2 product folder is named by
        ``inputs``; GDAL virtual paths pass)."""
        if self.multidate:
            if not self.sentinel2:
                raise LczError(f"give the first date as {param('SENTINEL2')}")
            if len(self.dates) + 1 > MAX_DATES:
                raise LczError(f"at most {MAX_DATES} dates; got {len(self.dates) + 1}")
        elif not self.sentinel2 and not self.sentinel1:
            raise LczError(f"give {param('SENTINEL2')} and/or {param('SENTINEL1')}")
        for key in ("SENTINEL2", "SENTINEL1", "DATES"):
            paths = self.inputs.get(key)
            for path in paths if isinstance(paths, list) else [paths]:
                if path:
                    check_input_file(path, f"{param(key)} raster", folder_ok=True)

    def _check_outputs(self, model_path) -> None:
        """Every output writable, on its own file and .qml, no input overwritten; rasters
        named .tif/.tiff."""
        request = self.request()
        if not self.multidate and (self.agreement or self.date_count):
            raise LczError(f"{param('AGREEMENT')} and {param('DATE_COUNT')} apply to several dates")
        for path in request.files.values():
            if path:
                check_output_path(path)
        check_distinct_paths({**self.inputs, "MODEL": model_path}, request.files)
        check_distinct_paths({}, request.rasters, sidecar=".qml")  # each raster its own .qml
        for key, path in request.rasters.items():
            if path:
                check_tif_name(path, key)
