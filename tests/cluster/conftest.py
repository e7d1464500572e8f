"""The cluster tests' shared LocalCluster (two worker processes of one thread, started
once for the folder; each run still warms its workers up and loads its model) and four
small rasters with their ``lcz classify`` maps."""

from __future__ import annotations

import pytest
from helpers import write_crop

from lcz_qgis.classify.pipeline import classify_raster
from lcz_qgis.models.modelfile import load_model


@pytest.fixture(scope="package")
def cluster():
    """The address of a real LocalCluster (2 worker processes, 1 thread each)."""
    from distributed import LocalCluster

    env = {"TF_NUM_INTRAOP_THREADS": "1", "OMP_NUM_THREADS": "1", "TF_CPP_MIN_LOG_LEVEL": "2"}
    # on 127.0.0.1 only, as the plugin's own clusters (dashboard_address=None meant a
    # dashboard on every interface at :8787, taken when the two platforms' suites overlap)
    c = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                     dashboard_address="127.0.0.1:0", env=env, silence_logs=50)  # fmt: skip
    yield c.scheduler_address
    c.close()


QUADRANTS = {"nw": (0, 0), "ne": (260, 0), "sw": (0, 260), "se": (260, 260)}  # 200 x 200 px


@pytest.fixture(scope="package")
def four(sample_dir, tmp_path_factory) -> dict:
    """Four 200 x 200 px crops of the sample scene on one 100 m grid, and their list."""
    d = tmp_path_factory.mktemp("four")
    out = {n: write_crop(sample_dir / "scene_s2.tif", d / f"{n}.tif", c, r, 200, 200)
           for n, (c, r) in QUADRANTS.items()}  # fmt: skip
    (d / "list.txt").write_text("".join(f"{n}.tif\n" for n in out))
    return out


@pytest.fixture(scope="package")
def four_ref(four, rf_model, tmp_path_factory) -> dict:
    """``lcz classify`` of each crop: name -> the map's bytes."""
    d = tmp_path_factory.mktemp("four_ref")
    model = load_model(rf_model)
    return {n: classify_raster(model, d / f"{n}.tif", p).output.read_bytes()
            for n, p in four.items()}  # fmt: skip
