"""Damaged or hand-edited .lczmodel files give a clear LczError, not a traceback."""

from __future__ import annotations

import json
import zipfile

import numpy as np
import pytest

from lcz_qgis.common.errors import LczError
from lcz_qgis.models.modelfile import load_model, new_manifest, save_keras_model


@pytest.fixture(scope="module")
def small_rf(tmp_path_factory):
    """A small random forest on Sentinel-2 bands B3, B4, B5, B8A."""
    from lcz_qgis.sample_data import write_so2sat_file
    from lcz_qgis.training.train import train_model

    d = tmp_path_factory.mktemp("damage")
    write_so2sat_file(d / "train.h5", 400, seed=1)
    out = d / "rf.lczmodel"
    train_model(
        d / "train.h5", out, model_type="rf", sensor="sen2", bands="2,3,4,8", max_samples=200
    )
    return out


def _parts(path):
    with zipfile.ZipFile(path) as z:
        manifest = json.loads(z.read("manifest.json"))
        member = manifest["model_member"]
        return manifest, member, z.read(member)


def _rewrite(src, dst, edit=None, manifest=None):
    """Copy model file ``src`` to ``dst`` with its manifest edited by ``edit(m)`` or replaced."""
    m, member, payload = _parts(src)
    if edit:
        edit(m)
    with zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(m if manifest is None else manifest))
        z.writestr(member, payload)
    return dst


def _error(path, runtime: str = "auto") -> str:
    with pytest.raises(LczError) as info:
        load_model(path, runtime=runtime)
    msg = str(info.value)
    assert "\n" not in msg
    return msg


def test_the_small_model_loads_and_predicts(small_rf, tmp_path):
    copy = _rewrite(small_rf, tmp_path / "copy.lczmodel")
    m = load_model(copy)
    assert m.predict(np.zeros((2, 32, 32, 4), np.float32)).shape == (2,)


def _flip_member_byte(src, dst, member: str, where: float) -> None:
    data = bytearray(src.read_bytes())
    with zipfile.ZipFile(src) as z:
        info = z.getinfo(member)
    assert info.compress_type == zipfile.ZIP_DEFLATED
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + int(info.compress_size * where)] ^= 0xFF
    dst.write_bytes(bytes(data))


# early flips break the deflate stream (zlib.error); later ones fail the CRC check
@pytest.mark.parametrize("where", [0.0001, 0.0005, 0.5])
def test_bit_flip_in_compressed_model_is_clear(small_rf, tmp_path, where):
    """The forest's own member, read when scikit-learn runs it. By default the plugin's
    forest (whole votes) runs its ONNX graph, which is intact, and the forest member is
    not read (docs/onnx.md); asking for the forest then names the damage."""
    bad = tmp_path / "flipped.lczmodel"
    _flip_member_byte(small_rf, bad, "model.skops", where)
    msg = _error(bad, runtime="tensorflow")
    assert msg.startswith("'flipped.lczmodel' is damaged: cannot read 'model.skops'")
    assert "re-train" in msg
    model = load_model(bad)
    assert model.predict(np.zeros((2, 32, 32, 4), np.float32)).shape == (2,)
    with pytest.raises(LczError, match="is damaged: cannot read 'model.skops'"):
        model.network  # noqa: B018 - the forest itself, loaded on first use


@pytest.mark.parametrize("where", [0.0, 0.05, 0.5])
def test_bit_flip_in_manifest_is_clear(small_rf, tmp_path, where):
    bad = tmp_path / "flipped.lczmodel"
    _flip_member_byte(small_rf, bad, "manifest.json", where)
    assert _error(bad).startswith("'flipped.lczmodel' is not a valid .lczmodel file")


def _set(key, value):
    def edit(m):
        m[key] = value

    return edit


def _drop(key):
    def edit(m):
        del m[key]

    return edit


@pytest.mark.parametrize(
    "edit, expected",
    [
        (_set("sensor", "sen9"), "unknown sensor 'sen9' (use sen2, sen1, fusion)"),
        (_set("bands", [0, 99]), "bands [99] are out of range for sen2 (0-9)"),
        (_set("bands", "1,2,3,7"), "'bands' is \"1,2,3,7\", not a list"),
        (_set("bands", [1, 2, 3, 3]), "repeat a band"),
        (_set("bands", [1.5, 2, 3, 7]), "are not all whole numbers"),
        (_set("bands", []), "'bands' is empty"),
        (_set("input_channels", 7), "input_channels is 7 but it lists 4 bands"),
        (_set("sensor", "sen1"), "band_names do not match sen1 bands [1, 2, 3, 7]"),
        (_set("model_member", 3), "'model_member' is 3, not a text"),
        (_set("preprocessing", {"type": "x"}), "'preprocessing' is not a list of steps"),
        (_set("format_version", "one"), 'format_version "one" is not a number'),
        *[
            (_drop(k), f"'{k}' missing")
            for k in ("model_type", "sensor", "bands", "framework", "model_member")
        ],
    ],
)
def test_edited_manifest_is_clear(small_rf, tmp_path, edit, expected):
    bad = _rewrite(small_rf, tmp_path / "edited.lczmodel", edit)
    msg = _error(bad)
    assert msg.startswith("'edited.lczmodel' has a damaged or edited manifest: ")
    assert expected in msg
    assert msg.endswith("re-export or re-train the model")


def test_manifest_that_is_not_an_object(small_rf, tmp_path):
    bad = _rewrite(small_rf, tmp_path / "list.lczmodel", manifest=[1, 2])
    assert _error(bad).startswith("'list.lczmodel' is damaged: its manifest is not a JSON object")


def test_consistent_edit_that_does_not_fit_the_model(small_rf, tmp_path):
    """Bands, names and channel count agree, but the forest was trained on other inputs."""

    def three_bands(m):
        m["bands"] = [1, 2, 3]
        m["band_names"] = ["B3", "B4", "B5"]
        m["input_channels"] = 3
        m["preprocessing"][0]["band_names"] = ["B3", "B4", "B5"]

    msg = _error(_rewrite(small_rf, tmp_path / "three.lczmodel", three_bands))
    assert msg.startswith("'three.lczmodel' does not fit together: its manifest's 3 sen2 bands")
    assert "give 18 inputs but the model takes 24" in msg


def test_unknown_preprocessing_step(small_rf, tmp_path):
    msg = _error(
        _rewrite(small_rf, tmp_path / "step.lczmodel", _set("preprocessing", [{"type": "x"}]))
    )
    assert "its preprocessing fails on its 4 sen2 bands" in msg
    assert "unknown preprocessing step 'x'" in msg


@pytest.fixture(scope="module")
def keras():
    tf = pytest.importorskip("tensorflow")
    return tf.keras


def _keras_net(keras, channels):
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((32, 32, channels)),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(17, activation="softmax"),
        ]
    )


@pytest.mark.tf
def test_keras_input_channels_must_match_the_bands(keras, tmp_path):
    path = tmp_path / "net.lczmodel"
    save_keras_model(
        path, _keras_net(keras, 8), new_manifest("mlp", "keras", "sen2", list(range(10)))
    )
    msg = _error(path)
    assert msg.startswith("'net.lczmodel' does not fit together: its manifest's 10 sen2 bands")
    assert "give 32x32x10 inputs but the Keras model takes 32x32x8" in msg
    # a manifest whose preprocessing turns 8 So2Sat sen1 channels into the 7 the network
    # takes (the imported So2Sat S1 ResNet-20) is consistent and loads
    ok = tmp_path / "s1.lczmodel"
    manifest = new_manifest(
        "resnet", "keras", "sen1", list(range(8)), preprocessing=[{"type": "so2sat_s1_features"}]
    )
    save_keras_model(ok, _keras_net(keras, 7), manifest)
    assert load_model(ok).predict(np.ones((1, 32, 32, 8), np.float32)).shape == (1,)


def test_model_from_a_newer_plugin_asks_for_an_update_not_a_retrain(small_rf, tmp_path):
    def newer(m):
        m["format_version"] = 99
        m["sensor"] = "sen2_l2a"  # a sensor this version does not know

    msg = _error(_rewrite(small_rf, tmp_path / "new.lczmodel", newer))
    assert "written by a newer plugin (format 99)" in msg and "update the plugin" in msg
