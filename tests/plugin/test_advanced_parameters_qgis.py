"""The classify dialogs show what an analyst sets; the rest is under "Advanced Parameters".

Processing puts a parameter whose flags hold ``FlagAdvanced`` in the dialog's collapsed
Advanced group; the checks read the flags of the algorithms QGIS registered. The CLI
keeps every option: ``lcz classify --help`` lists the advanced ones too, and they work.
"""

from __future__ import annotations

import pytest

from lcz_qgis.cli import build_parser, main
from lcz_qgis.commands import all_commands

MAX_SHOWN_INPUTS = 8
# what an analyst rarely sets: band mappings, scale, stride (the resolution in metres stays
# shown), batch size, on-the-fly warps, output formats and the optional extra rasters
CLASSIFY_ADVANCED = {
    "BANDS", "BANDS_S1", "SCALE", "STRIDE", "BATCH_SIZE", "REPROJECT", "RESAMPLE",
    "CONFIDENCE_FORMAT", "PROBABILITIES_FORMAT", "PROBABILITIES", "SECOND_CLASS", "MARGIN",
}  # fmt: skip
CLASSIFY_SHOWN = {"MODEL", "SENTINEL2", "SENTINEL1", "RESOLUTION", "MASK", "EXTENT", "FILTER",
                  "OUTPUT", "CONFIDENCE", "AREA_TABLE", "MAP_IMAGE"}  # fmt: skip
DATES_SHOWN = {"MODEL", "SENTINEL2", "DATES", "RESOLUTION", "MASK", "EXTENT", "FILTER",
               "OUTPUT", "CONFIDENCE", "AGREEMENT", "DATE_COUNT", "AREA_TABLE", "MAP_IMAGE"}  # fmt: skip


def _definitions(alg_id: str) -> dict:
    from qgis.core import QgsApplication

    alg = QgsApplication.processingRegistry().algorithmById(alg_id)
    assert alg is not None, alg_id
    return {d.name(): d for d in alg.parameterDefinitions()}


def _advanced(d) -> bool:
    from qgis.core import QgsProcessingParameterDefinition as Def

    return bool(d.flags() & Def.FlagAdvanced)


@pytest.mark.qgis
@pytest.mark.parametrize(
    "alg_id, shown",
    [("lcz:classifyraster", CLASSIFY_SHOWN), ("lcz:classifydates", DATES_SHOWN)],
)
def test_classify_dialogs_show_the_inputs_an_analyst_sets(qgis_app, alg_id, shown):
    defs = _definitions(alg_id)
    visible = {k for k, d in defs.items() if not _advanced(d)}
    inputs = {k for k in visible if not defs[k].isDestination()}
    assert len(inputs) <= MAX_SHOWN_INPUTS, sorted(inputs)
    assert visible == shown
    hidden = CLASSIFY_ADVANCED & set(defs)
    assert hidden == CLASSIFY_ADVANCED - ({"BANDS_S1"} if alg_id.endswith("dates") else set())
    assert all(_advanced(defs[k]) for k in hidden)
    # every parameter is either shown or advanced, and the advanced ones have defaults:
    # a dialog run with the Advanced group closed still works
    for k in hidden:
        d = defs[k]
        assert d.flags() & d.FlagOptional or d.defaultValue() is not None, k


@pytest.mark.qgis
def test_classify_many_dialog_keeps_the_tuning_under_advanced(qgis_app):
    defs = _definitions("lcz:classifymany")
    inputs = {k for k, d in defs.items() if not _advanced(d) and not d.isDestination()}
    assert len(inputs) <= MAX_SHOWN_INPUTS, sorted(inputs)
    assert {"INPUTS", "MODEL"} <= inputs
    assert all(_advanced(defs[k]) for k in ("BANDS", "BANDS_S1", "SCALE", "BATCH_SIZE"))


def test_the_cli_still_lists_and_takes_the_advanced_options(capsys):
    classify = next(c for c in all_commands() if c.name == "classify")
    advanced = [p for p in classify.params if p.advanced]
    assert {p.key for p in advanced} >= CLASSIFY_ADVANCED | {"EXTENT_CRS"}
    with pytest.raises(SystemExit) as done:
        main(["classify", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    for p in advanced:
        assert p.flag in text, p.flag
    args = build_parser().parse_args(
        ["classify", "--model", "m.lczmodel", "--sentinel2", "s2.tif", "--output", "o.tif",
         "--bands", "B2,B3", "--scale", "dn", "--stride", "5", "--batch-size", "64",
         "--resample", "--probabilities-format", "byte", "--margin", "margin.tif"]
    )  # fmt: skip
    assert (args.bands, args.scale, args.stride, args.batch_size) == ("B2,B3", "dn", 5, 64)
    assert args.resample is True and args.probabilities_format == "byte"
    assert args.margin == ["margin.tif"]
