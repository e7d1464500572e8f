"""``lcz render`` / lcz:render: true colour, S1 false colour and spectral / radar indices."""

from __future__ import annotations

from ..products.indices import PRODUCTS
from ..products.render import render
from .spec import ENUM, RASTER, RASTER_DEST, STRING, Command, Param

# the dialog's words for the products whose title is an acronym
PRODUCT_LABELS = {
    "ndvi": "NDVI (vegetation index)",
    "ndbi": "NDBI (built-up index)",
    "ndwi": "NDWI (water index)",
    "mndwi": "MNDWI (modified water index)",
}


def _run(values: dict, feedback, given=None) -> dict:
    r = render(
        values["INPUT"], values["PRODUCT"], values["OUTPUT"], bands=values["BANDS"],
        feedback=feedback,
    )  # fmt: skip
    return {"OUTPUT": values["OUTPUT"], "_result": r}


def _report(values: dict, outputs: dict) -> str:
    r = outputs["_result"]
    return (
        f"{r.output}: {r.product}, {r.valid_pixels} valid pixels in {r.blocks} block(s), "
        f"{r.seconds:.1f} s (style {r.qml})"
    )


COMMAND = Command(
    name="render",
    algorithm="render",
    display_name="Render product (true colour, S1 false colour, NDVI, RVI, ...)",
    group="visualisation",
    order=16,
    summary="render a visual product of a raster: " + ", ".join(PRODUCTS),
    help=(
        "Computes a visual product of a Sentinel-2 or Sentinel-1 raster: a patch raster from "
        "'Load So2Sat patches' or a whole scene (read by blocks; a full 10980 x 10980 tile "
        "works).<br>"
        "<b>truecolor</b>: RGB = B4, B3, B2, each stretched between its 2nd and 98th "
        "percentile (from a decimated read of the raster).<br>"
        "<b>s1falsecolor</b>: from the Lee-filtered linear intensities (So2Sat channels 5 = VH, "
        "6 = VV): R = VV dB over [-25, 0], G = VH dB over [-32, -5], B = VV/VH dB over [0, 15] "
        "(fixed ranges, so every scene shares one colour scale). Water is dark, vegetation "
        "green, built-up red to white.<br>"
        "<b>ndvi</b> = (B8 - B4) / (B8 + B4); <b>rvi</b> = 4 VH / (VV + VH) on linear "
        "intensities; <b>ndbi</b> = (B11 - B8) / (B11 + B8); <b>ndwi</b> = (B3 - B8) / "
        "(B3 + B8); <b>mndwi</b> = (B3 - B11) / (B3 + B11).<br>"
        "Composites are byte RGB with an alpha band (transparent where an input is nodata). "
        "Indices are float32 with nodata -9999 where the denominator is 0 or an input is "
        "nodata / NaN. Every output is styled (colour ramp with a legend) and gets a .qml.<br>"
        "<b>Band mapping</b>: leave empty for rasters in So2Sat band order (10 Sentinel-2 "
        "bands B2 B3 B4 B5 B6 B7 B8 B8A B11 B12, 8 Sentinel-1 channels, or 18 = S1 + S2) or "
        "whose band descriptions name the bands. Otherwise give the raster's band numbers, "
        "e.g. 'B4=3,B8=4' or 'VH=1,VV=2', or list its bands in order: 'B2,B3,B4,B8'."
    ),
    params=[
        Param("INPUT", RASTER, "Input raster",
              "The raster to render, in So2Sat band order or with a band mapping."),
        Param("PRODUCT", ENUM, "Product", "The product to compute.",
              choices=tuple((p.name, PRODUCT_LABELS.get(p.name, p.title)) for p in PRODUCTS.values()), default="ndvi"),
        Param("BANDS", STRING, "Band mapping (rasters not in So2Sat order)",
              "The band mapping of a raster not in So2Sat order: 'B4=3,B8=4' (channel = 1-based "
              "band number), 'B2,B3,B4,B8' (the raster's bands in order), or the raster "
              "band numbers of the So2Sat channels in So2Sat order ('2,3,4,5,6,7,8,9,12,13').",
              default="", optional=True),
        Param("OUTPUT", RASTER_DEST, "Product", "The GeoTIFF to write (with a .qml style)."),
    ],
    run=_run,
    report=_report,
)  # fmt: skip
