"""``lcz style-map`` / lcz:stylemap: the LCZ legend style (.qml) of any LCZ map, in a
palette (standard or colour-blind safe) and a language of the class names."""

from __future__ import annotations

from ..styling.restyle import style_map
from .params import language_param, palette_param
from .spec import FILE_DEST, RASTER, Command, Param


def _run(values: dict, feedback, given=None) -> dict:
    result = style_map(values["MAP"], values["OUTPUT"], palette=values["PALETTE"],
                       language=values["LANGUAGE"], feedback=feedback)  # fmt: skip
    return {"OUTPUT": result["output"], "_result": result}


def _report(values: dict, outputs: dict) -> str:
    r = outputs["_result"]
    codes = "1-10 and 101-107" if r["old_codes"] else "1-17"
    return f"{r['palette']} palette, class names in '{r['language']}', codes {codes}: {r['output']}"


COMMAND = Command(
    name="style-map",
    algorithm="stylemap",
    display_name="Style LCZ map",
    group="analysis",
    order=66,
    summary="the LCZ legend style (.qml) of any LCZ map, in the standard or the "
    "colour-blind-safe palette and a language of the class names",
    help=(
        "Writes the LCZ legend style of an LCZ map (any: this plugin's, the LCZ "
        "Generator's, the global map, older WUDAPT maps with codes 101-107 for LCZ A-G): "
        "a paletted style with one colour and one name per class. The map itself is not "
        "changed.<br>"
        "<b>Palette</b>: standard (the WUDAPT / LCZ Generator colours) or colourblind: "
        "17 colours that stay apart with protanopia, deuteranopia and tritanopia "
        "(simulated after Machado et al. 2009; every two classes at least 8 CIEDE2000 "
        "units apart), built types dark to light (compact darker than open, high-rise "
        "darker than low-rise).<br>"
        "<b>Language</b>: the class names of the legend (lcz_qgis/common/class_names.json: "
        "English after Stewart and Oke 2012, French after Cerema).<br>"
        "<b>Output</b>: the .qml to write; empty = beside the map (same name, .qml), which "
        "QGIS reads whenever it opens the map. In QGIS the style is also applied to the "
        "map's layer when the map is a layer of the project."
    ),
    params=[
        Param("MAP", RASTER, "LCZ map", "The LCZ map (band 1 holds the classes)."),
        palette_param(),
        language_param(),
        Param("OUTPUT", FILE_DEST, "Style (.qml)",
              "The QGIS style file to write; empty = beside the map (<map>.qml).",
              optional=True, create_by_default=False, file_filter="QGIS style (*.qml)"),
    ],
    run=_run,
    report=_report,
)  # fmt: skip
