"""loadpatches / render / datasetsummary inside QGIS: Processing, styled layers, qgis_process."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from helpers import run_and_load

pytestmark = pytest.mark.qgis

REPO = Path(__file__).resolve().parents[2]
N = 24  # the first rows of testing_geo_2025.h5: 10 UTM zones


@pytest.fixture(scope="module")
def files(tmp_path_factory, shared_dir):
    d = tmp_path_factory.mktemp("patches_qgis")
    rng = np.random.default_rng(11)
    with h5py.File(d / "img.h5", "w") as f:
        f["sen2"] = rng.random((N, 32, 32, 10)) * 0.3
        f["sen1"] = rng.random((N, 32, 32, 8)) * 0.2
        f["label"] = np.eye(17)[rng.integers(0, 17, N)]
    with (
        h5py.File(shared_dir / "so2sat" / "testing_geo_2025.h5", "r") as g,
        h5py.File(d / "img_geo.h5", "w") as o,
    ):
        for k in ("tfw", "epsg", "coord"):
            o[k] = g[k][:N]
        tfw, epsg = g["tfw"][:N], g["epsg"][:N, 0]
    return {"dir": d, "tfw": tfw, "epsg": epsg}


def test_loadpatches_rasters_and_outlines_load_styled(qgis_app, files, tmp_path):
    from qgis.core import QgsRasterLayer, QgsVectorLayer

    folder, gpkg = tmp_path / "out", tmp_path / "outlines.gpkg"
    res, layers = run_and_load(
        "lcz:loadpatches",
        {
            "INPUT": str(files["dir"] / "img.h5"),
            "GEO": str(files["dir"] / "img_geo.h5"),
            "SENSOR": "sen2",
            "OUTPUT_FOLDER": str(folder),
            "OUTPUT_PATCHES": str(gpkg),
        },
    )
    zones = sorted(set(files["epsg"].tolist()))
    assert res["N_PATCHES"] == N and res["N_SKIPPED"] == 0 and len(res["RASTERS"]) == len(zones)
    for path in res["RASTERS"]:
        loaded = layers[Path(path).name]  # added to the project and styled by the post-processor
        assert loaded.renderer().type() == "multibandcolor"
        assert loaded.renderer().redBand() == 3 and loaded.renderer().blueBand() == 1
        plain = QgsRasterLayer(path, "m")  # the .qml sidecar for other ways of opening it
        assert plain.isValid() and plain.renderer().type() == "multibandcolor"
        e = int(Path(path).stem.rsplit("EPSG", 1)[1])
        assert (
            plain.crs().authid() == f"EPSG:{e}"
            and plain.rasterUnitsPerPixelX() == pytest.approx(10.0)
        )
        i = int(np.flatnonzero(files["epsg"] == e)[0])
        # patch i's upper-left pixel centre holds its B2 value
        ulx, uly = files["tfw"][i, 0], files["tfw"][i, 3]
        from qgis.core import QgsPointXY

        val, ok = plain.dataProvider().sample(QgsPointXY(ulx + 5, uly - 5), 1)
        with h5py.File(files["dir"] / "img.h5", "r") as f:
            assert ok and val == pytest.approx(float(np.float32(f["sen2"][i, 0, 0, 0])))
    outlines = layers["outlines.gpkg"]
    assert outlines.renderer().type() == "categorizedSymbol" and outlines.labelsEnabled()
    # opened without Processing, the GeoPackage's own default style applies
    (tmp_path / "outlines.qml").unlink()
    v = QgsVectorLayer(str(gpkg), "v", "ogr")
    assert v.isValid() and v.featureCount() == N and v.crs().authid() == "EPSG:4326"
    r = v.renderer()
    assert r.type() == "categorizedSymbol" and r.classAttribute() == "lcz"
    assert r.categories()[16].label() == "LCZ G: Water"
    assert r.categories()[16].symbol().color().name() == "#6a6aff"
    assert v.labelsEnabled() and "patch_index" in v.labeling().settings().fieldName
    names = [f.name() for f in v.fields()]
    assert {"patch_index", "lcz", "lcz_name", "city", "epsg", "raster"} <= set(names)
    feats = {f["patch_index"]: f for f in v.getFeatures()}
    assert feats[0]["epsg"] == int(files["epsg"][0]) and feats[0]["ul_x"] == files["tfw"][0, 0]


def test_loadpatches_grid_and_refusals(run_alg, files, tmp_path):
    from qgis.core import QgsProcessingException, QgsRasterLayer

    res = run_alg(
        "lcz:loadpatches",
        {
            "INPUT": str(files["dir"] / "img.h5"),
            "PER_CLASS": 1,
            "SENSOR": "sen1",
            "OUTPUT_FOLDER": str(tmp_path / "g"),
            "OUTPUT_PATCHES": str(tmp_path / "g.gpkg"),
        },
    )
    layer = QgsRasterLayer(res["RASTERS"][0], "grid")
    assert layer.crs().authid() == "EPSG:3857" and layer.bandCount() == 8
    assert layer.renderer().type() == "multibandcolor" and layer.renderer().redBand() == 6
    with pytest.raises(QgsProcessingException, match="out of range"):
        run_alg(
            "lcz:loadpatches",
            {
                "INPUT": str(files["dir"] / "img.h5"),
                "INDICES": "0-30",
                "OUTPUT_FOLDER": str(tmp_path / "x"),
            },
        )
    with pytest.raises(QgsProcessingException, match="GeoPackage"):
        run_alg(
            "lcz:loadpatches",
            {
                "INPUT": str(files["dir"] / "img.h5"),
                "INDICES": "1",
                "OUTPUT_FOLDER": str(tmp_path / "x"),
                "OUTPUT_PATCHES": str(tmp_path / "x.shp"),
            },
        )


@pytest.mark.parametrize(
    "product,renderer", [("ndvi", "singlebandpseudocolor"), ("truecolor", "multibandcolor")]
)
def test_render_outputs_load_styled(qgis_app, files, tmp_path, product, renderer):
    from qgis.core import QgsRasterLayer

    from lcz_qgis.patches.load import load_patches

    r = load_patches(
        files["dir"] / "img.h5",
        tmp_path / "p",
        indices="0-3",
        per_patch_files=True,
        geo=files["dir"] / "img_geo.h5",
    )
    src = str(r.rasters[0])
    out = tmp_path / f"{product}.tif"
    res, layers = run_and_load("lcz:render", {"INPUT": src, "PRODUCT": product, "OUTPUT": str(out)})
    assert layers[out.name].renderer().type() == renderer
    # named after the product's readable name and the input, not the output parameter
    # ("Product") nor the product's code ("TRUECOLOR")
    title = {"ndvi": "NDVI (vegetation index)", "truecolor": "Sentinel-2 true colour"}[product]
    assert layers[out.name].name() == f"{title} \u2013 {Path(src).stem}"
    layer = QgsRasterLayer(str(out), product)
    assert layer.isValid() and layer.renderer().type() == renderer
    assert layer.crs().authid() == f"EPSG:{files['epsg'][0]}"
    if product == "ndvi":
        items = layer.renderer().shader().rasterShaderFunction().colorRampItemList()
        assert items[0].value == -1.0 and items[-1].color.name() == "#00441b"
        with h5py.File(files["dir"] / "img.h5", "r") as f:
            b4, b8 = (float(np.float32(f["sen2"][0, 0, 0, b])) for b in (2, 6))
        from qgis.core import QgsPointXY

        val, ok = layer.dataProvider().sample(
            QgsPointXY(files["tfw"][0, 0] + 5, files["tfw"][0, 3] - 5), 1
        )
        assert ok and val == pytest.approx((b8 - b4) / (b8 + b4), rel=1e-5)
    else:
        assert layer.renderer().alphaBand() == 4


def test_datasetsummary_html(run_alg, files, tmp_path):
    res = run_alg(
        "lcz:datasetsummary",
        {
            "INPUT": str(files["dir"] / "img.h5"),
            "SAMPLE_SIZE": 5,
            "OUTPUT_HTML": str(tmp_path / "s.html"),
            "OUTPUT_PNG": str(tmp_path / "s.png"),
        },
    )
    assert res["N_PATCHES"] == N
    page = Path(res["OUTPUT_HTML"]).read_text()
    assert "data:image/png;base64," in page and "Compact high-rise" in page
    assert Path(res["OUTPUT_PNG"]).read_bytes()[:4] == b"\x89PNG"


def test_qgis_process_loadpatches_and_render(qgis_process, files, tmp_path):
    from qgis.core import QgsRasterLayer, QgsVectorLayer

    r = qgis_process(
        "run",
        "lcz:loadpatches",
        "--",
        f"INPUT={files['dir'] / 'img.h5'}",
        f"GEO={files['dir'] / 'img_geo.h5'}",
        "INDICES=0-5",
        "PER_PATCH_FILES=true",
        f"OUTPUT_FOLDER={tmp_path / 'q'}",
        f"OUTPUT_PATCHES={tmp_path / 'q.gpkg'}",
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert "N_PATCHES:\t6" in r.stdout
    v = QgsVectorLayer(str(tmp_path / "q.gpkg"), "q", "ogr")
    assert v.featureCount() == 6 and v.renderer().type() == "categorizedSymbol"
    tifs = sorted((tmp_path / "q").glob("*.tif"))
    assert [t.name for t in tifs] == [f"img_sen2_{i:06d}.tif" for i in range(6)]
    r = qgis_process(
        "run",
        "lcz:render",
        "--",
        f"INPUT={tifs[2]}",
        "PRODUCT=mndwi",
        f"OUTPUT={tmp_path / 'm.tif'}",
    )
    assert r.returncode == 0, r.stdout + r.stderr
    layer = QgsRasterLayer(str(tmp_path / "m.tif"), "m")
    assert layer.renderer().type() == "singlebandpseudocolor"
    assert layer.crs().authid() == f"EPSG:{files['epsg'][2]}"
    r = qgis_process(
        "run", "lcz:render", "--", f"INPUT={tifs[2]}", "PRODUCT=rvi", f"OUTPUT={tmp_path / 'r.tif'}"
    )
    assert r.returncode != 0 and "Missing: VH, VV" in r.stdout + r.stderr
