"""The map-from-areas bootstrap: 25 random-forest splits by polygon on 300 polygons /
20,000 patches (target: under 5 minutes on 2 cores), with the time per split.

Patches are synthetic So2Sat-like Sentinel-2 windows (``sample_data``'s class renderer
is not needed: class-dependent reflectance plus noise), 300 polygons over 17 classes;
the features are computed once (as ``map_from_training_areas`` does), then
``run_bootstrap`` trains and scores the splits. ``LCZ_BENCH_BOOTSTRAP_SPLITS`` runs fewer
splits (the total is then extrapolated in ``total_25_s``).
"""

from __future__ import annotations

import os
import time

import numpy as np

TITLE = "Map from training areas: rf bootstrap by polygon (300 polygons, 20,000 patches)"
N_POLYGONS, N_PATCHES = 300, 20_000
SPLITS = int(os.environ.get("LCZ_BENCH_BOOTSTRAP_SPLITS", "25"))
TREES = 100


def patches(seed: int = 0):
    """(x, codes, polygons): 20,000 patches of 300 polygons, class means + noise."""
    rng = np.random.default_rng(seed)
    poly_class = rng.integers(1, 18, N_POLYGONS)
    polygons = np.sort(rng.integers(0, N_POLYGONS, N_PATCHES))
    codes = poly_class[polygons]
    means = rng.uniform(0.02, 0.4, (18, 10)).astype(np.float32)
    x = means[codes][:, None, None, :] + rng.normal(0, 0.05, (N_PATCHES, 32, 32, 10)).astype(
        np.float32
    )
    return x, codes.astype(np.int64), polygons.astype(np.int64)


def run(workdir) -> list[dict]:
    """One row: features, the splits, seconds per split and the 25-split total."""
    from lcz_qgis.common.bands import SEN2_BANDS
    from lcz_qgis.models.features import patch_features
    from lcz_qgis.training_areas.bootstrap import run_bootstrap
    from lcz_qgis.training_areas.workflow import rf_fit_predict

    x, codes, polygons = patches()
    t0 = time.perf_counter()
    features = patch_features(x, SEN2_BANDS)
    t_features = time.perf_counter() - t0
    t0 = time.perf_counter()
    res = run_bootstrap(polygons, codes, rf_fit_predict(features, codes, TREES), SPLITS)
    t_boot = time.perf_counter() - t0
    per_split = t_boot / SPLITS
    return [{
        "case": f"{SPLITS} splits, {TREES} trees", "features_s": round(t_features, 1),
        "splits_s": round(t_boot, 1), "per_split_s": round(per_split, 2),
        "total_25_s": round(t_features + 25 * per_split, 1),
        "oa_mean": round(res.summary["oa"]["mean"], 3),
    }]  # fmt: skip
