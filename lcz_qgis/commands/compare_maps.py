"""``lcz compare-maps`` / lcz:comparemaps: agreement of two LCZ maps (cross-table, OA,
kappa, OA_u, OA_bu, OA_w, per-class agreement, an agreement raster)."""

from __future__ import annotations

from ..analysis.compare import compare_maps
from ..evaluation.evaluate import json_text
from .spec import FILE_DEST, OUT_NUMBER, RASTER, RASTER_DEST, Command, Output, Param

NUMBERS = {"OA": "oa", "KAPPA": "kappa", "OA_U": "oa_u", "OA_BU": "oa_bu", "OA_W": "oa_w"}


def _run(values: dict, feedback, given=None) -> dict:
    result = compare_maps(values["REFERENCE"], values["MAP"], values["OUTPUT"],
                          table=values["TABLE"], feedback=feedback)  # fmt: skip
    out = {key: float(result[k]) for key, k in NUMBERS.items()}
    return {**out, "OUTPUT": result["output"], "TABLE": result["table"], "_result": result}


def _report(values: dict, outputs: dict) -> str:
    r = outputs["_result"]
    keep = ("oa", "kappa", "oa_u", "oa_bu", "oa_w", "n", "note")
    per_class = {c["lcz"]: {"agreement_of_reference": c["recall"],
                            "agreement_of_map": c["precision"], "cells": c["support"]}
                 for c in r["per_class"] if c["support"]}  # fmt: skip
    return json_text({**{k: r[k] for k in keep}, "per_class": per_class})


COMMAND = Command(
    name="compare-maps",
    algorithm="comparemaps",
    display_name="Compare two LCZ maps",
    group="analysis",
    order=61,
    summary="agreement of two LCZ maps: cross-table, OA, kappa, OA_u, OA_bu, OA_w, "
    "agreement raster",
    help=(
        "Compares an LCZ map with a reference LCZ map (another product, an earlier date) "
        "cell by cell.<br>"
        "<b>One grid</b>: the coarser map's. The finer map is resampled onto it by nearest "
        "neighbour (class codes are never interpolated); the log says which. Any LCZ "
        "maps are read (codes 1-17 or 101-107, any nodata, any CRS).<br>"
        "<b>Cross-table</b> (CSV): the cells where both maps hold an LCZ, rows = the "
        "reference, columns = the map, with totals. <b>Scores</b>: overall agreement "
        "(OA), Cohen's kappa, OA_u (urban classes only), OA_bu (built vs natural), OA_w "
        "(weighted by class similarity, Bechtel et al. 2020), and per class the share of "
        "the reference's cells the map agrees with and the reverse.<br>"
        "<b>Agreement raster</b>: 1 where the maps agree, 2 where they differ, 0 where "
        "either has no LCZ (styled)."
    ),
    params=[
        Param("REFERENCE", RASTER, "Reference LCZ map", "The reference LCZ map (rows)."),
        Param("MAP", RASTER, "LCZ map to compare", "The LCZ map compared with it (columns)."),
        Param("OUTPUT", RASTER_DEST, "Agreement raster",
              "The agreement raster to write (GeoTIFF): 1 agree, 2 differ, 0 no data."),
        Param("TABLE", FILE_DEST, "Cross-table (CSV)",
              "The cross-table, rows = reference, columns = map.", optional=True,
              file_filter="CSV files (*.csv)"),
    ],
    outputs=[Output(key, OUT_NUMBER, key.replace("_", " ")) for key in NUMBERS],
    run=_run,
    report=_report,
)  # fmt: skip
