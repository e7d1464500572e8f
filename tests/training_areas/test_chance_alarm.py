"""A chance-level map raises an alarm (issue 24, finding 4): training areas over a raster
that has nothing to do with them give a bootstrap whose kappa interval includes 0; the
warning reaches the log, the factsheet's first lines and the map image. The "few
polygons" check counts polygons that gave patches, not polygons as drawn."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
from helpers import SCENE_AREAS, write_areas_file, write_raster

from lcz_qgis.common.feedback import RecordingFeedback
from lcz_qgis.sample_data import write_scene
from lcz_qgis.training_areas.bootstrap import BootstrapResult, chance_alarm
from lcz_qgis.training_areas.workflow import MapRequest, map_from_training_areas


def _boot(kappa, oa, confusion_rows):
    conf = np.zeros((17, 17), np.int64)
    for code, n in confusion_rows.items():
        conf[code - 1, code - 1] = n
    summary = {"kappa": dict(zip(("mean", "low", "high"), kappa, strict=True)),
               "oa": {"mean": oa, "low": oa, "high": oa}}  # fmt: skip
    return BootstrapResult([], summary, {}, conf)


def test_the_alarm_rule():
    assert chance_alarm(_boot((0.6, 0.5, 0.7), 0.7, {1: 50, 2: 50})) == ""
    text = chance_alarm(_boot((0.008, -0.019, 0.038), 0.6, {1: 50, 2: 50}))
    assert "kappa [-0.019, 0.038] includes 0" in text and "largest class" not in text
    text = chance_alarm(_boot((0.2, 0.1, 0.3), 0.82, {1: 80, 2: 20}))  # 0.82 <= 0.80 + 0.05
    assert "no better than always predicting the largest class (0.800" in text
    assert "kappa" not in text.split(".")[0]


@pytest.fixture(scope="module")
def unrelated(tmp_path_factory):
    """The sample city's training areas over a raster of noise on the same grid."""
    d = tmp_path_factory.mktemp("chance")
    write_scene(d, 7)
    with rasterio.open(d / "scene_s2.tif") as ds:
        gt, epsg, (h, w, c) = (
            ds.transform.to_gdal(),
            ds.crs.to_epsg(),
            (ds.height, ds.width, ds.count),
        )
    rng = np.random.default_rng(5)
    write_raster(
        d / "noise.tif", rng.uniform(0.02, 0.4, (h, w, c)).astype(np.float32), gt=gt, epsg=epsg
    )
    write_areas_file(d / "areas.gpkg")
    out = d / "out"
    out.mkdir()
    req = MapRequest(
        areas=str(d / "areas.gpkg"), sentinel2=str(d / "noise.tif"), output=str(out / "lcz.tif"),
        n_splits=6, trees=20, seed=1, factsheet=str(out / "factsheet.html"),
        map_image=str(out / "map.png"),
    )  # fmt: skip
    fb = RecordingFeedback()
    return map_from_training_areas(req, fb), out, fb


def test_unrelated_raster_warns_in_the_log_and_the_factsheet(unrelated):
    result, out, fb = unrelated
    kappa = result.bootstrap.summary["kappa"]
    assert kappa["low"] <= 0 <= kappa["high"]  # the premise: chance level
    alarms = [w for w in fb.warnings if w.startswith("chance-level map")]
    assert len(alarms) == 1 and "includes 0" in alarms[0]
    assert result.alarm == alarms[0]
    html = (out / "factsheet.html").read_text(encoding="utf-8")
    body = html[html.index("<body") :]
    assert "chance-level map" in body
    assert body.index("chance-level map") < body.index("<h2>Accuracy")  # the first lines
    from matplotlib.image import imread

    top = imread(out / "map.png")[:150, :, :3]  # the title and subtitle lines
    red = (top[..., 0] > 0.6) & (top[..., 1] < 0.2) & (top[..., 2] < 0.2)
    assert red.sum() > 200  # the alarm, in red under the subtitle


def test_a_related_raster_raises_no_alarm(sample_dir, tmp_path):
    write_areas_file(tmp_path / "areas.gpkg")
    req = MapRequest(
        areas=str(tmp_path / "areas.gpkg"), sentinel2=str(sample_dir / "scene_s2.tif"),
        output=str(tmp_path / "lcz.tif"), n_splits=4, trees=20, seed=1,
        factsheet=str(tmp_path / "factsheet.html"),
    )  # fmt: skip
    fb = RecordingFeedback()
    result = map_from_training_areas(req, fb)
    assert result.alarm == "" and not [w for w in fb.warnings if "chance-level" in w]
    assert "chance-level" not in (tmp_path / "factsheet.html").read_text(encoding="utf-8")


def test_few_polygons_counts_those_that_gave_patches(sample_dir, tmp_path):
    """LCZ 2 has 3 polygons drawn, but one (compact_tiny) holds no grid point and gives no
    patch: it is flagged as 2 of 3; LCZ 11's polygon on the nodata strip does not count
    either, but 3 others give patches."""
    from lcz_qgis.training_areas.patches import training_area_patches

    assert sum(1 for c, *_ in SCENE_AREAS.values() if c == 2) == 3
    write_areas_file(tmp_path / "areas.gpkg")
    fb = RecordingFeedback()
    res = training_area_patches(
        tmp_path / "areas.gpkg", sample_dir / "scene_s2.tif", tmp_path / "p.h5", feedback=fb
    )
    few = [w for w in fb.warnings if "fewer than 3 training areas that gave patches" in w]
    assert len(few) == 1
    assert "LCZ 2 (2 of 3 polygons)" in few[0] and "LCZ 8 (2 of 2 polygons)" in few[0]
    assert "LCZ A" not in few[0]
    flagged = {s.polygon_id for s in res.suspects if s.check == "few"}
    assert len(flagged) == 5  # the 3 drawn polygons of LCZ 2 and the 2 of LCZ 8
