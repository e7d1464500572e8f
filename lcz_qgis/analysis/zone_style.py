"""The zone layer's QGIS style: each polygon filled with its majority LCZ's colour."""

from __future__ import annotations

from ..common.legend import LCZ_CLASSES, class_rgb
from ..styling.qml import option_map, vector_style, xml_attr

FIELD = "majority"


def _symbol(name: str, rgb: tuple[int, int, int]) -> str:
    """A filled polygon symbol in ``rgb`` with a thin dark grey border."""
    options = {
        "color": ",".join(map(str, rgb)) + ",255", "outline_color": "50,50,50,255",
        "outline_style": "solid", "outline_width": "0.26", "outline_width_unit": "MM",
        "style": "solid",
    }  # fmt: skip
    return f"""        <symbol type="fill" name="{name}" alpha="1" clip_to_extent="1" force_rhr="0">
          <layer class="SimpleFill" enabled="1" locked="0" pass="0">
{option_map(options, "            ")}
          </layer>
        </symbol>"""


def qml_majority_zones(field: str = FIELD, palette: str | None = None,
                       language: str | None = None) -> str:  # fmt: skip
    """A categorized style on ``field`` (the majority LCZ code) in the legend's colours
    and class names, in ``palette`` and ``language`` (None: the run's,
    ``legend.legend_style``)."""
    cats = "\n".join(
        f'        <category render="true" value="{c.code}" symbol="{i}" '
        f'label="{xml_attr(c.label_in(language))}" type="integer"/>'
        for i, c in enumerate(LCZ_CLASSES)
    )
    symbols = "\n".join(_symbol(str(i), class_rgb(c.code, palette))
                         for i, c in enumerate(LCZ_CLASSES))  # fmt: skip
    renderer = f"""  <renderer-v2 type="categorizedSymbol" attr="{field}" symbollevels="0" enableorderby="0" forceraster="0" referencescale="-1">
    <categories>
{cats}
    </categories>
    <symbols>
{symbols}
    </symbols>
  </renderer-v2>"""
    return vector_style(renderer)
