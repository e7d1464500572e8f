"""The map image's subtitle in real runs (issue 24, findings 6 and 9): classify names the
model in words and gives the accuracy its model file records; map-from-areas gives the
bootstrap's OA and kappa with their 95% intervals. No raw code ("rf", "sen2")."""

from __future__ import annotations

import re

import pytest
from helpers import write_areas_file

from lcz_qgis.classify import map_image
from lcz_qgis.common.feedback import RecordingFeedback

RAW = re.compile(r"\b(rf|sen2|sen1|finetune)\b")


@pytest.fixture()
def subtitles(monkeypatch):
    """The subtitles the map images of a run are drawn with, in order."""
    seen = []
    draw = map_image.render_map_png

    def keep(lcz_tif, png, title="", subtitle="", *args, **kwargs):
        seen.append(subtitle)
        return draw(lcz_tif, png, title, subtitle, *args, **kwargs)

    monkeypatch.setattr(map_image, "render_map_png", keep)
    return seen


def test_classify_gives_the_model_in_words_and_its_recorded_accuracy(sample_dir, tmp_path,
                                                                      subtitles):  # fmt: skip
    from lcz_qgis.classify.pipeline import classify_raster
    from lcz_qgis.models.modelfile import load_model
    from lcz_qgis.training.train import train_model

    model_path = tmp_path / "rf.lczmodel"
    trained = train_model(sample_dir / "train.h5", model_path, model_type="rf", sensor="sen2",
                          seed=0, validation=sample_dir / "test.h5")  # fmt: skip
    model = load_model(model_path)
    classify_raster(model, tmp_path / "lcz.tif", sentinel2=sample_dir / "scene_s2.tif",
                    map_image=tmp_path / "map.png", filter="majority",
                    feedback=RecordingFeedback())  # fmt: skip
    (text,) = subtitles
    oa, kappa = trained.scores["oa"], trained.scores["kappa"]
    assert text.startswith("random forest, Sentinel-2, 100 m cells, majority filter; ")
    assert f"OA {oa:.2f}, kappa {kappa:.2f} (validation: " in text
    assert not RAW.search(text)
    assert (tmp_path / "map.png").read_bytes()[:4] == b"\x89PNG"


def test_map_from_areas_gives_the_bootstrap_accuracy_with_intervals(tmp_path, subtitles):
    from lcz_qgis.sample_data import write_scene
    from lcz_qgis.training_areas.workflow import MapRequest, map_from_training_areas

    write_scene(tmp_path, 7)
    write_areas_file(tmp_path / "areas.gpkg")
    req = MapRequest(
        areas=str(tmp_path / "areas.gpkg"), sentinel2=str(tmp_path / "scene_s2.tif"),
        output=str(tmp_path / "lcz.tif"), n_splits=3, trees=20, seed=3,
        map_image=str(tmp_path / "map.png"),
    )  # fmt: skip
    res = map_from_training_areas(req, RecordingFeedback())
    oa, kappa = res.bootstrap.summary["oa"], res.bootstrap.summary["kappa"]
    text = subtitles[-1]  # the image kept: drawn again with the intervals
    assert text == (
        f"random forest, Sentinel-2, 100 m cells; OA {oa['mean']:.2f} "
        f"[{oa['low']:.2f}-{oa['high']:.2f}], kappa {kappa['mean']:.2f} "
        f"[{kappa['low']:.2f}-{kappa['high']:.2f}] (bootstrap, 3 splits)"
    )
    assert not RAW.search(text)
