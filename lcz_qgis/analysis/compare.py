"""``compare_maps``: agreement of two LCZ maps on one grid (the coarser one's).

On request also: classes grouped before comparing (``compare_groups``), the agreement
by the compared map's confidence (``compare_confidence``), the change matrix of two dates
(``change``) and an HTML report (``compare_report``); every output staged together.

The cross-table counts the cells where both maps hold an LCZ, rows = the reference,
columns = the map (``evaluation.metrics`` orientation), and its scores are those of
``evaluation.metrics.scores_from_confusion`` (OA, kappa, OA_u, OA_bu, OA_w, per class).
The agreement raster holds 1 where the maps agree, 2 where they differ and 0 where
either has no LCZ. Both maps are read in one pass by strips of rows (``read_map.pass_rows``):
memory is flat in map size.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common.atomic import check_distinct_paths, staged_outputs
from ..common.background import in_reader_thread
from ..common.errors import LczError, param
from ..common.feedback import Feedback
from ..common.legend import LCZ_CLASSES
from ..evaluation.metrics import scores_from_confusion
from ..raster.io import GTIFF_OPTIONS, closing_raster, create_geotiff, gdal_writes
from ..styling.qml import paletted_style
from .cell_area import row_areas
from .change import add_areas, change_table_text, top_transitions, transitions_png
from .common_grid import common_grid
from .compare_confidence import Confidence, curve_text
from .compare_groups import check_groups, group_lut, group_matrix, group_scores, group_table_text
from .compare_report import report_html
from .read_map import LczMap, iter_strips, open_lcz_map, pass_rows
from .run_counts import count_keys

AGREE, DISAGREE = 1, 2  # _agreement_cells counts on DISAGREE = AGREE + 1
# the agreement raster's blocks are compressed on all cores while the pass goes on
# (GDAL's own threads; the file is the same byte for byte): DEFLATE was half its time
AGREEMENT_OPTIONS = [*GTIFF_OPTIONS, "NUM_THREADS=ALL_CPUS"]


def agreement_qml() -> str:
    """The agreement raster's style: agree green, differ red, 0 transparent."""
    return paletted_style([(AGREE, "#1a9641", "agree"), (DISAGREE, "#d7191c", "differ")])


def cross_table_text(cm: np.ndarray) -> str:
    """The cross-table as CSV: a header of the map's classes, one row per reference class,
    with row and column totals."""
    names = [f"LCZ {c.letter}" for c in LCZ_CLASSES]
    lines = ["reference \\ map," + ",".join(names) + ",total"]
    for name, row in zip(names, cm):
        lines.append(f"{name}," + ",".join(map(str, row)) + f",{row.sum()}")
    lines.append("total," + ",".join(map(str, cm.sum(axis=0))) + f",{cm.sum()}")
    return "\n".join(lines) + "\n"


@dataclass
class _Extras:
    """What the pass tallies beside the class cross-table."""

    lut: np.ndarray  # code 0-17 -> group (the identity without grouping)
    confidence: Confidence | None = None
    area_m2: np.ndarray | None = None  # (17, 17) ground area, for the change table


def _pair_lut(lut: np.ndarray) -> np.ndarray:
    """(324,) uint8: the agreement value of each pair ``ref * 18 + map`` of codes 0-17
    (``lut`` groups the codes): 0 where either is nodata, else AGREE or DISAGREE."""
    a, b = np.divmod(np.arange(18 * 18), 18)
    same = lut[a] == lut[b]
    return np.where((a > 0) & (b > 0), np.where(same, AGREE, DISAGREE), 0).astype(np.uint8)


def _strip_pairs(ref: LczMap, other: LczMap, rows: int, stop):
    """``(row0, ref codes, other codes)`` of each strip of ``rows`` rows (read in a
    thread of its own while the last strip's agreement is compressed and written)."""
    for (row0, a), (_, b) in zip(iter_strips(ref, rows), iter_strips(other, rows)):
        if stop.is_set():
            return
        yield row0, a, b


def _agreement_cells(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The agreement value of each cell of two code arrays, without grouping: AGREE
    where they hold the same LCZ, DISAGREE where different ones, 0 where either is
    nodata (``_pair_lut`` of the identity, in three passes of bytes instead of a look-up
    by 64-bit indices: four times faster)."""
    out = np.not_equal(a, b).view(np.uint8) + np.uint8(AGREE)  # DISAGREE = AGREE + 1
    out[(a == 0) | (b == 0)] = 0
    return out


def _agreement_pass(ref: LczMap, other: LczMap, ds, feedback, extras: _Extras) -> np.ndarray:
    """Write the agreement raster (of groups when grouped) to ``ds`` strip by strip, tally
    the extras; returns the (17, 17) class cross-table.

    One pass of ``pass_rows`` strips: each cell's pair ``ref * 18 + map`` gives its
    agreement value (``_pair_lut``), and the pairs counted per strip
    (``run_counts.count_keys``) the cross-table.
    """
    counts = np.zeros(18 * 18, np.int64)
    agreement = _pair_lut(extras.lut)
    grouped = not np.array_equal(extras.lut, np.arange(18))
    rows = pass_rows(ref.info.width)
    for row0, a, b in in_reader_thread(_strip_pairs, ref, other, rows, depth=2):
        feedback.check_cancelled()
        n = a.shape[0]
        pair = np.multiply(a, 18, dtype=np.uint16)
        pair = np.add(pair, b, out=pair)
        out = agreement.take(pair) if grouped else _agreement_cells(a, b)
        ds.write(out[None], window=((row0, row0 + n), (0, out.shape[1])))
        counts += count_keys(pair, 18 * 18)[0]
        if extras.confidence is not None:
            extras.confidence.add(extras.confidence.read(row0, n), out > 0, out == AGREE)
        if extras.area_m2 is not None:
            add_areas(extras.area_m2, a, b, row_areas(ref.info, row0, n))
        feedback.progress(95.0 * (row0 + n) / ref.info.height)
    return np.ascontiguousarray(counts.reshape(18, 18)[1:, 1:])


def _check(outputs: dict) -> None:
    """Each output's file type: the agreement raster a .tif, the tables .csv, the report
    .html."""
    if Path(str(outputs["OUTPUT"])).suffix.lower() not in (".tif", ".tiff"):
        raise LczError(f"{param('OUTPUT')}: the agreement raster is a GeoTIFF; give a .tif name")
    for key, ext, what in (("TABLE", ".csv", "the cross-table is a CSV file"),
                           ("CHANGE_TABLE", ".csv", "the change table is a CSV file"),
                           ("REPORT", ".html", "the report is an HTML page")):  # fmt: skip
        if outputs.get(key) and Path(str(outputs[key])).suffix.lower() != ext:
            raise LczError(f"{param(key)}: {what}; give a {ext} name")


def _results(cm: np.ndarray, extras: _Extras, groups, note: str) -> dict:
    """The scores of the tallies: the classes', and the groups', curve and transitions
    when asked."""
    res = {**scores_from_confusion(cm), "note": note, "groups": groups}
    for c, predicted in zip(res["per_class"], cm.sum(axis=0)):
        c["predicted"] = int(predicted)
    if groups:
        res["group_confusion"] = group_matrix(cm, groups)
        res["group_scores"] = group_scores(res["group_confusion"], groups)
    if extras.confidence is not None:
        res["confidence_curve"] = extras.confidence.curve()
    if extras.area_m2 is not None:
        res["change_area_m2"] = extras.area_m2
        res["transitions"] = top_transitions(cm, extras.area_m2)
    return res


def _write_tables(st, res: dict, outputs: dict, reference, map_path) -> None:
    """Stage the cross-table, the change table and its figure, and the report."""
    if outputs.get("TABLE"):
        text = (group_table_text(res["group_confusion"], res["groups"]) if res["groups"]
                else cross_table_text(np.asarray(res["confusion"])))  # fmt: skip
        st.write_text(outputs["TABLE"], text)
    if outputs.get("CHANGE_TABLE"):
        cm = np.asarray(res["confusion"])
        st.write_text(outputs["CHANGE_TABLE"],
                      change_table_text(cm, res["change_area_m2"], res["transitions"]))  # fmt: skip
        st.write_bytes(figure_path(outputs["CHANGE_TABLE"]), transitions_png(res["transitions"]))
    if outputs.get("CONFIDENCE_TABLE"):
        st.write_text(outputs["CONFIDENCE_TABLE"], curve_text(res["confidence_curve"]))
    if outputs.get("REPORT"):
        st.write_text(outputs["REPORT"], report_html(res, str(reference), str(map_path)))


def confidence_table_path(output) -> Path:
    """The confidence curve's CSV, written beside the agreement raster."""
    return Path(output).with_name(Path(output).stem + "_confidence.csv")


def figure_path(change_table) -> Path:
    """The transitions figure written beside the change table (same name, .png)."""
    return Path(change_table).with_suffix(".png")


def compare_maps(reference, map_path, output, table=None, confidence=None, change_table=None,
                 groups=None, report=None, feedback: Feedback | None = None):  # fmt: skip
    """Compare two LCZ maps: agreement raster, cross-table CSV and scores.

    Args:
        confidence: the compared map's confidence raster (float 0-1 or byte percent, on
            its grid): the agreement by confidence threshold (``compare_confidence``),
            written beside the agreement raster (``confidence_table_path``).
        change_table: a CSV of the change matrix and top transitions (``change``; the
            reference is the earlier date); its bar chart is written beside it (.png).
        groups: ``built-natural`` or ``compact-open`` (``compare_groups``): the agreement
            raster, the cross-table CSV and ``group_scores`` on the groups.
        report: an HTML page with the figures and the numbers (``compare_report``).

    Returns:
        The ``scores_from_confusion`` dict of the classes plus ``note`` (which map was
        resampled), ``groups``, ``group_scores``, ``group_confusion``,
        ``confidence_curve``, ``transitions`` (when asked), ``output``, ``table``,
        ``change_table``, ``figure``, ``report``, ``confidence_table``.

    Raises:
        LczError: bad input (named); no cell where both maps hold an LCZ.
    """
    feedback = feedback or Feedback()
    outputs = {"OUTPUT": output, "TABLE": table, "CHANGE_TABLE": change_table,
               "FIGURE": change_table and figure_path(change_table), "REPORT": report,
               "CONFIDENCE_TABLE": confidence and confidence_table_path(output)}  # fmt: skip
    _check(outputs)
    groups = check_groups(groups)
    check_distinct_paths({"REFERENCE": reference, "MAP": map_path, "CONFIDENCE": confidence},
                         outputs)  # fmt: skip
    with open_lcz_map(reference, "reference map") as a, open_lcz_map(map_path) as b:
        ref, other, note = common_grid(a, b)
        feedback.info(note)
        extras = _Extras(group_lut(groups), area_m2=np.zeros((17, 17)) if change_table else None)
        if confidence:
            extras.confidence = Confidence(confidence, b, other)
        try:
            res = _run(ref, other, extras, outputs, feedback, (groups, note, reference, map_path))
        finally:
            if extras.confidence is not None:
                extras.confidence.close()
    out = {k.lower(): v and str(v) for k, v in outputs.items()}
    return {**res, **out}


def _run(ref, other, extras: _Extras, outputs: dict, feedback, about) -> dict:
    """The pass and every output, staged together."""
    groups, note, reference, map_path = about
    info = ref.info
    with staged_outputs(feedback) as st:
        tmp = st.temp(outputs["OUTPUT"])
        with gdal_writes(), closing_raster(create_geotiff(
            tmp, info.width, info.height, 1, "uint8", info.geotransform, info.crs_wkt,
            nodata=0, descriptions=["agreement"], options=AGREEMENT_OPTIONS)) as ds:  # fmt: skip
            cm = _agreement_pass(ref, other, ds, feedback, extras)
        if cm.sum() == 0:
            raise LczError("the two maps share no cell where both hold an LCZ; do they "
                           "cover the same place?")  # fmt: skip
        st.write_text(Path(outputs["OUTPUT"]).with_suffix(".qml"), agreement_qml())
        res = _results(cm, extras, groups, note)
        _write_tables(st, res, outputs, reference, map_path)
    return res
