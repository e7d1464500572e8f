"""The ported So2Sat networks against the authors' published weights (../shared/pretrained).

Each port must take every tensor of its file by order and shape, and give the same
probabilities as the network built the way the authors' code builds it (transliterated
compactly below) with Keras's own legacy ``load_weights``.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest

from lcz_qgis.common.errors import LczError
from lcz_qgis.models import pretrained

pytestmark = pytest.mark.tf
tf = pytest.importorskip("tensorflow")
keras = tf.keras
L = keras.layers

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "pretrained"
FILES = {
    "sen2lcznet": SHARED / "sen2lcznet_32_weights.best.hdf5",
    "so2sat_resnet20_s2": SHARED / "so2sat_s2_resnet20.h5",
    "so2sat_resnet20_s1": SHARED / "so2sat_s1_resnet20.h5",
}
ARCHS = list(FILES)
needs_files = pytest.mark.skipif(
    not all(p.is_file() for p in FILES.values()),
    reason="published weights not found in ../shared/pretrained",
)


# -- the networks as the authors' code defines them (Keras 2 functional API) ----------
def authors_sen2lcz_drop(input_shape=(32, 32, 10), num_classes=17, depth=17, dim=16, drop=0.2):
    """model.py sen2LCZ_drop(depth=17, dropRate=0.2, fusion=1), bn=1."""
    n = (depth - 1) // 4

    def convs(x, d):
        for _ in range(n):
            x = L.Conv2D(d, (3, 3), padding="same", kernel_initializer="he_normal")(x)
            x = L.BatchNormalization(axis=-1)(x)
            x = L.Activation("relu")(x)
        return x

    def merge(x):
        return L.Concatenate()([L.MaxPooling2D((2, 2))(x), L.AveragePooling2D(pool_size=2)(x)])

    def head(x):
        x = L.GlobalAveragePooling2D()(x)
        return L.Dense(num_classes, activation="softmax", kernel_initializer="he_normal")(x)

    inputs = L.Input(shape=input_shape)
    merge0 = merge(convs(inputs, dim))
    out32 = head(merge0)
    merge1 = L.Dropout(drop)(merge(convs(merge0, dim * 2)))
    out16 = head(merge1)
    merge2 = L.Dropout(drop)(merge(convs(merge1, dim * 4)))
    out8 = head(merge2)
    out = head(convs(merge2, dim * 8))
    return keras.Model(inputs, L.Average()([out, out32, out16, out8]))


def authors_resnet_v2(input_shape, depth=20, num_classes=17):
    """resnet_v2.py resnet_v2 / resnet_v2_s1 (the same graph), attention_module=None."""

    def resnet_layer(
        x, filters=16, kernel=3, strides=1, activation="relu", bn=True, conv_first=True
    ):
        conv = L.Conv2D(
            filters,
            kernel_size=kernel,
            strides=strides,
            padding="same",
            kernel_initializer="he_normal",
            kernel_regularizer=keras.regularizers.l2(1e-4),
        )
        if conv_first:
            x = conv(x)
        if bn:
            x = L.BatchNormalization()(x)
        if activation is not None:
            x = L.Activation(activation)(x)
        return x if conv_first else conv(x)

    f_in, n_blocks = 16, (depth - 2) // 9
    inputs = L.Input(shape=input_shape)
    x = resnet_layer(inputs, f_in)
    for stage in range(3):
        for block in range(n_blocks):
            act, bn, strides = "relu", True, 1
            if stage == 0:
                f_out = f_in * 4
                if block == 0:
                    act, bn = None, False
            else:
                f_out = f_in * 2
                if block == 0:
                    strides = 2
            y = resnet_layer(x, f_in, 1, strides, act, bn, conv_first=False)
            y = resnet_layer(y, f_in, conv_first=False)
            y = resnet_layer(y, f_out, 1, conv_first=False)
            if block == 0:
                x = resnet_layer(x, f_out, 1, strides, activation=None, bn=False)
            x = L.add([x, y])
        f_in = f_out
    x = L.Activation("relu")(L.BatchNormalization()(x))
    x = L.Flatten()(L.AveragePooling2D(pool_size=8)(x))
    out = L.Dense(num_classes, activation="softmax", kernel_initializer="he_normal")(x)
    return keras.Model(inputs, out)


def reference_model(arch):
    shape = pretrained.PUBLISHED[arch]["input_shape"]
    model = authors_sen2lcz_drop(shape) if arch == "sen2lcznet" else authors_resnet_v2(shape)
    model.load_weights(str(FILES[arch]))  # Keras's legacy topological h5 loading
    return model


@pytest.fixture(scope="module")
def references():
    """The authors' networks with the published weights, loaded by Keras itself."""
    if not all(p.is_file() for p in FILES.values()):
        pytest.skip("published weights not found in ../shared/pretrained")
    return {arch: reference_model(arch) for arch in ARCHS}


def fixed_inputs(arch, n=24):
    rng = np.random.default_rng(20200424)
    if arch == "so2sat_resnet20_s1":
        sen1 = np.concatenate(
            [
                rng.normal(0, 0.3, (n, 32, 32, 4)),
                rng.gamma(1.0, 0.05, (n, 32, 32, 2)),
                rng.normal(0, 0.02, (n, 32, 32, 2)),
            ],
            axis=-1,
        )
        return pretrained.so2sat_s1_features(sen1)
    return rng.uniform(0.0, 0.5, (n, 32, 32, 10)).astype(np.float32)  # raw So2Sat sen2


@pytest.fixture(scope="module")
def ports():
    """The three ports, each loaded the plugin's way (architecture detected)."""
    if not all(p.is_file() for p in FILES.values()):
        pytest.skip("published weights not found in ../shared/pretrained")
    return {arch: pretrained.load_published(FILES[arch]) for arch in ARCHS}


# -- reading, detection, assignment --------------------------------------------------
@needs_files
@pytest.mark.parametrize("arch", ARCHS)
def test_detects_each_published_file(arch):
    assert pretrained.detect_architecture(pretrained.read_weight_file(FILES[arch])) == arch


@needs_files
@pytest.mark.parametrize("arch", ARCHS)
def test_every_tensor_assigned_by_order_and_shape(arch, ports):
    layers = pretrained.read_weight_file(FILES[arch])
    model, detected = ports[arch]
    assert detected == arch and model.count_params() == pretrained.PUBLISHED[arch]["n_params"]
    assert pretrained.assign_weights(model, layers) == pretrained.n_tensors(layers)
    file_layers = [(n, a) for n, a in layers if a]
    model_layers = [layer for layer in model.layers if layer.weights]
    assert len(file_layers) == len(model_layers)
    kinds = {"conv2d": L.Conv2D, "batch_normalization": L.BatchNormalization, "dense": L.Dense}
    for (name, arrays), layer in zip(file_layers, model_layers):
        assert isinstance(layer, kinds[name.rsplit("_", 1)[0]]), (name, layer.name)
        for a, w in zip(arrays, layer.get_weights()):
            np.testing.assert_array_equal(a, w)


def _creation_ranks(names, kind):
    nums = [int(n[len(kind) + 1 :] or 0) for n in names if re.fullmatch(kind + r"(_\d+)?", n)]
    return np.argsort(np.argsort(nums)).tolist()


@needs_files
@pytest.mark.parametrize("arch", ARCHS)
def test_keras_layer_order_same_as_keras_2_1_5(arch, references):
    # the file's names number layers in creation order under Keras 2.1.5; the authors'
    # graph built with this Keras must list its weighted layers in the same relative
    # order (the convention that order-based loading and our port both rely on)
    file_names = [n for n, a in pretrained.read_weight_file(FILES[arch]) if a]
    ref = (
        authors_sen2lcz_drop()
        if arch == "sen2lcznet"
        else authors_resnet_v2(pretrained.PUBLISHED[arch]["input_shape"])
    )
    ref_names = [layer.name for layer in ref.layers if layer.weights]
    for kind in ("conv2d", "batch_normalization"):
        assert _creation_ranks(file_names, kind) == _creation_ranks(ref_names, kind)


@needs_files
@pytest.mark.parametrize("arch", ARCHS)
def test_same_probabilities_as_authors_network(arch, ports, references):
    x = fixed_inputs(arch)
    ours = ports[arch][0](x, training=False).numpy()
    theirs = references[arch](x, training=False).numpy()
    assert ours.shape == (len(x), 17)
    np.testing.assert_allclose(ours.sum(axis=1), 1.0, atol=1e-5)
    assert ours.max() > 2 / 17  # not a degenerate (uniform) output
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-5)


# -- bad input --------------------------------------------------------------------------
@needs_files
def test_other_architecture_file_fails_naming_the_layer():
    model = pretrained.build_model("sen2lcznet")
    layers = pretrained.read_weight_file(FILES["so2sat_resnet20_s2"])
    with pytest.raises(LczError) as err:
        pretrained.assign_weights(model, layers)
    msg = str(err.value)
    assert "'conv2d_2'" in msg and "'block1_conv2'" in msg
    assert "(1, 1, 16, 16)" in msg and "(3, 3, 16, 16)" in msg
    with pytest.raises(LczError, match="conv2d_1"):
        pretrained.load_published(FILES["so2sat_resnet20_s1"], arch="so2sat_resnet20_s2")


@needs_files
def test_truncated_file_fails_clearly(tmp_path):
    cut = tmp_path / "cut.hdf5"
    data = FILES["sen2lcznet"].read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(LczError, match="truncated"):
        pretrained.read_weight_file(cut)


def test_missing_and_non_hdf5_files_fail_clearly(tmp_path):
    with pytest.raises(LczError, match="does not exist"):
        pretrained.read_weight_file(tmp_path / "nope.h5")
    text = tmp_path / "weights.h5"
    text.write_text("not hdf5")
    with pytest.raises(LczError, match="not a readable HDF5"):
        pretrained.read_weight_file(text)
    empty = tmp_path / "empty.h5"
    with h5py.File(empty, "w") as h5:
        h5.create_group("x")
    with pytest.raises(LczError, match="layer_names"):
        pretrained.read_weight_file(empty)


@pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5 file")
def test_full_keras_model_given_as_weights_fails_clearly(tmp_path):
    model = keras.Sequential([keras.Input((4,)), L.Dense(3)])
    path = tmp_path / "x.h5"
    model.save(path)
    with pytest.raises(LczError, match="full Keras model"):
        pretrained.read_weight_file(path)


@needs_files
@pytest.mark.parametrize("arch", ARCHS)
def test_sha256_of_published_files(arch, tmp_path):
    ok, actual = pretrained.verify_sha256(FILES[arch], arch)
    assert ok and actual == pretrained.PUBLISHED[arch]["sha256"]
    copy = tmp_path / "copy.h5"
    shutil.copyfile(FILES[arch], copy)
    with open(copy, "ab") as fh:
        fh.write(b"\0")
    assert pretrained.verify_sha256(copy, arch)[0] is False


# -- preprocessing ----------------------------------------------------------------------
def test_s1_features_definition():
    sen1 = np.zeros((1, 32, 32, 8))
    sen1[..., 0:4] = [3.0, 4.0, 3.0, 4.0]  # VH = VV = 3+4j: |.|^2 = 25, coherence 1
    sen1[..., 4:6] = [0.01, 0.1]  # Lee intensities: -20 dB, -10 dB
    sen1[..., 6:8] = [0.02, 0.02]  # C12 = 0.02+0.02j: |C12| / sqrt(0.001), phase 45 deg
    sen1[0, 5, 5, 0:2] = 0.0  # a zero unfiltered VH pixel takes its 3x3 mean (8/9 * 25)
    f = pretrained.so2sat_s1_raw_features(sen1)
    assert f.shape == (1, 32, 32, 7) and f.dtype == np.float32
    expect = [
        10 * np.log10(25),
        10 * np.log10(25),
        None,
        -20,
        -10,
        np.hypot(0.02, 0.02) / np.sqrt(0.001),
        np.cos(np.pi / 4),
    ]
    for c, v in enumerate(expect):
        if v is not None:
            np.testing.assert_allclose(f[0, 0, 0, c], v, rtol=1e-5)
    np.testing.assert_allclose(f[0, 10, 10, 2], 1.0, rtol=1e-6)
    np.testing.assert_allclose(f[0, 5, 5, 0], 10 * np.log10(25 * 8 / 9), rtol=1e-5)


def test_s1_features_standardised():
    rng = np.random.default_rng(1)
    sen1 = np.abs(rng.normal(0.1, 0.05, (6, 32, 32, 8)))
    z = pretrained.so2sat_s1_features(sen1)
    assert z.shape == (6, 32, 32, 7) and z.dtype == np.float32
    np.testing.assert_allclose(z.reshape(-1, 7).mean(axis=0), 0, atol=1e-4)
    np.testing.assert_allclose(z.reshape(-1, 7).std(axis=0), 1, atol=1e-3)
    stats = pretrained.so2sat_s1_feature_stats(sen1)
    np.testing.assert_allclose(pretrained.so2sat_s1_features(sen1[:2], **stats), z[:2], atol=1e-4)
    with pytest.raises(LczError, match="8"):
        pretrained.so2sat_s1_features(np.zeros((1, 32, 32, 7)))


def test_s2_scaling_is_so2sat_scale():
    x = np.random.default_rng(2).uniform(0, 0.5, (2, 32, 32, 10))
    y = pretrained.so2sat_resnet20_s2_scaling(x, unknown_param=1)
    # So2Sat scale, rounded to float16 as the authors' getData does (relative 2**-11)
    assert y.dtype == np.float32 and np.allclose(y, x, rtol=2**-10, atol=3e-8)
    with pytest.raises(LczError):
        pretrained.so2sat_resnet20_s2_scaling(np.zeros((1, 32, 32, 8)))
