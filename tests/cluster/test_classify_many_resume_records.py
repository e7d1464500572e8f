"""Resume records and the lock file are not trusted as they are (issue 21, finding 6).

A ``done/*.json`` record whose key still matches but whose content was edited or
damaged (counts as strings, 10^30, x1000, swapped between classes; a garbage CRS or
cell area; not JSON) makes its task "not done": the re-run warns, redoes that task only
and writes the correct area table. A lock file with a non-numeric pid is one clear error.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from lcz_qgis.classify.area_table import read_area_csv
from lcz_qgis.cluster.run import LOCK_NAME, ManyOptions, classify_many
from lcz_qgis.cluster.tasks import record_path, tile_path
from lcz_qgis.common.errors import LczError
from lcz_qgis.common.feedback import RecordingFeedback


@pytest.fixture(scope="module")
def done_run(cluster, four, rf_model, tmp_path_factory):
    """A finished run of two rasters (nw, ne): its output folder."""
    out = tmp_path_factory.mktemp("records") / "out"
    rep = classify_many([four["nw"], four["ne"]], rf_model, out, ManyOptions(scheduler=cluster))
    assert rep.count("done") == 2
    return out


def _edit(rec: dict, how: str):
    """The record edited the way ``how`` says (or the raw text to write)."""
    counts = rec["counts"]
    top = int(np.argmax(counts[1:])) + 1
    other = next(i for i in range(1, 18) if counts[i] != counts[top])
    edits = {
        "counts_as_strings": {**rec, "counts": [str(c) for c in counts]},
        "counts_1e30": {**rec, "counts": [*counts[:-1], 10**30]},
        "counts_x1000": {**rec, "counts": [c * 1000 for c in counts]},
        "counts_negative": {**rec, "counts": [-c for c in counts]},
        "counts_swapped": {
            **rec,
            "counts": [
                counts[other] if i == top else counts[top] if i == other else c
                for i, c in enumerate(counts)
            ],
        },  # fmt: skip
        "crs_garbage": {**rec, "crs": "garbage"},
        "cell_area_text": {**rec, "cell_area_m2": "big"},
        "cell_area_wrong": {**rec, "cell_area_m2": rec["cell_area_m2"] * 4},
        "cell_area_inf": {**rec, "cell_area_m2": 1e400},
        "not_an_object": [rec],
    }
    if how == "truncated":
        return json.dumps(rec)[:40]
    return json.dumps(edits[how])


CASES = ["counts_as_strings", "counts_1e30", "counts_x1000", "counts_negative",
         "counts_swapped", "crs_garbage", "cell_area_text", "cell_area_wrong", "cell_area_inf",
         "not_an_object", "truncated"]  # fmt: skip


@pytest.mark.parametrize("how", CASES)
def test_an_edited_record_is_redone_with_a_warning_and_the_area_table_is_right(
    how, done_run, cluster, four, four_ref, rf_model, tmp_path
):
    out = tmp_path / "out"
    shutil.copytree(done_run, out)
    good = json.loads(record_path(out, "nw").read_text())
    record_path(out, "nw").write_text(_edit(good, how))
    before_ne = record_path(out, "ne").read_bytes()
    fb = RecordingFeedback()
    rep = classify_many([four["nw"], four["ne"]], rf_model, out, ManyOptions(scheduler=cluster),
                        fb)  # fmt: skip
    status = {t["name"]: t["status"] for t in rep.tasks}
    assert status == {"nw": "done", "ne": "skipped"}
    assert any(f"record {record_path(out, 'nw')} cannot be trusted" in w for w in fb.warnings)
    assert record_path(out, "ne").read_bytes() == before_ne
    assert tile_path(out, "nw").read_bytes() == four_ref["nw"]
    redone = json.loads(record_path(out, "nw").read_text())
    assert redone["counts"] == good["counts"] and redone["crs"] == good["crs"]
    rows = read_area_csv(out / "area_table.csv")
    expect = np.add(good["counts"], json.loads(before_ne)["counts"])
    assert [r["cells"] for r in rows] == expect[1:].tolist()
    assert (out / "area_table.csv").read_bytes() == (done_run / "area_table.csv").read_bytes()


def test_a_record_of_other_settings_is_redone_silently(done_run, cluster, four, rf_model,
                                                       tmp_path):  # fmt: skip
    out = tmp_path / "out"
    shutil.copytree(done_run, out)
    rec = json.loads(record_path(out, "nw").read_text())
    record_path(out, "nw").write_text(json.dumps({**rec, "key": "0" * 32}))
    fb = RecordingFeedback()
    rep = classify_many([four["nw"], four["ne"]], rf_model, out, ManyOptions(scheduler=cluster),
                        fb)  # fmt: skip
    assert {t["name"]: t["status"] for t in rep.tasks} == {"nw": "done", "ne": "skipped"}
    assert not fb.warnings


@pytest.mark.parametrize("note", ['{"host": "h", "pid": "abc"}', '{"pid": 1.5}', "[1]", "{",
                                  '{"host": "h", "pid": 12, "started": "x"}'])  # fmt: skip
def test_a_damaged_lock_file_is_one_clear_error(note, four, rf_model, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / LOCK_NAME).write_text(note)
    with pytest.raises(LczError, match="has a damaged lock file .*delete it") as info:
        classify_many([four["nw"]], rf_model, out, ManyOptions(workers=1))
    assert "\n" not in str(info.value)
    assert (out / LOCK_NAME).read_text() == note  # left for the user to judge
    assert not (out / "tiles").exists()
