"""Processing: prepare/classify algorithms, the graphical model, batch use and qgis_process."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import make_s1_pair, make_safe, renderer_band

from lcz_qgis.classify.area_table import read_area_csv
from lcz_qgis.raster.io import gdal

pytestmark = pytest.mark.qgis

MODEL_ID = "lcz:sentinel2_to_lcz_map"


@pytest.fixture(scope="module")
def safe(tmp_path_factory):
    return make_safe(tmp_path_factory.mktemp("qsafe"), size10=160)


def test_algorithms_and_model_are_registered(qgis_app):
    from qgis.core import QgsApplication

    reg = QgsApplication.processingRegistry()
    for alg_id in ("lcz:preparesentinel2", "lcz:preparesentinel1", "lcz:classifyraster", MODEL_ID):
        alg = reg.algorithmById(alg_id)
        assert alg is not None, alg_id
        assert alg.shortHelpString() or alg.helpString() or alg.shortDescription()
    names = {p.name() for p in reg.algorithmById("lcz:classifyraster").parameterDefinitions()}
    assert {"MODEL", "SENTINEL2", "SENTINEL1", "BANDS", "SCALE", "STRIDE", "RESOLUTION",
            "BATCH_SIZE", "MASK", "EXTENT", "FILTER", "OUTPUT", "CONFIDENCE", "PROBABILITIES",
            "AREA_TABLE", "MAP_IMAGE"} <= names  # fmt: skip


def test_registered_model_is_complete_named_and_grouped(qgis_app):
    from qgis.core import QgsApplication

    reg = QgsApplication.processingRegistry()
    model = reg.algorithmById(MODEL_ID)  # the toolbox's copy, not a fresh instance
    outputs = {o.name() for o in model.outputDefinitions()}
    assert outputs == {"classify:LCZ map", "classify:Confidence", "classify:Area table",
                       "classify:Map image"}  # fmt: skip
    assert model.displayName() == "Sentinel-2 product \u2192 LCZ map"
    helptext = model.shortHelpString()  # the description plus each input and output
    assert "MTD_MSIL2A.xml" in helptext and "north arrow" in helptext
    provider = reg.providerById("lcz")
    groups = {(a.groupId(), a.group()) for a in provider.algorithms()}
    assert groups == {("data", "Data"), ("visualisation", "Visualisation"),
                      ("models", "Models"), ("mapping", "Mapping"),
                      ("analysis", "Analysis")}  # fmt: skip
    assert model.groupId() == reg.algorithmById("lcz:classifyraster").groupId()
    # every raster is written as GeoTIFF: the dialogs must not offer other formats
    assert provider.supportedOutputRasterLayerExtensions() == ["tif"]
    assert provider.supportedOutputVectorLayerExtensions() == ["gpkg"]
    assert provider.versionInfo()


def test_classify_outputs_load_styled_and_named(qgis_app, sample_dir, rf_model, tmp_path):
    from helpers import run_and_load

    paths = {k: tmp_path / f"{k.lower()}.tif" for k in ("OUTPUT", "CONFIDENCE", "PROBABILITIES")}
    res, layers = run_and_load(
        "lcz:classifyraster",
        {"MODEL": str(rf_model), "SENTINEL2": str(sample_dir / "scene_s2.tif"), "STRIDE": 16}
        | {k: str(p) for k, p in paths.items()},
    )
    names = {p.name: layers[p.name].name() for p in paths.values()}
    assert names == {"output.tif": "LCZ map \u2013 rf \u2013 scene_s2",
                     "confidence.tif": "LCZ confidence \u2013 rf \u2013 scene_s2",
                     "probabilities.tif": "LCZ probabilities \u2013 rf \u2013 scene_s2"}  # fmt: skip
    assert layers["output.tif"].renderer().type() == "paletted"
    proba = layers["probabilities.tif"].renderer()
    # one class's probability on the confidence ramp, not P(LCZ 1..3) as an RGB composite
    assert proba.type() == "singlebandpseudocolor" and renderer_band(proba) == 1
    items = proba.shader().rasterShaderFunction().colorRampItemList()
    assert (items[0].value, items[-1].value) == (0.0, 1.0)
    assert layers["probabilities.tif"].bandName(1).endswith("P(LCZ 1)")


def test_unwritable_output_is_a_clear_processing_error(run_alg, sample_dir, rf_model):
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException) as err:
        run_alg(
            "lcz:classifyraster",
            {
                "MODEL": str(rf_model),
                "SENTINEL2": str(sample_dir / "scene_s2.tif"),
                "OUTPUT": "/proc/lcz_map.tif",
            },  # fmt: skip
        )
    assert "/proc" in str(err.value) and "Traceback" not in str(err.value)


def test_prepare_then_classify_in_processing(run_alg, safe, rf_model, tmp_path):
    s2 = tmp_path / "s2.tif"
    res = run_alg(
        "lcz:preparesentinel2", {"INPUT": str(safe / "MTD_MSIL2A.xml"), "OUTPUT": str(s2)}
    )
    assert res["OUTPUT"] == str(s2)
    arr = gdal().Open(str(s2)).ReadAsArray()
    assert arr.shape == (10, 160, 160) and (arr[:, :8, :16] == -9999).all()
    out = tmp_path / "map.tif"
    params = {
        "MODEL": str(rf_model),
        "SENTINEL2": str(s2),
        "RESOLUTION": 80,
        "FILTER": "majority",
        "OUTPUT": str(out),
        "CONFIDENCE": str(tmp_path / "conf.tif"),
        "CONFIDENCE_FORMAT": "byte",
        "AREA_TABLE": str(tmp_path / "area.csv"),
        "MAP_IMAGE": str(tmp_path / "map.png"),
    }
    res = run_alg("lcz:classifyraster", params)
    assert set(res) >= {"OUTPUT", "CONFIDENCE", "AREA_TABLE", "MAP_IMAGE"}
    ds = gdal().Open(str(out))
    codes = ds.ReadAsArray()
    assert ds.GetGeoTransform()[1] == 80 and codes.shape == (18, 18)
    rows = read_area_csv(tmp_path / "area.csv")
    assert sum(r["cells"] for r in rows) == int((codes > 0).sum()) > 0
    assert (tmp_path / "map.png").stat().st_size > 5000
    assert out.with_suffix(".qml").exists() and (tmp_path / "conf.qml").exists()


def test_fusion_with_prepared_sentinel1_and_batch_reuse(run_alg, sample_dir, tmp_path):
    """Prepare S1 onto the sample city grid; classify twice with one algorithm (batch-like)."""
    from qgis.core import QgsApplication, QgsProcessingContext, QgsProcessingFeedback, QgsProject

    from lcz_qgis.training.train import train_model

    model = tmp_path / "fusion.lczmodel"
    train_model(sample_dir / "train.h5", model, model_type="rf", sensor="fusion",
                bands="5,6,9-18", seed=0, max_samples=400)  # fmt: skip
    # S1 GRD-like pair in dB near the city's upper-left
    s1 = make_s1_pair(tmp_path, db=True, nodata_corner=False)
    ref = sample_dir / "scene_s2.tif"
    s1_out = tmp_path / "s1.tif"
    run_alg("lcz:preparesentinel1", {"VV": str(s1["VV"]), "VH": str(s1["VH"]),
                                     "REFERENCE": str(ref), "OUTPUT": str(s1_out)})  # fmt: skip
    ds = gdal().Open(str(s1_out))
    assert ds.RasterXSize == 512 and ds.GetRasterBand(1).GetDescription() == "VH_intensity"
    alg = QgsApplication.processingRegistry().createAlgorithmById("lcz:classifyraster")
    outs = []
    for k, stride in enumerate((16, 8)):
        out = tmp_path / f"f{k}.tif"
        ctx = QgsProcessingContext()
        ctx.setProject(QgsProject.instance())
        params = {"MODEL": str(model), "SENTINEL2": str(ref), "SENTINEL1": str(s1_out),
                  "STRIDE": stride, "OUTPUT": str(out)}  # fmt: skip
        ok = alg.prepareAlgorithm(params, ctx, QgsProcessingFeedback())
        assert ok
        res = alg.runPrepared(params, ctx, QgsProcessingFeedback())
        alg.postProcess(ctx, QgsProcessingFeedback())
        outs.append(res["OUTPUT"])
        # the S1 raster covers only ~1 km in the upper-left: cells there are classified
        codes = gdal().Open(res["OUTPUT"]).ReadAsArray()
        assert gdal().Open(res["OUTPUT"]).GetGeoTransform()[1] == stride * 10
        assert 0 < (codes > 0).sum() < codes.size / 4
    assert outs[0] != outs[1]


def test_cancel_in_processing_writes_nothing(qgis_app, rf_model, sample_dir, tmp_path):
    from qgis.core import (
        QgsApplication,
        QgsProcessingContext,
        QgsProcessingException,
        QgsProcessingFeedback,
        QgsProject,
    )

    class CancelAt(QgsProcessingFeedback):
        def setProgress(self, p):  # noqa: N802 - QGIS API
            super().setProgress(p)
            if p > 20:
                self.cancel()

    alg = QgsApplication.processingRegistry().createAlgorithmById("lcz:classifyraster")
    ctx = QgsProcessingContext()
    ctx.setProject(QgsProject.instance())
    params = {"MODEL": str(rf_model), "SENTINEL2": str(sample_dir / "scene_s2.tif"),
              "FILTER": "gaussian", "OUTPUT": str(tmp_path / "m.tif"),
              "PROBABILITIES": str(tmp_path / "p.tif"), "AREA_TABLE": str(tmp_path / "a.csv")}  # fmt: skip
    fb = CancelAt()
    assert alg.prepareAlgorithm(params, ctx, fb)
    with pytest.raises(QgsProcessingException, match="Cancelled: no output was written"):
        alg.runPrepared(params, ctx, fb)  # raised, so a model or batch stops and says so
    assert list(tmp_path.iterdir()) == []


def test_qgis_process_lists_and_runs_the_graphical_model(qgis_process, safe, rf_model, tmp_path):
    listing = qgis_process("list")
    assert listing.returncode == 0, listing.stderr
    for alg_id in (MODEL_ID, "lcz:preparesentinel2", "lcz:preparesentinel1"):
        assert alg_id in listing.stdout
    helptext = qgis_process("help", MODEL_ID).stdout
    assert "classify:LCZ map" in helptext.split("Outputs")[-1]
    out, csv, png = tmp_path / "lcz.tif", tmp_path / "area.csv", tmp_path / "map.png"
    r = qgis_process(
        "run", MODEL_ID, "--",
        f"PRODUCT={safe}", f"MODEL={rf_model}", "RESOLUTION=80", "FILTER=gaussian",
        f"classify:LCZ map={out}", f"classify:Area table={csv}", f"classify:Map image={png}",
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    ds = gdal().Open(str(out))
    codes = ds.ReadAsArray()
    assert ds.GetGeoTransform()[1] == 80 and (codes > 0).sum() > 50
    rows = read_area_csv(csv)
    assert sum(r["cells"] for r in rows) == int((codes > 0).sum())
    assert png.exists()
    # and the algorithm itself through qgis_process, with the DN-scale warning path
    out2 = tmp_path / "direct.tif"
    r = qgis_process(
        "run", "lcz:classifyraster", "--", f"MODEL={rf_model}",
        f"SENTINEL2={tmp_path / 'missing.tif'}", f"OUTPUT={out2}",
    )  # fmt: skip
    assert r.returncode != 0 and not out2.exists()
    assert np.isfinite(codes).all()


def test_extent_in_degrees_with_reproject_selects_its_cells(run_alg, rf_model, tmp_path):
    from helpers import write_raster

    rng = np.random.default_rng(0)
    arr = rng.uniform(0.02, 0.3, (200, 200, 10)).astype(np.float32)
    geo = write_raster(tmp_path / "geo.tif", arr, gt=(11.0, 0.0001, 0, 48.2, 0, -0.0001), epsg=4326)
    counts = {}
    for name, extent in (("all", None), ("quarter", "11.0,11.01,48.19,48.2 [EPSG:4326]")):
        params = {"MODEL": str(rf_model), "SENTINEL2": str(geo), "REPROJECT": True,
                  "STRIDE": 4, "OUTPUT": str(tmp_path / f"{name}.tif")}  # fmt: skip
        if extent:
            params["EXTENT"] = extent
        run_alg("lcz:classifyraster", params)
        ds = gdal().Open(str(tmp_path / f"{name}.tif"))
        codes = ds.ReadAsArray()
        counts[name] = int((codes > 0).sum())
        if extent:  # the valid cells sit in the upper-left quarter of the UTM grid
            rows, cols = np.nonzero(codes)
            assert rows.max() < codes.shape[0] * 0.6 and cols.max() < codes.shape[1] * 0.6
    assert 0.15 * counts["all"] < counts["quarter"] < 0.4 * counts["all"]
