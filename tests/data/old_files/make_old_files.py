"""Write the old model files of tests/data/old_files/ (run once, with the previous release's stack).

The "old files keep working" tests load files that the plugin's previous release and its
users wrote, and compare what they give with what they gave then. So these files must be
written by that release's stack, not by the current one:

    Debian 12, Python 3.11, numpy 1.24, TensorFlow 2.15 / Keras 2.15,
    scikit-learn 1.2, skops 0.10 (the .venv of constraints.txt before Keras 3)

Command (from the repository root, with that .venv):

    .venv/bin/python tests/data/old_files/make_old_files.py

It writes, kept small (well under 1 MB in all):

- ``mlp_keras2.lczmodel``: the plugin's own ``mlp_diy`` trained by ``train_model`` for one
  epoch on one band (B2) of a small generated So2Sat file (Keras 2 ``.keras`` member);
- ``rf_sklearn12.lczmodel``: the plugin's random forest trained by ``train_model``, shrunk
  to 4 trees of depth 4 (skops 0.10 / scikit-learn 1.2 tree arrays);
- ``notebook_keras2.keras``: a notebook-style ``model.save('x.keras')`` of a small
  Sequential CNN fitted for 5 epochs on the same file;
- ``legacy_keras2.h5``: a legacy ``.h5`` of a small functional model that uses the
  plugin's own ``ChannelSlice`` layer, fitted likewise;
- ``expected.npz``: ``probes`` (6 So2Sat-scale Sentinel-2 windows, (6, 32, 32, 10)
  float32) and, per file, the probabilities ``load_model(file).predict_proba(probes)``
  gave on this stack (``mlp``, ``rf``, ``notebook``, ``legacy``), plus ``versions``.

Everything is seeded; README.md beside this script records the versions it ran with.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))

N_PATCHES = 340  # sample_data.MIN_PATCHES: 20 of each class
N_PROBES = 6


def _rf(train: Path, out: Path) -> None:
    """The plugin's forest path (features, fit, manifest, skops) with a small forest."""
    from lcz_qgis.models import rf
    from lcz_qgis.training.train import train_model

    fit, make = rf.fit, rf.make_estimator
    rf.N_TREES = 4
    rf.make_estimator = lambda seed, codes, n_trees=4: make(seed, codes, n_trees).set_params(
        max_depth=4
    )
    rf.fit = lambda x, y, seed, feedback, n_trees=4: fit(x, y, seed, feedback, n_trees)
    train_model(train, out, model_type="rf", sensor="sen2", seed=0)


def _fit(model, data) -> None:
    """A few quick epochs, so the probabilities differ from patch to patch (an untrained
    model gives about 1/17 everywhere, which would hide wrong weights)."""
    x, codes = data
    model.compile("adam", "sparse_categorical_crossentropy")
    model.optimizer.learning_rate = 0.01
    model.fit(x, codes - 1, epochs=5, batch_size=32, verbose=0)


def _notebook(out: Path, data) -> None:
    from tensorflow import keras

    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input(shape=(32, 32, 10)),
            keras.layers.Rescaling(1 / 0.3),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.BatchNormalization(momentum=0.5),
            keras.layers.MaxPooling2D(2),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(17, activation="softmax"),
        ],
        name="notebook_cnn",
    )
    _fit(model, data)
    model.save(out)


def _legacy(out: Path, data) -> None:
    from tensorflow import keras

    from lcz_qgis.models.fusion import ChannelSlice

    keras.utils.set_random_seed(2)
    inputs = keras.Input(shape=(32, 32, 10), name="patch")
    x = ChannelSlice(0, 4, name="rgbn")(inputs)
    x = keras.layers.Conv2D(3, 3, padding="same", name="conv")(x)
    x = keras.layers.BatchNormalization(momentum=0.5, name="bn")(x)
    x = keras.layers.Activation("relu", name="relu")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(17, activation="softmax", name="probabilities")(x)
    model = keras.Model(inputs, outputs, name="legacy_cnn")
    _fit(model, data)
    model.save(out, save_format="h5")


def main() -> None:
    from lcz_qgis.models.modelfile import library_versions, load_model
    from lcz_qgis.sample_data import write_so2sat_file
    from lcz_qgis.so2sat.file import So2SatFile
    from lcz_qgis.training.train import train_model

    files = {
        "mlp": HERE / "mlp_keras2.lczmodel",
        "rf": HERE / "rf_sklearn12.lczmodel",
        "notebook": HERE / "notebook_keras2.keras",
        "legacy": HERE / "legacy_keras2.h5",
    }
    with tempfile.TemporaryDirectory() as d:
        train = write_so2sat_file(Path(d) / "train.h5", N_PATCHES, seed=7)
        with So2SatFile(train) as f:
            probes = f.read("sen2", np.arange(N_PROBES), list(range(10))).astype(np.float32)
            data = (f.read("sen2", np.arange(f.n)), f.labels())
        train_model(
            train, files["mlp"], model_type="mlp_diy", sensor="sen2", bands="B2", seed=0,
            epochs=1, batch_size=64,
        )  # fmt: skip
        _rf(train, files["rf"])
    _notebook(files["notebook"], data)
    _legacy(files["legacy"], data)
    expected = {"probes": probes}
    for key, path in files.items():
        model = load_model(path)
        x = probes[..., model.bands] if path.suffix == ".lczmodel" else probes
        expected[key] = model.predict_proba(x)
    versions = library_versions()
    np.savez_compressed(HERE / "expected.npz", versions=json.dumps(versions), **expected)
    total = sum(p.stat().st_size for p in HERE.iterdir() if p.is_file())
    print(json.dumps(versions, indent=1))
    print(f"wrote {len(files) + 1} files, {total} bytes in {HERE}")


if __name__ == "__main__":
    main()
