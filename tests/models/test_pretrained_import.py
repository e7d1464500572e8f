"""Importing the So2Sat authors' published weights (../shared/pretrained) into .lczmodel files.

Each published file is imported, loaded back with ``lcz_qgis.load_model`` and used to
classify the sample city; downloads are exercised with local ``file://`` URLs, a
wrong hash and an unreachable address; bad inputs must fail clearly with no output.
"""

from __future__ import annotations

import importlib
import json
import shutil
import socket
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

import lcz_qgis
from lcz_qgis.classify.pipeline import classify_raster
from lcz_qgis.classify.sliding_window import output_grid
from lcz_qgis.cli import main as cli_main
from lcz_qgis.common.bands import SEN2_BANDS
from lcz_qgis.common.errors import Cancelled, LczError
from lcz_qgis.common.feedback import RecordingFeedback
from lcz_qgis.models import pretrained
from lcz_qgis.models.pretrained_import import import_pretrained, with_scene_statistics
from lcz_qgis.raster.io import open_raster, read_lcz_map

pytestmark = pytest.mark.tf
tf = pytest.importorskip("tensorflow")

FILES = {
    "sen2lcznet": "sen2lcznet_32_weights.best.hdf5",
    "so2sat_resnet20_s2": "so2sat_s2_resnet20.h5",
    "so2sat_resnet20_s1": "so2sat_s1_resnet20.h5",
}
ARCHS = list(FILES)
STRIDE = 20  # fewer windows than the default 10: the test is about validity, not detail


@pytest.fixture(scope="module")
def weights(shared_dir) -> dict[str, Path]:
    paths = {arch: shared_dir / "pretrained" / name for arch, name in FILES.items()}
    if not all(p.is_file() for p in paths.values()):
        pytest.skip("published weights not found in ../shared/pretrained")
    return paths


@pytest.fixture(scope="module")
def imported(weights, sample_dir, tmp_path_factory) -> dict:
    """arch -> (ImportResult, RecordingFeedback); the architecture is auto-detected."""
    out_dir = tmp_path_factory.mktemp("imported")
    results = {}
    for arch, path in weights.items():
        fb = RecordingFeedback()
        s1 = sample_dir / "scene_s1.tif" if arch == "so2sat_resnet20_s1" else None
        res = import_pretrained(
            out_dir / f"{arch}.lczmodel", weights=path, sentinel1=s1, feedback=fb
        )
        results[arch] = (res, fb)
    return results


def _raw_sen2(n=24, seed=20200424):
    return np.random.default_rng(seed).uniform(0.0, 0.5, (n, 32, 32, 10)).astype(np.float32)


def _raw_sen1(n=12, seed=7):
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [
            rng.normal(0, 0.3, (n, 32, 32, 4)),
            rng.gamma(1.0, 0.05, (n, 32, 32, 2)),
            rng.normal(0, 0.02, (n, 32, 32, 2)),
        ],
        axis=-1,
    ).astype(np.float32)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the three imports ---------------------------------------------------------------
@pytest.mark.parametrize("arch", ARCHS)
def test_every_weight_tensor_assigned_and_saved(arch, imported, weights):
    res, fb = imported[arch]
    assert res.architecture == arch and res.sha256_matches and not fb.warnings
    layers = pretrained.read_weight_file(weights[arch])
    assert res.tensors == pretrained.n_tensors(layers) == (104 if arch == "sen2lcznet" else 122)
    # the model file, loaded back, holds exactly the file's tensors in the file's order
    keras_model = lcz_qgis.load_model(res.path).network
    saved = [layer.get_weights() for layer in keras_model.layers if layer.weights]
    published = [arrays for _, arrays in layers if arrays]
    assert len(saved) == len(published)
    for got, want in zip(saved, published):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
    assert keras_model.count_params() == pretrained.PUBLISHED[arch]["n_params"]
    assert res.self_check_max_diff <= 1e-5


@pytest.mark.parametrize("arch", ARCHS)
def test_manifest_records_provenance_licence_citations_and_inputs(arch, imported):
    res, _ = imported[arch]
    entry = pretrained.PUBLISHED[arch]
    with zipfile.ZipFile(res.path) as z:
        m = json.loads(z.read("manifest.json"))
        # the network and its ONNX graph (docs/onnx.md); the note says why one is missing
        assert sorted(z.namelist()) == ["manifest.json", "model.keras", "model.onnx"], m["onnx"]
    assert m == lcz_qgis.load_model(res.path).manifest
    assert m["model_type"] == arch and m["framework"] == "keras" and m["pretrained"] is True
    prov = m["provenance"]
    assert prov["source_url"] == entry["source_url"] and prov["source_url"].startswith("https://")
    assert prov["sha256"] == prov["published_sha256"] == entry["sha256"]
    assert prov["sha256_matches_published"] is True and prov["downloaded_from"] is None
    assert prov["file_name"] == FILES[arch] and prov["published_file_name"] == entry["file_name"]
    assert m["licence"] == "MIT" and m["licence_text"].startswith("MIT License\n\nCopyright (c)")
    assert "permission notice shall be included" in m["licence_text"]
    assert any("So2Sat LCZ42" in c and "Zhu" in c for c in m["citations"])
    assert m["architecture"]["id"] == arch and m["architecture"]["weight_tensors"] == res.tensors
    assert m["classes"] == list(range(1, 18))
    if arch == "sen2lcznet":
        assert any(c.startswith("Qiu, C.") for c in m["citations"])
        assert m["published_score"] == {
            "dataset": "So2Sat LCZ42 v2 testing.h5",
            "n_patches": 24188,
            "oa": 0.6937,
            "kappa": 0.6644,
        }
        assert m["scores"] == {"oa": 0.6937, "kappa": 0.6644}
        assert m["architecture"]["build_args"] == {"depth": 17, "dropout": 0.2, "fusion": True}
    else:
        assert "published_score" not in m and "scores" not in m
    if arch == "so2sat_resnet20_s1":
        assert m["sensor"] == "sen1" and m["bands"] == list(range(8))
        assert m["band_names"][4:6] == ["VH_intensity", "VV_intensity"]
        (step,) = m["preprocessing"]
        assert step["type"] == "so2sat_s1_features" and step["statistics"] == "scene"
        assert len(step["mean"]) == len(step["std"]) == 7 and min(step["std"]) > 0
        assert step["scene"]["file"] == "scene_s1.tif" and step["scene"]["crs"] == "EPSG:32632"
    else:
        assert m["sensor"] == "sen2" and m["band_names"] == list(SEN2_BANDS)
        want = [] if arch == "sen2lcznet" else [{"type": "so2sat_resnet20_s2_scaling"}]
        assert m["preprocessing"] == want
        assert "no further normalisation" in m["preprocessing_description"].replace(
            "no normalisation", "no further normalisation"
        )


def test_sen2lcznet_model_file_gives_the_published_networks_probabilities(imported, weights):
    x = _raw_sen2()
    model = lcz_qgis.load_model(imported["sen2lcznet"][0].path)
    got = model.predict_proba(x)
    # the port with the weights assigned by pretrained.py ...
    port, _ = pretrained.load_published(weights["sen2lcznet"])
    want = port(x, training=False).numpy()
    # ... and the architecture with the weights loaded by Keras's own topological h5 loader
    keras_loaded = pretrained.build_model("sen2lcznet")
    keras_loaded.load_weights(str(weights["sen2lcznet"]))
    want_keras = keras_loaded(x, training=False).numpy()
    assert got.shape == (len(x), 17) and got.dtype == np.float32
    assert got.max() > 2 / 17  # not a degenerate output
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    np.testing.assert_allclose(got, want_keras, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(model.predict(x), np.argmax(want, axis=1) + 1)
    # batching does not change anything
    np.testing.assert_allclose(model.predict_proba(x, batch_size=5), got, rtol=0, atol=1e-6)


def test_resnet20_s2_model_file_gives_the_networks_probabilities(imported, weights):
    x = _raw_sen2(8, seed=3)
    port, _ = pretrained.load_published(weights["so2sat_resnet20_s2"])
    got = lcz_qgis.load_model(imported["so2sat_resnet20_s2"][0].path).predict_proba(x)
    # the network sees the authors' float16 rounding of the reflectance (DN / 10000)
    net_input = pretrained.so2sat_resnet20_s2_scaling(x)
    np.testing.assert_allclose(got, port(net_input, training=False).numpy(), rtol=0, atol=1e-6)


def test_s1_uses_the_stored_scene_statistics_whatever_the_batching(imported, weights):
    res, _ = imported["so2sat_resnet20_s1"]
    model = lcz_qgis.load_model(res.path)
    step = model.manifest["preprocessing"][0]
    x = _raw_sen1()
    got = model.predict_proba(x)
    port, _ = pretrained.load_published(weights["so2sat_resnet20_s1"])
    feats = pretrained.so2sat_s1_features(x, mean=step["mean"], std=step["std"])
    np.testing.assert_allclose(got, port(feats, training=False).numpy(), rtol=0, atol=1e-6)
    # one patch at a time, or in other batches: the same probabilities
    parts = np.concatenate([model.predict_proba(x[:1]), model.predict_proba(x[1:5], 2)])
    np.testing.assert_allclose(parts, got[:5], rtol=0, atol=1e-6)
    # per-batch standardisation would have changed them
    assert np.abs(port(pretrained.so2sat_s1_features(x[:1]), training=False) - got[:1]).max() > 1e-3


def test_s1_scene_statistics_are_those_of_the_whole_scene(imported, sample_dir):
    """Streaming by blocks of rows gives the statistics of the scene read whole."""
    step = imported["so2sat_resnet20_s1"][0].manifest["preprocessing"][0]
    ds, info = open_raster(sample_dir / "scene_s1.tif")
    x = ds.read().astype(np.float64).transpose(1, 2, 0)
    valid = (x != info.nodata[0]).all(axis=-1)
    x[~valid] = 0
    valid &= (x[..., 4] + x[..., 5]) > 0
    f = pretrained.so2sat_s1_raw_features(x[None])[0][valid].astype(np.float64)
    assert step["scene"]["pixels"] == valid.sum() == 512 * 512 - 48 * 96
    np.testing.assert_allclose(step["mean"], f.mean(axis=0), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(step["std"], f.std(axis=0), rtol=1e-5)
    small_blocks = pretrained.so2sat_s1_scene_stats(sample_dir / "scene_s1.tif", block_rows=7)
    np.testing.assert_allclose(small_blocks["mean"], step["mean"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(small_blocks["std"], step["std"], rtol=1e-9)
    # another scene's statistics can be bound to a loaded model
    model = lcz_qgis.load_model(imported["so2sat_resnet20_s1"][0].path)
    other = with_scene_statistics(model, sample_dir / "scene_s1.tif")
    assert other.manifest["preprocessing"][0]["mean"] == pytest.approx(step["mean"])
    assert with_scene_statistics(lcz_qgis.load_model(imported["sen2lcznet"][0].path), None)


@pytest.mark.parametrize(
    "arch, scene",
    [
        ("sen2lcznet", "scene_s2.tif"),
        ("so2sat_resnet20_s2", "scene_s2.tif"),
        ("so2sat_resnet20_s1", "scene_s1.tif"),
    ],
)
def test_classifies_the_sample_city(arch, scene, imported, sample_dir, tmp_path):
    model = lcz_qgis.load_model(imported[arch][0].path)
    source = {"sentinel2" if scene == "scene_s2.tif" else "sentinel1": sample_dir / scene}
    out = tmp_path / f"{arch}.tif"
    res = classify_raster(model, out, stride=STRIDE, **source)
    codes, info = read_lcz_map(out)
    _, scene_info = open_raster(sample_dir / scene)
    grid = output_grid(512, 512, scene_info.geotransform, STRIDE)
    assert codes.shape == (grid.rows, grid.cols) and codes.dtype == np.uint8
    assert np.allclose(info.geotransform, grid.geotransform)
    assert info.crs_description() == "EPSG:32632" and info.nodata[0] == 0
    assert codes.max() <= 17
    valid = codes[: grid.valid_rows, : grid.valid_cols]
    # windows touching the 48 x 96 nodata corner (origins < 48 down, < 96 across) are 0,
    # all others hold an LCZ code
    nr, nc = -(-48 // STRIDE), -(-96 // STRIDE)
    assert (valid[:nr, :nc] == 0).all()
    assert (valid[nr:, :] > 0).all() and (valid[:, nc:] > 0).all()
    assert res.windows_valid == (valid > 0).sum() == valid.size - nr * nc
    assert len(np.unique(valid[valid > 0])) >= 2  # a map, not a constant
    assert out.with_suffix(".qml").is_file()


# -- downloads ---------------------------------------------------------------------------
def test_download_from_a_file_url(weights, tmp_path):
    mirror = tmp_path / "mirror" / FILES["sen2lcznet"]
    mirror.parent.mkdir()
    shutil.copyfile(weights["sen2lcznet"], mirror)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    # WEIGHTS given as a URL: the published file is recognised by its hash
    fb = RecordingFeedback()
    res = import_pretrained(out_dir / "a.lczmodel", weights=mirror.as_uri(), feedback=fb)
    assert res.architecture == "sen2lcznet" and res.sha256_matches
    assert res.manifest["provenance"]["downloaded_from"] == mirror.as_uri()
    assert any("matches the published file" in m for m in fb.messages) and not fb.warnings
    assert sorted(p.name for p in out_dir.iterdir()) == ["a.lczmodel"]


def test_download_with_the_wrong_hash_fails_and_keeps_nothing(weights, tmp_path, monkeypatch):
    bad = tmp_path / "bad.h5"
    shutil.copyfile(weights["so2sat_resnet20_s2"], bad)
    with open(bad, "ab") as fh:
        fh.write(b"\0")
    fetched, urls = [], []

    def spy_fetch(url, dest, feedback):
        from lcz_qgis.models.pretrained_import import urllib_fetch

        fetched.append(Path(dest))
        urls.append(url)
        urllib_fetch(url, dest, feedback)

    out = tmp_path / "m.lczmodel"
    with pytest.raises(LczError, match="sha256.*not the authors' file.*not kept"):
        import_pretrained(
            out, weights=bad.as_uri(), architecture="so2sat_resnet20_s2", fetch=spy_fetch
        )
    assert fetched and not fetched[0].exists() and not fetched[0].parent.exists()
    # DOWNLOAD fetches the architecture's published address and checks it the same way
    monkeypatch.setitem(pretrained.PUBLISHED["so2sat_resnet20_s2"], "source_url", bad.as_uri())
    with pytest.raises(LczError, match="not the authors' file.*not kept"):
        import_pretrained(out, download=True, architecture="so2sat_resnet20_s2", fetch=spy_fetch)
    assert len(fetched) == 2 and not fetched[1].exists() and urls[1] == bad.as_uri()
    with pytest.raises(LczError, match="none of the published So2Sat weight files"):
        import_pretrained(out, weights=bad.as_uri(), fetch=spy_fetch)
    assert len(fetched) == 3 and not fetched[2].exists()
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["bad.h5"]


def test_unreachable_url_says_offline_and_how_to_proceed(tmp_path):
    url = f"http://127.0.0.1:{_free_port()}/_32_weights.best.hdf5"
    with pytest.raises(LczError) as err:
        import_pretrained(tmp_path / "m.lczmodel", weights=url, architecture="sen2lcznet")
    msg = str(err.value)
    assert msg.startswith("could not reach 127.0.0.1: you appear to be offline")
    assert f"download the file manually from {url} and give it as weights" in msg.replace(
        "Download", "download"
    )
    with pytest.raises(LczError, match="cannot read file://"):
        import_pretrained(tmp_path / "m.lczmodel", weights=(tmp_path / "none.h5").as_uri())
    assert list(tmp_path.iterdir()) == []


# -- bad input -----------------------------------------------------------------------------
def test_weights_of_another_architecture_fail_naming_the_layer(weights, tmp_path):
    out = tmp_path / "m.lczmodel"
    with pytest.raises(LczError) as err:
        import_pretrained(out, weights=weights["so2sat_resnet20_s2"], architecture="sen2lcznet")
    msg = str(err.value)
    assert "'conv2d_2'" in msg and "'block1_conv2'" in msg
    assert "fit 'so2sat_resnet20_s2'" in msg
    with pytest.raises(LczError, match="conv2d_1.*fit 'so2sat_resnet20_s1'"):
        import_pretrained(
            out, weights=weights["so2sat_resnet20_s1"], architecture="so2sat_resnet20_s2"
        )
    assert not out.exists()


@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
def test_truncated_and_full_model_files_fail_clearly(weights, tmp_path):
    cut = tmp_path / "cut.hdf5"
    data = weights["sen2lcznet"].read_bytes()
    cut.write_bytes(data[: len(data) // 3])
    out = tmp_path / "m.lczmodel"
    with pytest.raises(LczError, match="truncated"):
        import_pretrained(out, weights=cut)
    keras = tf.keras
    full = tmp_path / "full.h5"
    keras.Sequential(
        [keras.Input((32, 32, 10)), keras.layers.Flatten(), keras.layers.Dense(17)]
    ).save(full)
    with pytest.raises(LczError, match="full Keras model.*not a weights-only file"):
        import_pretrained(out, weights=full)
    with pytest.raises(LczError, match="does not exist"):
        import_pretrained(out, weights=tmp_path / "missing.h5")
    assert not out.exists()


def test_weights_only_file_given_as_a_model_says_import_it(weights):
    with pytest.raises(LczError, match="weights only.*lcz import-pretrained"):
        lcz_qgis.load_model(weights["sen2lcznet"])


def test_modified_local_file_imports_with_a_warning(weights, tmp_path):
    copy = tmp_path / "edited.h5"
    shutil.copyfile(weights["so2sat_resnet20_s2"], copy)
    with h5py.File(copy, "r+") as h5:
        name = [n.decode() for n in h5.attrs["layer_names"]][-1]
        group = h5[name]
        kernel = group[group.attrs["weight_names"][0].decode()]
        kernel[0, 0] += 1.0
    fb = RecordingFeedback()
    res = import_pretrained(tmp_path / "m.lczmodel", weights=copy, feedback=fb)
    assert res.architecture == "so2sat_resnet20_s2" and not res.sha256_matches
    assert len(fb.warnings) == 1 and "not byte-identical to the published" in fb.warnings[0]
    m = lcz_qgis.load_model(res.path).manifest
    assert m["provenance"]["sha256_matches_published"] is False and "notes" in m


def test_arguments_are_checked_before_any_work(weights, sample_dir, tmp_path):
    out = tmp_path / "m.lczmodel"
    with pytest.raises(LczError, match="Sentinel-1 raster of the scene you will classify"):
        import_pretrained(out, weights=weights["so2sat_resnet20_s1"])
    with pytest.raises(LczError, match="Sentinel-1 raster of the scene"):
        import_pretrained(out, download=True, architecture="so2sat_resnet20_s1")
    with pytest.raises(LczError, match="'scene_s2.tif' has 10 bands; the So2Sat Sentinel-1"):
        import_pretrained(
            out, weights=weights["so2sat_resnet20_s1"], sentinel1=sample_dir / "scene_s2.tif"
        )
    with pytest.raises(LczError, match="does not exist"):
        import_pretrained(
            out, weights=weights["so2sat_resnet20_s1"], sentinel1=tmp_path / "none.tif"
        )
    with pytest.raises(LczError, match="download needs an architecture"):
        import_pretrained(out, download=True)
    with pytest.raises(LczError, match="not both"):
        import_pretrained(out, weights=weights["sen2lcznet"], download=True)
    with pytest.raises(LczError, match="unknown architecture 'resnet'"):
        import_pretrained(out, weights=weights["sen2lcznet"], architecture="resnet")
    with pytest.raises(LczError, match="must be an .lczmodel"):
        import_pretrained(tmp_path / "m.h5", weights=weights["sen2lcznet"])
    with pytest.raises(LczError, match="output folder"):
        import_pretrained(tmp_path / "no" / "m.lczmodel", weights=weights["sen2lcznet"])
    assert list(tmp_path.iterdir()) == []


def test_s1_model_given_sentinel2_only_in_classify(imported, sample_dir, tmp_path):
    model = lcz_qgis.load_model(imported["so2sat_resnet20_s1"][0].path)
    out = tmp_path / "map.tif"
    with pytest.raises(LczError, match="uses Sentinel-1 data.*give a Sentinel-1 raster"):
        classify_raster(model, out, sentinel2=sample_dir / "scene_s2.tif")
    with pytest.raises(LczError, match="'scene_s2.tif' has 10 bands; the model needs 8"):
        classify_raster(model, out, sentinel1=sample_dir / "scene_s2.tif")
    assert list(tmp_path.iterdir()) == []


def test_cancel_leaves_no_output(weights, tmp_path):
    out = tmp_path / "m.lczmodel"
    with pytest.raises(Cancelled):
        import_pretrained(
            out, weights=weights["sen2lcznet"], feedback=RecordingFeedback(cancel_at=40)
        )
    assert list(tmp_path.iterdir()) == []


# -- front ends ----------------------------------------------------------------------------
def test_cli(weights, tmp_path, capsys):
    out = tmp_path / "m.lczmodel"
    code = cli_main(
        ["-q", "import-pretrained", "--weights", str(weights["sen2lcznet"]), "--output", str(out)]
    )
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["architecture"] == "sen2lcznet" and summary["sha256_matches_published"]
    assert summary["published_score"]["oa"] == 0.6937 and summary["licence"] == "MIT"
    assert cli_main(["import-pretrained", "--download", "--output", str(out)]) == 2
    assert "--download needs an --architecture" in capsys.readouterr().err


@pytest.mark.qgis
def test_processing_downloads_through_qgis_network(run_alg, weights, tmp_path, monkeypatch):
    from qgis.core import QgsProcessingFeedback

    class Feedback(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.infos = []

        def pushInfo(self, info):  # noqa: N802 - QGIS API
            self.infos.append(info)

    mirror = tmp_path / FILES["sen2lcznet"]
    shutil.copyfile(weights["sen2lcznet"], mirror)
    fb = Feedback()
    out = tmp_path / "m.lczmodel"
    res = run_alg(
        "lcz:importpretrained",
        {"WEIGHTS": mirror.as_uri(), "ARCHITECTURE": "auto", "OUTPUT": str(out)},
        feedback=fb,
    )
    assert res["ARCHITECTURE_USED"] == "sen2lcznet" and res["SHA256_MATCHES"] is True
    assert any("QGIS's network settings" in i for i in fb.infos)
    model = lcz_qgis.load_model(res["OUTPUT"])
    assert model.manifest["provenance"]["downloaded_from"] == mirror.as_uri()
    # DOWNLOAD: the published address of the architecture (here pointed at the mirror,
    # in the plugin's own copy of the core)
    plugin_core = importlib.import_module("lcz_mapping.lcz_qgis.models.pretrained")
    monkeypatch.setitem(plugin_core.PUBLISHED["sen2lcznet"], "source_url", mirror.as_uri())
    res = run_alg(
        "lcz:importpretrained",
        {"DOWNLOAD": True, "ARCHITECTURE": "sen2lcznet", "OUTPUT": str(tmp_path / "d.lczmodel")},
    )
    assert res["SHA256_MATCHES"] is True and Path(res["OUTPUT"]).is_file()
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="you appear to be offline"):
        run_alg(
            "lcz:importpretrained",
            {
                "WEIGHTS": f"http://127.0.0.1:{_free_port()}/x.h5",
                "ARCHITECTURE": "sen2lcznet",
                "OUTPUT": str(tmp_path / "n.lczmodel"),
            },
        )
    assert not (tmp_path / "n.lczmodel").exists()


@pytest.mark.qgis
def test_qgis_process(qgis_process, weights, sample_dir, tmp_path):
    out = tmp_path / "s1.lczmodel"
    proc = qgis_process(
        "run",
        "lcz:importpretrained",
        "--",
        f"WEIGHTS={weights['so2sat_resnet20_s1']}",
        "ARCHITECTURE=so2sat_resnet20_s1",
        f"SENTINEL1={sample_dir / 'scene_s1.tif'}",
        f"OUTPUT={out}",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (
        "SHA256_MATCHES:\ttrue" in proc.stdout
        and "ARCHITECTURE_USED:\tso2sat_resnet20_s1" in proc.stdout
    )
    model = lcz_qgis.load_model(out)
    assert model.sensor == "sen1" and model.manifest["preprocessing"][0]["scene"]["pixels"] > 0


def test_output_that_is_the_weights_file_is_refused(weights, tmp_path):
    w = tmp_path / "weights.lczmodel"  # a weights file saved under the output's suffix
    shutil.copy(weights["sen2lcznet"], w)
    before = w.read_bytes()
    with pytest.raises(LczError, match="is the input weights"):
        import_pretrained(w, weights=w)
    assert w.read_bytes() == before


@pytest.mark.parametrize("arch", ARCHS)
def test_onnx_runtime_and_tensorflow_give_the_same_probabilities(arch, imported):
    """Each published network's file on both engines (issue 23): the same classes,
    probabilities within 1e-5, preprocessing (ResNet-20 rounding, S1 scene statistics)
    applied identically on both paths."""
    path = imported[arch][0].path
    onnx, tf = (lcz_qgis.load_model(path, runtime=r) for r in ("onnx", "tensorflow"))
    assert (onnx.runtime, tf.runtime) == ("onnx", "keras")
    x = _raw_sen1() if arch == "so2sat_resnet20_s1" else _raw_sen2()
    p, q = onnx.predict_proba(x), tf.predict_proba(x)
    assert np.max(np.abs(p - q)) <= 1e-5
    assert np.array_equal(p.argmax(1), q.argmax(1))
