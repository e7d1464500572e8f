"""The Keras model builders: MLP, the notebook ResNet50, fusion (early/late), FLOPs."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.tf
tf = pytest.importorskip("tensorflow")
keras = pytest.importorskip("keras")

from lcz_qgis.models import fusion, mlp, resnet50  # noqa: E402
from lcz_qgis.models.flops import count_flops  # noqa: E402

CHANNELS = (10, 8, 18, 2)
SLOW = pytest.mark.slow  # ResNet50 .keras loading takes ~15 s (95 MB) on 2 cores


def _late(shape, n_classes=17):
    c = shape[-1]
    return fusion.build(shape, n_classes, variant="late", s1_channels=8 if c > 8 else c // 2)


BUILDERS = {
    "mlp_simple": lambda shape, n=17: mlp.build(shape, n, variant="simple"),
    "mlp_diy": lambda shape, n=17: mlp.build(shape, n, variant="diy"),
    "resnet50": lambda shape, n=17: resnet50.build(shape, n),
    "fusion_early": lambda shape, n=17: fusion.build(shape, n, variant="early"),
    "fusion_late": _late,
}


def _patches(n: int, c: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, 32, 32, c)).astype("float32")


def _has_lambda(model) -> bool:
    return any(isinstance(layer, keras.layers.Lambda) for layer in model.layers)


# -- parameter counts ------------------------------------------------------------------
def test_mlp_parameter_counts():
    assert mlp.build((32, 32, 10)).count_params() == 32 * 32 * 10 * 128 + 128 + 128 * 17 + 17
    assert mlp.build((32, 32, 10), variant="diy").count_params() == (
        32 * 32 * 10 * 64 + 64 + 64 * 32 + 32 + 32 * 17 + 17
    )
    with pytest.raises(ValueError):
        mlp.build((32, 32, 10), variant="deep")


def test_resnet50_parameter_count_matches_notebook():
    model = resnet50.build((32, 32, 10), 17)
    assert model.count_params() == resnet50.PARAMS_C10 == 23_606_289
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    assert trainable == 23_553_297
    shapes = {layer.name: tuple(layer.output.shape) for layer in model.layers}
    assert shapes["bn2a_branch2c"] == (None, 7, 7, 256)
    assert shapes["bn3a_branch2c"] == (None, 7, 7, 512)  # stage 3 conv block: stride 1
    assert shapes["bn4a_branch2c"] == (None, 4, 4, 1024)
    assert shapes["bn5a_branch2c"] == (None, 2, 2, 2048)
    assert shapes["avg_pool"] == (None, 1, 1, 2048)
    assert shapes["res2b_branch2a"] == (None, 7, 7, 64)  # identity blocks use 64, not 32


def test_fusion_parameter_counts():
    early = fusion.build(variant="early")
    assert early.count_params() == resnet50.PARAMS_C10 + 3136 * 8
    late = fusion.build(variant="late")
    assert 300_000 <= late.count_params() <= 1_000_000
    assert not _has_lambda(late)
    with pytest.raises(ValueError):
        fusion.build(variant="middle")
    with pytest.raises(ValueError):
        fusion.build((32, 32, 8), variant="late", s1_channels=8)


# -- shapes and softmax for every channel count ------------------------------------------
@pytest.mark.parametrize("name", list(BUILDERS))
def test_builds_for_channel_counts_and_outputs_probabilities(name):
    for c in CHANNELS:
        model = BUILDERS[name]((32, 32, c))
        assert model.input_shape == (None, 32, 32, c)
        assert model.output_shape == (None, 17)
        assert not _has_lambda(model)
        probs = model(_patches(3, c, seed=c), training=False).numpy()
        assert probs.shape == (3, 17)
        assert np.all(probs >= 0)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    assert BUILDERS[name]((32, 32, 10), 5).output_shape == (None, 5)


# -- .keras round trip under safe_mode ---------------------------------------------------
@pytest.mark.parametrize(
    "name",
    [
        "mlp_simple",
        "mlp_diy",
        "fusion_late",
        pytest.param("resnet50", marks=SLOW),
        pytest.param("fusion_early", marks=SLOW),
    ],
)
def test_keras_round_trip_safe_mode(tmp_path, name):
    c = 18 if name.startswith("fusion") else 10
    model = BUILDERS[name]((32, 32, c))
    x = _patches(4, c, seed=1)
    before = model.predict(x, verbose=0)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), before)
    assert loaded.count_params() == model.count_params()
    assert [type(layer).__name__ for layer in loaded.layers] == [
        type(layer).__name__ for layer in model.layers
    ]


def test_channel_slice_config_round_trip():
    layer = fusion.ChannelSlice(2, 5, name="cut")
    clone = fusion.ChannelSlice.from_config(layer.get_config())
    x = _patches(1, 8)
    np.testing.assert_array_equal(clone(x).numpy(), x[..., 2:5])
    assert keras.saving.get_registered_name(fusion.ChannelSlice) == "lcz>ChannelSlice"
    with pytest.raises(ValueError):
        fusion.ChannelSlice(3, 3)


# -- a few training steps reduce the loss -----------------------------------------------
def _easy_set(c: int, per_class: int = 20):
    """17 classes whose patches differ by their mean (340 samples by default)."""
    rng = np.random.default_rng(42)
    y = np.repeat(np.arange(17), per_class)
    x = rng.normal(size=(y.size, 32, 32, c)) + y[:, None, None, None] / 2.0
    perm = rng.permutation(y.size)
    return x[perm].astype("float32"), y[perm]


@pytest.mark.parametrize("name", ["mlp_simple", "mlp_diy", "fusion_late"])
def test_training_reduces_loss(name):
    keras.utils.set_random_seed(0)
    c = 18 if name.startswith("fusion") else 10
    x, y = _easy_set(c)
    model = BUILDERS[name]((32, 32, c))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    history = model.fit(x, y, epochs=3 if name.startswith("mlp") else 2, batch_size=34, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0]


def test_resnet50_train_steps():
    keras.utils.set_random_seed(0)
    model = resnet50.build((32, 32, 10))
    # eager: tracing the ResNet50 train step costs more than the steps themselves
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        run_eagerly=True,
    )
    x, y = _easy_set(10, per_class=1)
    x, y = x[:8], y[:8]
    losses = [float(model.train_on_batch(x, y)) for _ in range(3)]
    assert np.all(np.isfinite(losses))
    assert losses[-1] < losses[0]


# -- FLOPs ----------------------------------------------------------------------------
def test_count_flops_dense_and_conv():
    assert count_flops(mlp.build((32, 32, 10))) == 2 * (10240 * 128 + 128 * 17)
    inputs = keras.Input((32, 32, 4))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)  # 32*32 * 3*3*4*8 MACs
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same")(x)  # 16*16 * 9*8
    x = keras.layers.SeparableConv2D(6, 3, padding="valid")(x)  # 14*14 * (9*8 + 8*6)
    x = keras.layers.Conv2D(6, 1, groups=2)(x)  # 14*14 * 3*6
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(5)(x)
    model = keras.Model(inputs, outputs)
    macs = 1024 * 288 + 256 * 72 + 196 * (72 + 48) + 196 * 18 + 6 * 5
    assert count_flops(model) == 2 * macs
    outer_in = keras.Input((32, 32, 4))
    outer = keras.Model(outer_in, model(outer_in))
    assert count_flops(outer) == 2 * macs


def test_count_flops_resnet50_and_late_fusion():
    flops = count_flops(resnet50.build((32, 32, 10)))
    stem = 2 * 16 * 16 * 7 * 7 * 10 * 64
    assert flops == 498_132_992
    assert flops > stem
    late = count_flops(fusion.build(variant="late"))
    assert 0 < late < flops


def test_graph_and_shared_memory_prediction_equal_eager_calls(tmp_path):
    """A Keras ``LczModel`` after ``prepare_many`` (a traced graph function, aligned batches
    handed over without a copy) gives the eager model's probabilities, and leaves its
    input untouched."""
    from lcz_qgis.common.aligned_arrays import aligned_empty, is_aligned
    from lcz_qgis.models.modelfile import load_model, new_manifest, save_keras_model

    km = mlp.build((32, 32, 10), 17, variant="diy")
    path = save_keras_model(
        tmp_path / "m.lczmodel",
        km,
        new_manifest(
            "mlp_diy",
            "keras",
            "sen2",
            list(range(10)),
            preprocessing=[{"type": "standardize", "mean": [0.1] * 10, "std": [0.5] * 10}],
        ),
    )
    x = _patches(300, 10, seed=3)
    # the Keras engine itself (auto would run the file's ONNX graph)
    eager = load_model(path, runtime="tensorflow").predict_proba(x, batch_size=64)
    assert not load_model(path, runtime="tensorflow").engine._many
    m = load_model(path, runtime="tensorflow")
    m.prepare_many(100_000)
    aligned = aligned_empty(x.shape)
    aligned[...] = x
    shifted = aligned_empty((x.size + 1,))[1:].reshape(x.shape)  # 4 bytes off
    shifted[...] = x
    assert is_aligned(aligned) and not is_aligned(shifted)
    for inp in (aligned, shifted[1:]):
        before = inp.copy()
        got = m.predict_proba(inp, batch_size=64)
        np.testing.assert_allclose(got, eager[-len(inp) :], rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(inp, before)
    assert m.engine._graph is not None  # the graph function did the work
