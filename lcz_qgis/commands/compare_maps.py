"""``lcz compare-maps`` / lcz:comparemaps: agreement of two LCZ maps (cross-table, OA,
kappa, OA_u, OA_bu, OA_w, per-class agreement, an agreement raster); on request grouped
classes, the agreement by confidence, the change table of two dates and an HTML report."""

from __future__ import annotations

from ..analysis.compare import compare_maps
from ..common.legend import lcz_class
from ..evaluation.evaluate import json_text
from .spec import ENUM, FILE_DEST, OUT_NUMBER, RASTER, RASTER_DEST, Command, Output, Param

NUMBERS = {"OA": "oa", "KAPPA": "kappa", "OA_U": "oa_u", "OA_BU": "oa_bu", "OA_W": "oa_w"}


def _run(values: dict, feedback, given=None) -> dict:
    groups = None if values.get("GROUPS") in (None, "none") else values["GROUPS"]
    result = compare_maps(values["REFERENCE"], values["MAP"], values["OUTPUT"],
                          table=values["TABLE"], confidence=values.get("CONFIDENCE"),
                          change_table=values.get("CHANGE_TABLE"), groups=groups,
                          report=values.get("REPORT"), feedback=feedback)  # fmt: skip
    out = {key: float(result[k]) for key, k in NUMBERS.items()}
    if groups:  # OA and kappa of the groups; OA_u, OA_bu, OA_w are the classes'
        out.update(OA=result["group_scores"]["oa"], KAPPA=result["group_scores"]["kappa"])
    files = {key: result[key.lower()] for key in ("OUTPUT", "TABLE", "CHANGE_TABLE", "REPORT")}
    return {**out, **files, "_result": result}


def _report(values: dict, outputs: dict) -> str:
    r = outputs["_result"]
    keep = ("oa", "kappa", "oa_u", "oa_bu", "oa_w", "n", "note")
    per_class = {c["lcz"]: {"agreement_of_reference": c["recall"],
                            "agreement_of_map": c["precision"], "cells": c["support"]}
                 for c in r["per_class"] if c["support"]}  # fmt: skip
    extra = {}
    if r["groups"]:
        g = r["group_scores"]
        extra["groups"] = {"grouping": r["groups"], "oa": g["oa"], "kappa": g["kappa"],
                           "per_group": {p["group"]: {"agreement_of_reference": p["recall"],
                                                      "agreement_of_map": p["precision"],
                                                      "cells": p["cells"]}
                                         for p in g["per_group"]}}  # fmt: skip
    if r.get("confidence_curve"):
        extra["confidence_curve"] = {f"{c['threshold']:.1f}": {"share_kept": c["kept_share"],
                                                               "oa": c["oa"]}
                                     for c in r["confidence_curve"]}  # fmt: skip
    if r.get("transitions") is not None:
        extra["top_transitions"] = [
            {"from": lcz_class(t["from"]).letter, "to": lcz_class(t["to"]).letter,
             "cells": t["cells"], "area_km2": t["area_km2"]} for t in r["transitions"]
        ]  # fmt: skip
    return json_text({**{k: r[k] for k in keep}, "per_class": per_class, **extra})


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
        "either has no LCZ (styled).<br>"
        "<b>Groups</b> (optional): classes grouped before comparing: built (LCZ 1-10) vs "
        "natural (A-G), or compact (1-3) vs open (4-6) vs other. The agreement raster, the "
        "cross-table, OA and kappa are then the groups' (OA_u, OA_bu and OA_w stay the "
        "classes').<br>"
        "<b>Confidence</b> (optional): the compared map's confidence raster, on its grid "
        "(the plugin's classify writes one: float 0-1 with nodata -1, or byte percent with "
        "nodata 255). A CSV of the agreement as a function of the confidence threshold "
        "(0, 0.1, ..., 0.9: the share of the cells kept, confidence >= threshold, and the "
        "OA of those) is written beside the agreement raster (<i>name</i>_confidence.csv).<br>"
        "<b>Change table</b> (optional; the reference is the earlier date): the change "
        "matrix (from-class rows, to-class columns) in cells and in km² and the 10 "
        "most common transitions (no-change excluded), with a bar chart of them beside it "
        "(.png).<br>"
        "<b>Report</b> (optional): one self-contained HTML page with the numbers and the "
        "figures: the cross-table heatmap (rows = reference), the per-class agreement, the "
        "confidence curve and the top transitions when asked."
    ),
    params=[
        Param("REFERENCE", RASTER, "Reference LCZ map", "The reference LCZ map (rows)."),
        Param("MAP", RASTER, "LCZ map to compare", "The LCZ map compared with it (columns)."),
        Param("OUTPUT", RASTER_DEST, "Agreement raster",
              "The agreement raster to write (GeoTIFF): 1 agree, 2 differ, 0 no data."),
        Param("TABLE", FILE_DEST, "Cross-table (CSV)",
              "The cross-table, rows = reference, columns = map.", optional=True,
              file_filter="CSV files (*.csv)"),
        Param("GROUPS", ENUM, "Group the classes",
              "Compare groups of classes instead: built-natural (LCZ 1-10 vs A-G) or "
              "compact-open (LCZ 1-3 vs 4-6 vs other).", default="none",
              choices=(("none", "No grouping: the 17 classes"),
                       ("built-natural", "Built vs natural (LCZ 1-10 vs A-G)"),
                       ("compact-open", "Compact vs open vs other (LCZ 1-3, 4-6, the rest)")),
              optional=True),
        Param("CONFIDENCE", RASTER, "Confidence of the compared map",
              "The compared map's confidence raster on its grid (float 0-1, nodata -1; or "
              "byte percent, nodata 255): the agreement by confidence threshold is written "
              "beside the agreement raster (<name>_confidence.csv).", optional=True),
        Param("CHANGE_TABLE", FILE_DEST, "Change table (CSV)",
              "Two dates of one place (the reference is the earlier): the change matrix in "
              "cells and km2 and the top 10 transitions; a bar chart (.png) beside it.",
              optional=True, file_filter="CSV files (*.csv)", create_by_default=False),
        Param("REPORT", FILE_DEST, "Report (HTML)",
              "A self-contained HTML page with the scores and figures.", optional=True,
              file_filter="HTML files (*.html)"),
    ],
    outputs=[Output(key, OUT_NUMBER, key.replace("_", " ")) for key in NUMBERS],
    run=_run,
    report=_report,
)  # fmt: skip
