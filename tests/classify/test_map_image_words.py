"""The map image reads well (issue 24, findings 6 and 9): its subtitle says the model in
words ("random forest, Sentinel-2", never "rf model (sen2)") and the map's accuracy when
it is known (the bootstrap's OA and kappa with their intervals, or the scores a model
file records, with where they were measured); its legend and footer give areas by one
rule (3 significant digits: "1.50 km²" beside "1.38 km²", no 16-digit floats)."""

from __future__ import annotations

import re

import numpy as np
import pytest
from helpers import write_raster

from lcz_qgis.classify.area_table import format_km2
from lcz_qgis.classify.map_image import (
    bootstrap_accuracy,
    manifest_accuracy,
    map_figure,
    map_subtitle,
    model_words,
)
from lcz_qgis.models.modelfile import load_model

RAW = re.compile(r"\b(rf|sen2|sen1|fusion_late|mlp_diy|finetune)\b")
# 100 m cells: 150 of LCZ 1 (1.50 km²), 138 of LCZ 2 (1.38), 12,345 of A (123), 1 of G
CELLS = {1: 150, 2: 138, 11: 12_345, 17: 1}
AREAS = {"1": "1.50 km²", "2": "1.38 km²", "A": "123 km²", "G": "0.0100 km²"}


@pytest.fixture(scope="module")
def lcz_map(tmp_path_factory):
    """An LCZ map of 200 x 100 cells of 100 m holding ``CELLS``, the rest nodata (0)."""
    codes = np.zeros(200 * 100, np.uint8)
    start = 0
    for code, n in CELLS.items():
        codes[start : start + n] = code
        start += n
    path = tmp_path_factory.mktemp("map") / "lcz.tif"
    gt = (690000.0, 100.0, 0.0, 5340000.0, 0.0, -100.0)
    return write_raster(path, codes.reshape(100, 200), gt=gt, gtype="uint8")


def test_the_legend_and_footer_give_areas_by_one_rule(lcz_map):
    fig = map_figure(lcz_map, subtitle="x")
    (legend,) = [ax.get_legend() for ax in fig.axes if ax.get_legend()]
    labels = [t.get_text() for t in legend.get_texts()]
    got = {}
    for label in labels:
        m = re.fullmatch(r"\s*(\w+)  .+  \((\d+\.\d)%, (.+)\)", label)
        assert m, label
        got[m.group(1)] = m.group(3)
    assert got == AREAS
    for area in got.values():  # 3 significant digits, no exponent, no long float
        assert len(re.sub(r"\D", "", area).lstrip("0")) == 3, area
    footer = [t.get_text() for t in fig.texts if "mapped" in t.get_text()]
    assert footer == ["200 x 100 cells of 100 m; mapped 126 km²; white = no data"]


@pytest.mark.parametrize(
    ("km2", "text"),
    [(1.5, "1.50 km²"), (1.38, "1.38 km²"), (12.34, "12.3 km²"), (0.01, "0.0100 km²"),
     (9.996, "10.0 km²"), (99.96, "100 km²"), (1234.5, "1,234 km²"), (0, "0 km²"),
     (1 / 3, "0.333 km²"), (float("nan"), "n/a")],
)  # fmt: skip
def test_the_area_rule(km2, text):
    assert format_km2(km2) == text


def test_the_subtitle_says_the_model_and_the_bootstrap_accuracy(lcz_map):
    summary = {"oa": {"mean": 0.8123, "low": 0.7712, "high": 0.8449, "values": []},
               "kappa": {"mean": 0.7801, "low": 0.74, "high": 0.8204, "values": []}}  # fmt: skip
    text = map_subtitle("rf", "sen2", 100, "majority", bootstrap_accuracy(summary, 25))
    assert text == (
        "random forest, Sentinel-2, 100 m cells, majority filter; "
        "OA 0.81 [0.77-0.84], kappa 0.78 [0.74-0.82] (bootstrap, 25 splits)"
    )
    assert not RAW.search(text)
    fig = map_figure(lcz_map, "LCZ map", text)
    assert text in [t.get_text() for t in fig.texts]
    assert map_subtitle("sen2lcznet", "fusion", 10) == (
        "Sen2LCZ-Net, Fusion (Sentinel-1 + Sentinel-2), 10 m cells"
    )
    assert model_words("finetune") == "fine-tuned network"


def test_the_subtitle_takes_the_scores_a_model_file_records(sample_dir, tmp_path):
    from lcz_qgis.training.train import train_model

    out = tmp_path / "rf.lczmodel"
    result = train_model(sample_dir / "train.h5", out, model_type="rf", sensor="sen2", seed=0,
                         validation=sample_dir / "test.h5")  # fmt: skip
    manifest = load_model(out).manifest
    oa, kappa = result.scores["oa"], result.scores["kappa"]
    how = manifest["training"]["validation"]
    assert manifest_accuracy(manifest) == f"OA {oa:.2f}, kappa {kappa:.2f} (validation: {how})"
    # a model from training areas: its scores are the bootstrap's means
    areas = {"scores": {"oa": 0.8, "kappa": 0.7},
             "training": {"validation": "bootstrap of 25 70/30 splits by polygon"}}  # fmt: skip
    assert manifest_accuracy(areas) == "OA 0.80, kappa 0.70 (bootstrap, 25 splits)"
    # an imported published model: the authors' test set
    published = {"scores": {"oa": 0.6937, "kappa": 0.6644}, "scores_source": "published: ...",
                 "published_score": {"dataset": "So2Sat LCZ42 v2 testing.h5"}}  # fmt: skip
    assert manifest_accuracy(published) == (
        "OA 0.69, kappa 0.66 (published, So2Sat LCZ42 v2 testing.h5)"
    )
    assert manifest_accuracy({"scores": {}}) == ""
    assert manifest_accuracy({"scores": {"oa": float("nan")}}) == ""
