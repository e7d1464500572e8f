"""Fine-tuning Keras model files (``lcz train --init-model``): weights, freezing, the
model's own preprocessing kept, provenance, cancel, and what is refused."""

from __future__ import annotations

import hashlib
import json
import zipfile

import h5py
import numpy as np
import pytest

from lcz_qgis.common.errors import Cancelled, LczError
from lcz_qgis.common.feedback import RecordingFeedback
from lcz_qgis.sample_data import write_so2sat_file
from lcz_qgis.so2sat.file import So2SatFile

pytestmark = pytest.mark.tf
tf = pytest.importorskip("tensorflow")

from lcz_qgis.evaluation.evaluate import evaluate_model  # noqa: E402
from lcz_qgis.models import preprocessing  # noqa: E402
from lcz_qgis.models.modelfile import load_model, read_manifest  # noqa: E402
from lcz_qgis.training.finetune import finetune_keras  # noqa: E402
from lcz_qgis.training.input_transform import ManifestTransform  # noqa: E402
from lcz_qgis.training.keras_model import head_layers  # noqa: E402
from lcz_qgis.training.keras_training import train_keras  # noqa: E402
from lcz_qgis.training.train import train_model  # noqa: E402


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _weights(path) -> dict:
    """Layer name -> its weight arrays, of a model file."""
    km = load_model(path).network
    return {layer.name: layer.get_weights() for layer in km.layers if layer.weights}


def _same(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b))


def _subset(src, dst, n: int):
    """The first ``n`` patches of a So2Sat file."""
    with h5py.File(src, "r") as f, h5py.File(dst, "w") as g:
        for k in ("sen1", "sen2", "label"):
            g[k] = f[k][:n]
    return dst


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """An MLP trained on one generated city; new patches and a validation file."""
    d = tmp_path_factory.mktemp("finetune")
    write_so2sat_file(d / "train.h5", 400, seed=41)
    write_so2sat_file(d / "new.h5", 340, seed=42)
    write_so2sat_file(d / "val.h5", 340, seed=43)
    train_keras(
        d / "train.h5", d / "base.lczmodel", "mlp", "sen2", list(range(10)),
        epochs=1, batch_size=32, max_samples=160, seed=1,
    )  # fmt: skip
    return d


def test_finetune_changes_weights_keeps_preprocessing_and_records_provenance(data, tmp_path):
    base, out = data / "base.lczmodel", tmp_path / "ft.lczmodel"
    before_bytes = base.read_bytes()
    fb = RecordingFeedback()
    res = train_model(
        data / "new.h5", out, model_type=None, sensor=None, init_model=base,
        validation=data / "val.h5", feedback=fb, epochs=2, batch_size=32, learning_rate=3e-4,
        report=tmp_path / "ft.html",
    )  # fmt: skip
    assert base.read_bytes() == before_bytes
    old, new = _weights(base), _weights(out)
    assert old.keys() == new.keys()
    assert all(not _same(old[k], new[k]) for k in old)  # every layer trained
    m, m0 = read_manifest(out), read_manifest(base)
    # the model's own inputs: its standardisation, not statistics of the new patches
    assert m["preprocessing"] == m0["preprocessing"]
    assert m["training"]["new_data_statistics"]["mean"] != m0["preprocessing"][0]["mean"]
    assert (m["model_type"], m["sensor"], m["bands"]) == ("mlp", "sen2", list(range(10)))
    src = m["fine_tuned_from"]
    assert src["file"] == "base.lczmodel" and src["sha256"] == _sha(base)
    assert src["model_type"] == "mlp" and src["scores"] == m0["scores"]
    assert m["fine_tuned"] is True and m["training"]["freeze"] == "none"
    assert m["training"]["file"] == "new.h5" and m["training"]["epochs_run"] == 2
    # the scores before fine-tuning are those of the init model on the validation file
    s0 = evaluate_model(base, data / "val.h5")
    assert src["validation_scores_before"]["oa"] == pytest.approx(s0["oa"])
    assert src["validation_scores_before"]["loss"] == pytest.approx(s0["loss"], rel=1e-4)
    assert any(msg.startswith("before fine-tuning: validation OA") for msg in fb.messages)
    # the stored scores are the written model's
    s1 = evaluate_model(out, data / "val.h5")
    assert s1["confusion"] == res.scores["confusion"]
    assert m["scores"]["oa"] == pytest.approx(s1["oa"])
    assert fb.percents[-1] == 100 and (tmp_path / "ft.html").exists()


def test_the_same_seed_fine_tunes_to_the_same_weights(data, tmp_path):
    # Keras seeds each dropout layer when the layer is built; the loaded network was built
    # before the run's seed, so each run (each process) drew other dropout masks
    import random

    runs = []
    for i, noise in enumerate((1, 2)):
        random.seed(noise)  # other random draws before the run, as in another process
        tf.keras.utils.set_random_seed(noise)
        out = tmp_path / f"ft{i}.lczmodel"
        finetune_keras(data / "new.h5", out, data / "base.lczmodel", epochs=1, batch_size=32,
                       seed=7)  # fmt: skip
        runs.append(_weights(out))
    assert runs[0].keys() == runs[1].keys() and len(runs[0]) == 2
    assert all(_same(runs[0][k], runs[1][k]) for k in runs[0])
    assert not _same(runs[0]["dense_1"], _weights(data / "base.lczmodel")["dense_1"])


def test_freeze_all_but_head_trains_the_last_layer_only(data, tmp_path):
    out = tmp_path / "head.lczmodel"
    res = finetune_keras(
        data / "new.h5", out, data / "base.lczmodel", validation=data / "val.h5",
        epochs=1, batch_size=32, freeze="all-but-head",
    )  # fmt: skip
    old, new = _weights(data / "base.lczmodel"), _weights(out)
    assert _same(old["dense_1"], new["dense_1"])  # frozen: unchanged to the bit
    assert not _same(old["probabilities"], new["probabilities"])
    t = res.manifest["training"]
    assert t["freeze"] == "all-but-head" and t["frozen_layers"] == ["dense_1"]
    # the file is saved trainable, so it can be fine-tuned again without freezing
    assert all(layer.trainable for layer in load_model(out).network.layers)
    again = finetune_keras(data / "new.h5", tmp_path / "again.lczmodel", out, epochs=1)
    src = again.manifest["fine_tuned_from"]
    assert src["file"] == "head.lczmodel" and src["fine_tuned_from"]["file"] == "base.lczmodel"


def test_cancel_leaves_nothing(data, tmp_path):
    out = tmp_path / "ft.lczmodel"
    with pytest.raises(Cancelled):
        finetune_keras(
            data / "new.h5", out, data / "base.lczmodel", feedback=RecordingFeedback(cancel_at=40),
            epochs=3, batch_size=16, report=tmp_path / "r.html",
        )  # fmt: skip
    assert not list(tmp_path.iterdir())


def test_early_stopping_applies(data, tmp_path):
    res = finetune_keras(
        data / "new.h5", tmp_path / "es.lczmodel", data / "base.lczmodel",
        validation=data / "val.h5", epochs=30, batch_size=64, learning_rate=0.05,
        early_stopping=1,
    )  # fmt: skip
    t = res.manifest["training"]
    assert t["stopped_early"] and t["epochs_run"] < 30


def test_random_forest_init_is_refused(rf_model, data, tmp_path):
    with pytest.raises(LczError, match="rf.lczmodel' is a random forest"):
        train_model(data / "new.h5", tmp_path / "x.lczmodel", init_model=rf_model)
    assert not list(tmp_path.iterdir())


def test_sensor_band_and_data_mismatches_are_refused(data, tmp_path):
    base, out = data / "base.lczmodel", tmp_path / "x.lczmodel"
    with pytest.raises(LczError, match="takes sen2 B2, B3, B4.*asks for sen2 B2, B3"):
        train_model(data / "new.h5", out, sensor=None, bands="B2,B3", init_model=base)
    with pytest.raises(LczError, match="is a sen2 model; .*sen1 patches"):
        train_model(data / "new.h5", out, sensor="sen1", init_model=base)
    with pytest.raises(LczError, match="model_type|MODEL_TYPE"):
        train_model(data / "new.h5", out, model_type="sen2lcznet", init_model=base)
    s1_only = tmp_path / "s1.h5"
    with h5py.File(data / "new.h5", "r") as f, h5py.File(s1_only, "w") as g:
        g["sen1"], g["label"] = f["sen1"][:40], f["label"][:40]
    with pytest.raises(LczError, match="takes sen2 .* patches but 's1.h5' has no 'sen2'"):
        train_model(s1_only, out, model_type=None, sensor=None, init_model=base)
    # a model trained on a band subset takes exactly those bands
    sub = tmp_path / "sub.lczmodel"
    train_keras(data / "train.h5", sub, "mlp", "sen2", [2, 3, 6], epochs=1, max_samples=64)
    with pytest.raises(LczError, match="takes sen2 B4, B5, B8; .*asks for sen2 B2, B3, B4"):
        train_model(data / "new.h5", out, sensor="sen2", bands=list(range(10)), init_model=sub)
    res = train_model(data / "new.h5", out, sensor="sen2", init_model=sub, epochs=1)
    assert res.manifest["band_names"] == ["B4", "B5", "B8"]
    with pytest.raises(LczError, match="FREEZE|freeze"):
        train_model(data / "new.h5", tmp_path / "y.lczmodel", "mlp", freeze="all-but-head")


def test_damaged_or_hostile_init_files_are_refused(data, tmp_path):
    base, out = data / "base.lczmodel", tmp_path / "x.lczmodel"
    cut = tmp_path / "cut.lczmodel"
    cut.write_bytes(base.read_bytes()[:5000])
    with pytest.raises(LczError, match="cut.lczmodel"):
        train_model(data / "new.h5", out, init_model=cut)
    # a Lambda layer in the network: refused before Keras builds anything
    lam = tmp_path / "lambda.lczmodel"
    with zipfile.ZipFile(base) as z:
        manifest, keras_zip = z.read("manifest.json"), z.read("model.keras")
    import io

    with zipfile.ZipFile(io.BytesIO(keras_zip)) as k:
        parts = {n: k.read(n) for n in k.namelist()}
    config = json.loads(parts["config.json"])
    config["config"]["layers"][1]["class_name"] = "Lambda"
    parts["config.json"] = json.dumps(config).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as k:
        for n, b in parts.items():
            k.writestr(n, b)
    with zipfile.ZipFile(lam, "w") as z:
        z.writestr("manifest.json", manifest)
        z.writestr("model.keras", buf.getvalue())
    with pytest.raises(LczError, match="lambda.lczmodel.*Lambda"):
        train_model(data / "new.h5", out, init_model=lam)
    with pytest.raises(LczError, match="does not exist"):
        train_model(data / "new.h5", out, init_model=tmp_path / "none.lczmodel")
    with pytest.raises(LczError, match="is the input"):
        train_model(data / "new.h5", base, init_model=base)
    assert not out.exists()


def test_cli_init_model_and_freeze(data, tmp_path, capsys):
    from lcz_qgis.cli import main

    out = tmp_path / "cli.lczmodel"
    rc = main(["-q", "train", "--train", str(data / "new.h5"), "--init-model",
               str(data / "base.lczmodel"), "--freeze", "all-but-head", "--epochs", "1",
               "--output", str(out)])  # fmt: skip
    assert rc == 0, capsys.readouterr().err
    printed = json.loads(capsys.readouterr().out)
    assert printed["output"] == str(out)
    m = read_manifest(out)
    assert m["training"]["freeze"] == "all-but-head" and m["model_type"] == "mlp"
    rc = main(["train", "--train", str(data / "new.h5"), "--freeze", "all-but-head",
               "--output", str(tmp_path / "y.lczmodel")])  # fmt: skip
    assert rc != 0 and "--init-model" in capsys.readouterr().err


# -- the So2Sat authors' networks -------------------------------------------------------


@pytest.fixture(scope="module")
def imported(shared_dir, tmp_path_factory):
    from lcz_qgis.models.pretrained_import import import_pretrained

    files = {"sen2lcznet": "sen2lcznet_32_weights.best.hdf5",
             "so2sat_resnet20_s2": "so2sat_s2_resnet20.h5"}  # fmt: skip
    paths = {a: shared_dir / "pretrained" / f for a, f in files.items()}
    if not all(p.is_file() for p in paths.values()):
        pytest.skip("published weights not found in ../shared/pretrained")
    d = tmp_path_factory.mktemp("imported_ft")
    return {a: import_pretrained(d / f"{a}.lczmodel", weights=p).path for a, p in paths.items()}


# the classification head: Sen2LCZ-Net's four softmax heads, ResNet-20's last Dense
HEADS = {
    "sen2lcznet": {"head_final", "head_level1", "head_level2", "head_level3"},
    "so2sat_resnet20_s2": {"predictions"},
}


@pytest.mark.parametrize("arch", list(HEADS))
def test_imported_network_fine_tunes_on_its_own_inputs(arch, imported, data, tmp_path):
    init = imported[arch]
    val = _subset(data / "val.h5", tmp_path / "val64.h5", 64)
    res = finetune_keras(
        data / "new.h5", tmp_path / "ft.lczmodel", init, validation=val, epochs=1,
        batch_size=32, max_samples=64, freeze="all-but-head", learning_rate=1e-4,
    )  # fmt: skip
    m, m0 = res.manifest, read_manifest(init)
    assert m["preprocessing"] == m0["preprocessing"]  # [] or the ResNet-20 scaling
    assert m["model_type"] == arch and m["licence"] == "MIT" and m["citations"]
    assert "published_score" not in m
    assert m["fine_tuned_from"]["published_score"] == m0.get("published_score")
    # before fine-tuning the network saw exactly what evaluation feeds it
    before = load_model(init)
    s0 = evaluate_model(before, val)
    assert m["fine_tuned_from"]["validation_scores_before"]["oa"] == pytest.approx(s0["oa"])
    assert m["fine_tuned_from"]["validation_scores_before"]["loss"] == pytest.approx(
        s0["loss"], rel=1e-4
    )
    km = before.network
    old = {layer.name: layer.get_weights() for layer in km.layers if layer.weights}
    new = _weights(tmp_path / "ft.lczmodel")
    heads = {layer.name for layer in head_layers(km)}
    assert heads == HEADS[arch]
    assert all(_same(old[k], new[k]) for k in old if k not in heads)
    assert any(not _same(old[k], new[k]) for k in heads)


def test_manifest_transform_equals_the_manifest_preprocessing(imported, data):
    manifest = read_manifest(imported["so2sat_resnet20_s2"])
    with So2SatFile(data / "new.h5") as f:
        raw = f.dataset("sen2")[:8]
        specs = [(10, f.dataset("sen2").dtype)]
    t = ManifestTransform(specs, manifest)
    out = np.empty((8, 32, 32, t.channels), np.float32)
    t.convert((raw,), out)
    want = preprocessing.apply(raw.astype(np.float32), manifest["preprocessing"])
    np.testing.assert_array_equal(out, want)


@pytest.mark.qgis
def test_trainmodel_init_model_in_processing(run_alg, data, tmp_path):
    out = tmp_path / "q.lczmodel"
    res = run_alg("lcz:trainmodel", {
        "TRAIN": str(data / "new.h5"), "INIT_MODEL": str(data / "base.lczmodel"),
        "FREEZE": "all-but-head", "MODEL_TYPE": "rf", "EPOCHS": 1, "OUTPUT": str(out),
    })  # fmt: skip
    assert res["OUTPUT"] == str(out) and res["OA"] >= 0
    m = read_manifest(out)
    assert m["model_type"] == "mlp" and m["training"]["freeze"] == "all-but-head"
    assert m["fine_tuned_from"]["sha256"] == _sha(data / "base.lczmodel")
