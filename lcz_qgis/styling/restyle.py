"""``lcz style-map``: the LCZ legend style (.qml) for any LCZ map, in a palette and a
language of the class names.

The map is not changed: its style is written beside it (``<map>.qml``, the sidecar QGIS
reads when it opens the map) or to the file asked for. A map holding the older WUDAPT
codes 101-107 for LCZ A-G gets a legend with those codes (as UMEP reads them).
"""

from __future__ import annotations

from pathlib import Path

from ..common.atomic import check_distinct_paths, check_output_path, write_text_atomic
from ..common.errors import LczError
from ..common.legend import check_language, check_palette, legend_entries
from .qml import paletted_style

OLD_CODES = range(101, 108)  # LCZ A-G in older WUDAPT maps (and UMEP's input)


def map_uses_old_codes(map_path, feedback=None) -> bool:
    """Whether band 1 of the LCZ map ``map_path`` holds 101-107 (LCZ A-G) and no 11-17,
    read by strips (``analysis.read_map``)."""
    from ..analysis.read_map import open_lcz_map, raw_values

    with open_lcz_map(map_path) as lcz_map:
        values = set(raw_values(lcz_map))
    return any(v in values for v in OLD_CODES) and not any(v in values for v in range(11, 18))


def lcz_map_qml(old_codes: bool = False, palette: str | None = None,
                language: str | None = None) -> str:  # fmt: skip
    """The paletted LCZ legend style: codes 1-17, or 1-10 and 101-107 (``old_codes``),
    in ``palette`` and ``language`` (None: the run's, ``legend.legend_style``)."""
    entries = legend_entries(palette, language)
    if old_codes:
        entries = [(code + 90 if code > 10 else code, color, label)
                   for code, color, label in entries]  # fmt: skip
    return paletted_style(entries)


def style_map(map_path, output=None, palette: str | None = None,
              language: str | None = None, feedback=None) -> dict:  # fmt: skip
    """Write the LCZ legend style of the LCZ map ``map_path`` (the map is not changed).

    Args:
        map_path: any LCZ map (``analysis.read_map``: 1-17 or 101-107, any nodata).
        output: the .qml to write; None: beside the map (``<map>.qml``).
        palette, language: ``legend.PALETTES`` key and class-name language (None: the
            run's).
        feedback: progress (optional).

    Returns:
        {"output": the .qml path, "palette", "language", "old_codes": whether the legend
        uses 101-107}.

    Raises:
        LczError: not an LCZ map, an output that is not a .qml or would replace the map,
            an unwritable folder.
    """
    palette, language = check_palette(palette), check_language(language)
    out = Path(output) if output else Path(map_path).with_suffix(".qml")
    if out.suffix.lower() != ".qml":
        raise LczError(f"the style '{out}' must be a .qml file")
    check_output_path(out)
    check_distinct_paths({"MAP": str(map_path)}, {"OUTPUT": str(out)})
    old = map_uses_old_codes(map_path, feedback)
    write_text_atomic(out, lcz_map_qml(old, palette, language))
    if feedback is not None:
        feedback.progress(100)
    return {"output": str(out), "palette": palette, "language": language, "old_codes": old}
