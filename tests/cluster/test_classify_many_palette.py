"""PALETTE and LANGUAGE in classify-many (issue 26): the workers write every tile with the
run's legend (colour table, category names, .qml), as the mosaic; the standard legend
keeps the task keys of older records, another one is part of them."""

from __future__ import annotations

import hashlib
import json
import xml.etree.ElementTree as ET
from dataclasses import asdict, replace

from osgeo import gdal

from lcz_qgis.cli import main
from lcz_qgis.cluster.run import ManyOptions, plan_run
from lcz_qgis.cluster.tasks import RECORD_VERSION
from lcz_qgis.common.legend import COLOURBLIND, PALETTES, STANDARD, legend_style


def _qml_entries(path) -> dict:
    root = ET.parse(path).getroot()
    return {int(e.get("value")): (e.get("color"), e.get("label"))
            for e in root.iter("paletteEntry")}  # fmt: skip


def _colour_table(path) -> tuple[list[str], list[str]]:
    ds = gdal.Open(str(path))
    band = ds.GetRasterBand(1)
    table, names = band.GetColorTable(), band.GetCategoryNames()
    colours = ["#{:02x}{:02x}{:02x}".format(*table.GetColorEntry(c)[:3]) for c in range(1, 18)]
    return colours, names


def test_tiles_and_mosaic_in_the_runs_palette_and_language(cluster, four, rf_model, tmp_path):
    out = tmp_path / "out"
    code = main(["classify-many", "--inputs", str(four["nw"]), str(four["se"]), "--model",
                 str(rf_model), "--scheduler", cluster, "--output-folder", str(out),
                 "--palette", "colourblind", "--language", "fr"])  # fmt: skip
    assert code == 0
    tiles = sorted((out / "tiles").glob("*.tif"))
    assert len(tiles) == 2
    cb = [c.lower() for c in PALETTES[COLOURBLIND]]
    for tile in tiles:
        colours, names = _colour_table(tile)
        assert colours == cb, tile.name
        assert names[2] == "LCZ 2: Ensemble compact d'immeubles"
        entries = _qml_entries(tile.with_suffix(".qml"))
        assert [entries[c][0].lower() for c in range(1, 18)] == cb
        assert entries[2][1] == "LCZ 2: Ensemble compact d'immeubles"
    mosaic = _qml_entries(out / "mosaic.qml")
    assert [mosaic[c][0].lower() for c in range(1, 18)] == cb


def test_the_legend_is_part_of_the_key_only_when_not_standard(four, rf_model, tmp_path):
    tasks, job = plan_run(four["nw"], rf_model, tmp_path / "k", ManyOptions())
    assert (job.palette, job.language) == (STANDARD, "en")
    with legend_style(COLOURBLIND, "fr"):
        _, styled = plan_run(four["nw"], rf_model, tmp_path / "k2", ManyOptions())
    assert (styled.palette, styled.language) == (COLOURBLIND, "fr")
    key = job.task_key(tasks[0])
    assert replace(styled, output_folder=job.output_folder).task_key(tasks[0]) != key
    # the standard legend adds nothing to the key: a record written before the legend was
    # part of the job (its key: the record version, the job's fields, the task) matches
    left_out = ("output_folder", "threads", "run_started", "offset", "palette", "language")
    fields = {k: v for k, v in asdict(job).items() if k not in left_out}
    text = json.dumps([RECORD_VERSION, fields, asdict(tasks[0])], sort_keys=True, default=str)
    assert hashlib.sha256(text.encode()).hexdigest()[:32] == key
