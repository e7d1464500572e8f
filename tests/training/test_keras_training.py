"""Keras training streamed from HDF5: every model type, learning, cancel, round trip, errors."""

from __future__ import annotations

import json
import zipfile

import h5py
import numpy as np
import pytest

from lcz_qgis.common.errors import Cancelled, LczError
from lcz_qgis.common.feedback import RecordingFeedback
from lcz_qgis.sample_data import write_so2sat_file
from lcz_qgis.so2sat.batches import SequentialBatches, ShuffledBatches, dihedral
from lcz_qgis.so2sat.file import So2SatFile

pytestmark = pytest.mark.tf
tf = pytest.importorskip("tensorflow")

from lcz_qgis.evaluation.evaluate import evaluate_model  # noqa: E402
from lcz_qgis.models.modelfile import load_model, read_manifest  # noqa: E402
from lcz_qgis.training.data_statistics import (  # noqa: E402
    balanced_class_weights,
    channel_statistics,
)
from lcz_qgis.training.epoch_loop import EarlyStopper  # noqa: E402
from lcz_qgis.training.input_transform import make_transform  # noqa: E402
from lcz_qgis.training.keras_training import train_keras  # noqa: E402
from lcz_qgis.training.train import train_model  # noqa: E402


def write_h5(path, codes, sen2=None, sen1=None):
    with h5py.File(path, "w") as f:
        if sen2 is not None:
            f["sen2"] = sen2
        if sen1 is not None:
            f["sen1"] = sen1
        f["label"] = np.eye(17)[np.asarray(codes) - 1]
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    d = tmp_path_factory.mktemp("keras_train")
    write_so2sat_file(d / "train.h5", 400, seed=11)
    write_so2sat_file(d / "val.h5", 340, seed=12)
    return d


@pytest.fixture(scope="module")
def easy(tmp_path_factory):
    """4 well separated classes: each has its own mean per channel."""
    d = tmp_path_factory.mktemp("easy")
    rng = np.random.default_rng(0)
    classes = np.array([1, 6, 11, 17])
    centres = rng.normal(0.3, 0.15, (4, 10))
    for name, n in (("train.h5", 480), ("val.h5", 160)):
        k = rng.integers(0, 4, n)
        x = centres[k][:, None, None, :] + rng.normal(0, 0.05, (n, 32, 32, 10))
        write_h5(d / name, classes[k], sen2=x)
    return d


# -- the streamed batch source ------------------------------------------------------------


def test_block_shuffle_covers_every_row_once_and_reads_sequentially(data):
    idx = np.arange(3, 397)
    stream = ShuffledBatches(
        data / "train.h5", "sen2", idx, idx % 17, 32, seed=1, block_rows=64, shuffle_blocks=2
    )
    with h5py.File(data / "train.h5", "r") as f:
        x_all = f["sen2"][3:397]
    orders = []
    for _ in range(2):
        with stream:
            xs, ys, ws = zip(*stream.epoch())
        assert all(w is None for w in ws)
        assert sum(len(y) for y in ys) == idx.size
        assert all(len(y) == 32 for y in ys[:-1])
        x = np.concatenate([p[0] for p in xs])
        assert x.dtype == np.float64  # raw: conversion happens in the train step
        # identify each patch by its values: every row exactly once, with its label
        key = x[:, 0, 0, 0] * 1e3 + x[:, 5, 7, 3]
        ref = x_all[:, 0, 0, 0] * 1e3 + x_all[:, 5, 7, 3]
        pos = np.array([np.flatnonzero(ref == k)[0] for k in key])
        assert sorted(pos) == list(range(idx.size))
        np.testing.assert_array_equal(x, x_all[pos])
        np.testing.assert_array_equal(np.concatenate(ys), idx[pos] % 17)
        # a batch mixes rows of more than one block
        assert len(np.unique(pos[:32] // 64)) > 1
        orders.append(pos)
    assert not np.array_equal(orders[0], orders[1])  # a new order each epoch
    # one sequential read per block of 64 rows (the last block has 10; the reader may
    # have started on a third epoch), never one read per row
    assert stream.stats.rows / stream.stats.reads >= 40


def test_reader_runs_ahead_across_epochs_and_stops_on_close(data):
    import threading

    idx = np.arange(400)
    before = threading.active_count()
    with ShuffledBatches(data / "train.h5", "sen2", idx, idx % 17, 100, seed=0) as s:
        first = [b[1] for b in s.epoch()]
        second = [b[1] for b in s.epoch()]
        assert threading.active_count() == before + 1
    assert sum(len(y) for y in first) == sum(len(y) for y in second) == 400
    assert not np.array_equal(np.concatenate(first), np.concatenate(second))
    assert threading.active_count() == before


def test_block_shuffle_with_gaps_fusion_and_class_weights(data):
    idx = np.array([0, 2, 3, 5, 8, 9, 10, 11, 12, 14, 15, 16, 20, 21, 22, 23, 40, 41])
    cw = np.arange(17, dtype=np.float32) / 10
    stream = ShuffledBatches(
        data / "train.h5", "fusion", idx, idx % 17, 4, seed=2, class_weight=cw, block_rows=6
    )
    with h5py.File(data / "train.h5", "r") as f:
        s1, s2 = f["sen1"][:42], f["sen2"][:42]
    got = []
    with stream:
        items = list(stream.epoch())
    for (x1, x2), y, w in items:
        np.testing.assert_allclose(w, cw[y])
        for a, b, t in zip(x1, x2, y):
            row = int(np.flatnonzero((s2 == b).all(axis=(1, 2, 3)))[0])
            np.testing.assert_array_equal(a, s1[row])
            assert t == row % 17
            got.append(row)
    assert sorted(got) == idx.tolist()


def _epoch_chunks(path, sensor, idx, transform=None, seed=5):
    stream = ShuffledBatches(
        path, sensor, idx, idx % 17, 16, seed=seed, block_rows=24, shuffle_blocks=3
    )
    stream.transform = transform
    with stream:
        # transformed chunks come from reused arrays: copy each before asking for the next
        return [(tuple(x.copy() for x in xs), y.copy()) for xs, y, _ in stream.chunks()]


def test_shuffled_conversion_and_compressed_files_give_the_same_batches(data, tmp_path):
    """The piecewise conversion in the reader thread equals converting the raw batches,
    and a gzip-compressed, chunked copy (read through h5py) gives the same batches."""
    idx = np.array([*range(0, 150), *range(160, 300, 3)])  # dense blocks and sparse ones
    packed = tmp_path / "packed.h5"
    with h5py.File(data / "train.h5", "r") as src, h5py.File(packed, "w") as dst:
        for key in ("sen1", "sen2", "label"):
            dst.create_dataset(key, data=src[key][...], chunks=True, compression="gzip")
    bands = [4, 5, 8, 17]
    with So2SatFile(data / "train.h5") as f:
        s1, s2 = f.dataset("sen1"), f.dataset("sen2")
        specs = [(8, s1.dtype), (10, s2.dtype)]
    transform = make_transform(specs, bands, [0.1, 0.2, 0.3, 0.4], [1.5, 0.5, 0.0, 2.0], False)
    raw = _epoch_chunks(data / "train.h5", "fusion", idx)
    assert sum(y.size for _, y in raw) == idx.size
    rng = np.random.default_rng(0)
    for path in (data / "train.h5", packed):
        converted = _epoch_chunks(path, "fusion", idx, transform)
        assert len(converted) == len(raw)
        for ((x,), y), ((r1, r2), ry) in zip(converted, raw):
            np.testing.assert_array_equal(y, ry)
            m, b = ry.shape
            flat = transform((r1.reshape(m * b, 32, 32, 8), r2.reshape(m * b, 32, 32, 10)), rng)
            np.testing.assert_array_equal(x, flat.reshape(x.shape))  # bit for bit
    for (xs, y), (rxs, ry) in zip(_epoch_chunks(packed, "fusion", idx), raw):
        np.testing.assert_array_equal(y, ry)
        for a, b in zip(xs, rxs):
            np.testing.assert_array_equal(a, b)


def test_block_shuffle_is_seeded(data):
    def labels(seed):
        idx = np.arange(400)
        with ShuffledBatches(data / "train.h5", "sen2", idx, idx % 17, 50, seed=seed) as s:
            return np.concatenate([b[1] for b in s.epoch()])

    np.testing.assert_array_equal(labels(3), labels(3))
    assert not np.array_equal(labels(3), labels(4))


def test_sparse_rows_and_fusion_bands(data):
    rows = np.array([0, 40, 41, 300])
    b = SequentialBatches(data / "train.h5", "fusion", [4, 5, 8, 17], rows, batch_size=3)
    xs = [x for x, _c, _r in b]
    with So2SatFile(data / "train.h5") as f:
        s1 = f.read("sen1", rows, [4, 5])
        s2 = f.read("sen2", rows, [0, 9])
    np.testing.assert_array_equal(np.concatenate(xs), np.concatenate([s1, s2], axis=-1))


def test_transform_selects_and_standardises_like_preprocessing():
    from lcz_qgis.models.preprocessing import standardize

    rng = np.random.default_rng(0)
    s1 = rng.random((70, 32, 32, 8))
    s2 = rng.random((70, 32, 32, 10))
    bands = [4, 5, 8, 17]
    mean, std = [0.1, 0.2, 0.3, 0.4], [1.5, 0.5, 0.0, 2.0]
    transform = make_transform([(8, np.float64), (10, np.float64)], bands, mean, std, False)
    got = transform((s1, s2), rng)
    x32 = np.concatenate([s1, s2], axis=-1).astype(np.float32)[..., bands]
    np.testing.assert_array_equal(got, standardize(x32, mean, std))  # bit for bit
    whole = make_transform([(10, np.float64)], list(range(10)), [0.2] * 10, [0.1] * 10, False)
    np.testing.assert_array_equal(
        whole((s2,), rng), standardize(s2.astype(np.float32), [0.2] * 10, [0.1] * 10)
    )


def test_multi_step_equals_the_same_steps_one_by_one():
    from lcz_qgis.training.epoch_loop import make_multi_step, make_train_step
    from lcz_qgis.training.keras_model import BUILD_OPTIONS, build_model, make_optimizer

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 8, 32, 32, 2)).astype(np.float32)
    y = rng.integers(0, 17, (3, 8)).astype(np.int32)
    w = rng.random((3, 8)).astype(np.float32)
    results = []
    for multi in (False, True):
        tf.keras.utils.set_random_seed(1)
        model = build_model("mlp_diy", 2, dict(BUILD_OPTIONS["mlp_diy"]))
        initial = model.get_weights()[0].copy()
        opt = make_optimizer(1e-2, "constant", 3)
        if multi:
            loss, hits = make_multi_step(tf, model, opt, 2)(x, y, w)
        else:
            step = make_train_step(tf, model, opt, 2)
            parts = [step(x[i], y[i], w[i]) for i in range(3)]
            loss, hits = sum(float(p[0]) for p in parts), sum(int(p[1]) for p in parts)
        results.append((float(loss), int(hits), model.get_weights()))
    (l1, h1, w1), (l2, h2, w2) = results
    assert l1 == pytest.approx(l2, rel=1e-5) and h1 == h2
    for a, b in zip(w1, w2):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert not np.allclose(w2[0], initial)  # the steps did train


def test_dihedral_gives_flips_and_rotations():
    x = np.random.default_rng(0).random((200, 32, 32, 2)).astype(np.float32)
    y = dihedral(x, np.random.default_rng(1))
    seen = set()
    for a, b in zip(x, y):
        found = [
            t
            for t in range(8)
            if np.array_equal(np.rot90(a, t % 4)[:, ::-1] if t >= 4 else np.rot90(a, t % 4), b)
        ]
        assert len(found) == 1
        seen.add(found[0])
    assert seen == set(range(8))


def test_channel_statistics_streamed_equal_numpy_and_find_nan(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.normal(5.0, 2.0, (700, 32, 32, 10)) * np.arange(1, 11)
    x[[10, 600]] = np.nan
    write_h5(tmp_path / "s.h5", np.ones(700, int) + (np.arange(700) % 2), sen2=x)
    idx = np.arange(0, 700, 1)
    mean, std, bad = channel_statistics(
        tmp_path / "s.h5", "sen2", [0, 3, 9], idx, RecordingFeedback()
    )
    ok = np.isfinite(x).all(axis=(1, 2, 3))
    ref = x[ok][..., [0, 3, 9]].astype(np.float32).astype(np.float64)
    np.testing.assert_allclose(mean, ref.mean(axis=(0, 1, 2)), rtol=1e-6)
    np.testing.assert_allclose(std, ref.std(axis=(0, 1, 2)), rtol=1e-5)
    assert bad.tolist() == [10, 600]


def test_balanced_class_weights():
    w = balanced_class_weights(np.array([1, 1, 1, 2, 17, 17]))
    # n / (classes present * count)
    assert w[0] == pytest.approx(6 / (3 * 3)) and w[1] == pytest.approx(6 / 3)
    assert w[16] == pytest.approx(6 / (3 * 2)) and w[5] == 0


def test_early_stopper():
    s = EarlyStopper(patience=2)
    assert [s.update(v) for v in (1.0, 0.9, 0.95, 0.92)] == [False, False, False, True]
    off = EarlyStopper(patience=0)
    assert not any(off.update(v) for v in (1.0, 2.0, 3.0, 4.0))


# -- training -----------------------------------------------------------------------------

TYPES = {
    # model type: (sensor, max_samples, batch size)
    "mlp": ("sen2", 160, 32),
    "mlp_diy": ("sen1", 160, 32),
    "sen2lcznet": ("sen2", 96, 32),
    "fusion_late": ("fusion", 96, 32),
    "resnet50": ("sen2", 24, 12),
    "fusion": ("fusion", 24, 12),
}


@pytest.mark.parametrize("model_type", list(TYPES))
def test_each_model_type_trains_and_saves(data, tmp_path, model_type):
    sensor, max_samples, bs = TYPES[model_type]
    fb = RecordingFeedback()
    out = tmp_path / f"{model_type}.lczmodel"
    res = train_model(
        data / "train.h5",
        out,
        model_type=model_type,
        sensor=sensor,
        max_samples=max_samples,
        feedback=fb,
        epochs=1,
        batch_size=bs,
        validation=data / "val.h5",
        seed=1,
    )
    m = read_manifest(out)
    channels = {"sen2": 10, "sen1": 8, "fusion": 18}[sensor]
    assert m["model_type"] == model_type and m["framework"] == "keras"
    assert m["sensor"] == sensor and m["input_channels"] == channels
    step = m["preprocessing"][0]
    assert step["type"] == "standardize" and len(step["mean"]) == len(step["std"]) == channels
    assert m["training"]["n_train"] == max_samples and m["training"]["epochs_run"] == 1
    assert m["training"]["n_validation"] == max_samples
    assert len(m["history"]["loss"]) == 1 and np.isfinite(m["history"]["loss"][0])
    assert set(m["scores"]) >= {"oa", "kappa", "oa_w", "loss"}
    assert "tensorflow-cpu" in m["library_versions"] or "tensorflow" in m["library_versions"]
    assert res.scores["n"] == max_samples
    assert fb.percents[-1] == 100
    assert sum(1 for p in fb.percents if 5 < p < 95) >= -(-max_samples // bs)  # per batch
    assert any(msg.startswith("epoch 1/1: loss") for msg in fb.messages)
    with zipfile.ZipFile(out) as z:
        note = json.loads(z.read("manifest.json"))["onnx"]  # says why a graph is missing
        assert set(z.namelist()) == {"manifest.json", "model.keras", "model.onnx"}, note
    if model_type not in ("resnet50", "fusion"):  # loading 95 MB files is slow on 2 cores
        model = load_model(out)
        with So2SatFile(data / "val.h5") as f:
            x = f.read(sensor, np.arange(5))
        p = model.predict_proba(x)
        assert p.shape == (5, 17)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-4)


def test_learning_happens_on_an_easy_set(easy, tmp_path):
    res = train_keras(
        easy / "train.h5",
        tmp_path / "easy.lczmodel",
        "mlp",
        "sen2",
        list(range(10)),
        validation=easy / "val.h5",
        epochs=4,
        batch_size=32,
        early_stopping=0,
    )
    loss = res.history["loss"]
    assert loss[-1] < 0.5 * loss[0]
    assert res.scores["oa"] > 0.9  # chance: about 0.25 with 4 classes
    assert res.manifest["training"]["best_epoch"] >= 1


def test_round_trip_and_identical_preprocessing(data, tmp_path):
    """Validation scores stored at training == scores of the reloaded model file."""
    out = tmp_path / "rt.lczmodel"
    res = train_keras(
        data / "train.h5",
        out,
        "mlp",
        "sen2",
        list(range(10)),
        validation=data / "val.h5",
        epochs=2,
        batch_size=32,
        seed=4,
        class_weights=True,
        augment=True,
        schedule="cosine",
        report=tmp_path / "report.html",
    )
    s = evaluate_model(out, data / "val.h5", batch_size=100)
    assert s["confusion"] == res.scores["confusion"]
    assert s["loss"] == pytest.approx(res.scores["loss"], rel=1e-4)
    assert res.manifest["scores"]["oa"] == pytest.approx(s["oa"])
    a, b = load_model(out), load_model(out)
    with So2SatFile(data / "val.h5") as f:
        x = f.read("sen2", np.arange(20))
    np.testing.assert_array_equal(a.predict_proba(x), b.predict_proba(x))
    t = res.manifest["training"]
    assert t["class_weights"] and t["augment"] and t["schedule"] == "cosine"
    with So2SatFile(data / "train.h5") as f:
        codes = f.labels()
    np.testing.assert_allclose(t["class_weight_values"], balanced_class_weights(codes), rtol=1e-6)
    lr = res.history["learning_rate"]
    assert lr[1] < lr[0] < 1e-3  # cosine decay
    html = (tmp_path / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 2  # learning curves + confusion matrix
    assert "Dense trees" in html and "Epoch kept" in html


def test_cancel_writes_nothing_and_keeps_existing_output(data, tmp_path):
    out = tmp_path / "model.lczmodel"
    out.write_bytes(b"previous model")
    fb = RecordingFeedback(cancel_at=30)
    with pytest.raises(Cancelled):
        train_keras(
            data / "train.h5",
            out,
            "mlp",
            "sen2",
            list(range(10)),
            feedback=fb,
            epochs=3,
            batch_size=16,
            report=tmp_path / "r.html",
        )
    assert out.read_bytes() == b"previous model"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.lczmodel"]
    # stopped at the next batch: no progress reported after the cancel was seen
    first = next(i for i, p in enumerate(fb.percents) if p >= 30)
    assert len(fb.percents) == first + 1 and max(fb.percents) < 40


def test_nan_patches_skipped_with_warning(data, tmp_path):
    with So2SatFile(data / "train.h5") as f:
        x = f.read("sen2", np.arange(200))
        codes = f.labels(np.arange(200))
    x[[0, 17, 150]] = np.nan
    x[99, 3, 3, 3] = -np.inf
    write_h5(tmp_path / "nan.h5", codes, sen2=x)
    fb = RecordingFeedback()
    res = train_keras(
        tmp_path / "nan.h5",
        tmp_path / "m.lczmodel",
        "mlp",
        "sen2",
        list(range(10)),
        validation=data / "val.h5",
        feedback=fb,
        epochs=1,
        batch_size=32,
    )
    assert any("skipped 4 of 200 training patches" in w for w in fb.warnings)
    t = res.manifest["training"]
    assert t["n_skipped_nonfinite"] == 4 and t["n_train"] == 196
    assert all(np.isfinite(res.manifest["preprocessing"][0]["mean"]))


def test_seeded_split_without_validation_file(data, tmp_path):
    res = train_keras(
        data / "train.h5", tmp_path / "m.lczmodel", "mlp", "sen2", [2, 3, 6],
        epochs=1, batch_size=64,
    )  # fmt: skip
    t = res.manifest["training"]
    assert t["validation"] == "10% split" and t["n_train"] + t["n_validation"] == 400
    assert res.manifest["band_names"] == ["B4", "B5", "B8"]


def test_bad_inputs_are_clear_errors(data, tmp_path):
    good = data / "train.h5"
    out = tmp_path / "m.lczmodel"
    other = write_h5(tmp_path / "other.h5", [1, 2], sen2=np.zeros((2, 16, 16, 10)))
    with pytest.raises(LczError, match="validation file: .*other.h5.*shape"):
        train_keras(good, out, "mlp", "sen2", list(range(10)), validation=other)
    s1only = write_h5(tmp_path / "s1.h5", [1, 2], sen1=np.zeros((2, 32, 32, 8)))
    with pytest.raises(LczError, match="validation file 's1.h5' has no 'sen2'"):
        train_keras(good, out, "mlp", "sen2", list(range(10)), validation=s1only)
    one = write_h5(tmp_path / "one.h5", [5] * 6, sen2=np.zeros((6, 32, 32, 10)))
    with pytest.raises(LczError, match="only one class"):
        train_keras(one, out, "mlp", "sen2", list(range(10)))
    empty = write_h5(tmp_path / "empty.h5", np.zeros(0, int), sen2=np.zeros((0, 32, 32, 10)))
    with pytest.raises(LczError, match="no patches"):
        train_keras(empty, out, "mlp", "sen2", list(range(10)))
    with pytest.raises(LczError, match="set the sensor to 'fusion'"):
        train_keras(good, out, "fusion_late", "sen2", list(range(10)))
    with pytest.raises(LczError, match="Sentinel-1 bands"):
        train_keras(good, out, "fusion_late", "fusion", [9, 10, 4])
    with pytest.raises(LczError, match="epochs"):
        train_keras(good, out, "mlp", "sen2", list(range(10)), epochs=0)
    with pytest.raises(LczError, match="schedule"):
        train_keras(good, out, "mlp", "sen2", list(range(10)), schedule="linear")
    with pytest.raises(LczError, match="output folder"):
        train_keras(good, tmp_path / "nodir" / "m.lczmodel", "mlp", "sen2", [0])
    with pytest.raises(LczError, match="apply to Keras models"):
        train_model(good, out, model_type="rf", epochs=3)
    assert not out.exists()


def test_cli_train_keras_flags(data, tmp_path, capsys):
    from lcz_qgis.cli import main

    out, report = tmp_path / "cli.lczmodel", tmp_path / "cli.html"
    rc = main(
        [
            "-q",
            "train",
            "--train",
            str(data / "train.h5"),
            "--validation",
            str(data / "val.h5"),
            "--model-type",
            "mlp_diy",
            "--epochs",
            "2",
            "--batch-size",
            "50",
            "--learning-rate",
            "0.002",
            "--schedule",
            "exponential",
            "--early-stopping",
            "1",
            "--class-weights",
            "--augment",
            "--max-samples",
            "150",
            "--report",
            str(report),
            "--output",
            str(out),
        ]
    )
    assert rc == 0
    printed = json.loads(capsys.readouterr().out)
    t = read_manifest(out)["training"]
    assert printed["oa"] == pytest.approx(read_manifest(out)["scores"]["oa"])
    assert (t["batch_size"], t["learning_rate"], t["schedule"]) == (50, 0.002, "exponential")
    assert t["early_stopping_patience"] == 1 and t["class_weights"] and t["augment"]
    assert report.exists()
    rc = main(["train", "--train", str(data / "train.h5"), "--epochs", "2", "--output", str(out)])
    assert rc == 2 and "--epochs apply to Keras models, not rf" in capsys.readouterr().err
