"""The Keras engine: the only inference module that imports TensorFlow and Keras.

It reads a ``.lczmodel``'s Keras member, a notebook's ``.keras`` file and a legacy
``.h5`` file, writes a network as a ``.lczmodel`` member (``dumps``), and predicts.
Loading never executes code from the file (docs/security.md): every part's size and
every object of the Keras config are checked by :mod:`..safety` first (Lambda layers
and Python code refused), then the network is built in safe mode and its weights
loaded; it must output the 17 classes. What differs between Keras versions belongs
here (and in the safety allow-list): ``keras_module``, ``project_layers``,
``upgrade_config`` (Keras 2 configs renamed for Keras 3), ``model_from_config``,
``model_from_legacy_h5`` (Keras 3's ``keras.src.legacy.saving``, Keras 2's
``keras.src.saving.legacy``), ``_save_keras``, ``_shared_tensor`` and
``_graph_function``. Only configs that :func:`..safety.parse_keras_config` returned reach
the builders: nothing is checked again there.

Predicting: when at least ``GRAPH_MIN_PATCHES`` patches are announced (``prepare``) or
given in one call, batches run through a traced graph function rather than eager
calls: 1.2x (MLP) to 1.7x (Sen2LCZ-Net) faster on 2 cores, after a one-off trace (0.1 s
for the MLP, 2 s for ResNet50); small one-off calls stay eager. A network's
probabilities may depend on its batch's size (``batch_invariant`` False).
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from ...common.aligned_arrays import dlpack_ready
from ...common.bands import PATCH_SIZE
from ...common.enums import Framework
from ...common.errors import LczError, first_line, require
from ...common.legend import N_CLASSES
from .. import safety
from ..model import check_model_input
from . import ZIP_DAMAGE, Engine

# calls predicting at least this many patches run as a traced graph function
GRAPH_MIN_PATCHES = 4096


class KerasEngine(Engine):
    """A Keras network (``network``), predicting eagerly or through a graph function."""

    framework = Framework.KERAS
    label = "Keras"
    extensions = (".keras", ".h5", ".hdf5")
    member = "model.keras"
    member_bytes = safety.MAX_MODEL_BYTES
    batch_invariant = False
    imports = ("tensorflow",)

    def __init__(self, network):
        self.network = network
        self._many = False
        self._graph = None

    @classmethod
    def load(cls, source, manifest, where):
        if manifest is None:
            return cls(_load_plain(Path(source), where))
        member = str(manifest["model_member"])[:40]
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d) / "model.keras"
            tmp.write_bytes(source)
            del source
            network = load_keras_file(tmp, f"{where} (its {member})")
        if isinstance(network.input_shape, list):
            raise LczError(f"{where} has a Keras model with several inputs; it needs one")
        _check_keras_output(where, network)
        engine = cls(network)
        check_model_input(manifest, where, engine.input_shape, "the Keras model")
        return engine

    @staticmethod
    def dumps(network) -> bytes:
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "model.keras"
            _save_keras(network, p)
            return p.read_bytes()

    @property
    def input_shape(self):
        return tuple(self.network.input_shape[1:])

    def prepare(self, n):
        self._many = self._many or n >= GRAPH_MIN_PATCHES

    def configure(self, threads, deterministic):
        import tensorflow as tf

        if deterministic:
            tf.config.experimental.enable_op_determinism()
        try:  # the environment already says so; this holds where TF started before it was set
            tf.config.threading.set_intra_op_parallelism_threads(max(1, int(threads)))
            tf.config.threading.set_inter_op_parallelism_threads(max(1, int(threads)))
        except RuntimeError:  # TensorFlow's runtime has started: its pools are fixed
            pass

    def predict(self, x, batch_size):
        import tensorflow as tf

        x = x.astype(np.float32, copy=False)
        if self._many or len(x) >= GRAPH_MIN_PATCHES:
            call = self._graph_function(tf, x)
        else:
            model = self.network

            def call(b):
                return model(b, training=False)

        out = []
        for start in range(0, len(x), batch_size):
            # aligned batches (classification's windows) go to TensorFlow without a copy
            batch = _shared_tensor(tf, x[start : start + batch_size])
            out.append(np.asarray(call(batch)))
        p = np.concatenate(out)
        if p.shape[1] != N_CLASSES:
            raise LczError(f"the Keras model outputs {p.shape[1]} classes, expected {N_CLASSES}")
        return p

    def _graph_function(self, tf, x: np.ndarray):
        if self._graph is None:
            model = self.network
            self._graph = tf.function(
                lambda t: model(t, training=False),
                input_signature=[tf.TensorSpec((None, *x.shape[1:]), tf.as_dtype(x.dtype))],
            )
        return self._graph


ENGINE = KerasEngine


def _shared_tensor(tf, a: np.ndarray):
    """A float32 tensor sharing ``a``'s memory through DLPack when ``a`` qualifies
    (``aligned_arrays.dlpack_ready``); otherwise ``a`` itself (TensorFlow copies it).
    The caller must not change ``a`` while the tensor is in use."""
    if dlpack_ready(a):
        return tf.experimental.dlpack.from_dlpack(a.__dlpack__())
    return a


def _save_keras(network, path: Path) -> None:
    """Save ``network`` as a ``.keras`` file."""
    network.save(path)


# -- Keras versions: Keras 3 builds Keras 2 files too -------------------------------------

#: Keras 2 module of a model class -> Keras 3's (a plain rename: same classes, same configs)
KERAS2_MODULES = {
    "keras.src.engine.functional": "keras.src.models.functional",
    "keras.src.engine.sequential": "keras.src.models.sequential",
    "keras.src.engine.training": "keras.src.models.model",
}


# layers whose Keras 2 config gives ``axis`` as a one-item list, where Keras 3 takes a number
_ONE_AXIS = frozenset({"BatchNormalization"})


def _is_keras3(keras) -> bool:
    return int(keras.__version__.split(".")[0]) >= 3


def keras_module():
    """The ``keras`` package (Keras 3 on TensorFlow), the plugin's layers registered."""
    require("tensorflow", "tensorflow-cpu", "Keras models")
    import keras

    project_layers()
    return keras


def project_layers() -> dict:
    """The plugin's registered Keras layers by registered name (``safety.PROJECT_LAYERS``),
    registering them first. Raises LczError when one is missing."""
    import keras

    from ..fusion import channel_slice_class

    channel_slice_class()
    found = {n: keras.saving.get_registered_object(n) for n in safety.PROJECT_LAYERS}
    missing = [n for n, obj in found.items() if obj is None]
    if missing:
        raise LczError(f"the plugin's Keras layers {', '.join(missing)} are not registered")
    return found


def _single_refs(config: dict) -> dict:
    """A Keras 2 model's ``input_layers`` / ``output_layers`` that hold one reference,
    as Keras 3 writes one (``[name, 0, 0]`` rather than ``[[name, 0, 0]]``)."""
    out = {}
    for key in ("input_layers", "output_layers"):
        refs = config.get(key)
        if isinstance(refs, list) and len(refs) == 1 and isinstance(refs[0], list):
            out[key] = refs[0]
    return out


def upgrade_config(config):
    """A copy of a checked ``.keras`` model config as Keras 3 reads it, at any depth:
    every Keras 2 model module (:data:`KERAS2_MODULES`) renamed to Keras 3's (allowed by
    :mod:`.safety` as well) and BatchNormalization's ``axis: [3]`` as ``axis: 3``; other
    entries as they are (Keras 3 reads Keras 2's layer configs and nodes)."""
    if isinstance(config, list):
        return [upgrade_config(v) for v in config]
    if not isinstance(config, dict):
        return config
    out = {k: upgrade_config(v) for k, v in config.items()}
    module, layer = out.get("module"), out.get("config")
    if "class_name" in out and isinstance(module, str) and module in KERAS2_MODULES:
        out["module"] = KERAS2_MODULES[module]
        if isinstance(layer, dict):  # one input or output: Keras 3 writes it unlisted
            out["config"] = layer = {**layer, **_single_refs(layer)}
    if out.get("class_name") in _ONE_AXIS and isinstance(layer, dict):
        axis = layer.get("axis")
        if isinstance(axis, list) and len(axis) == 1:
            out["config"] = {**layer, "axis": axis[0]}
    return out


def model_from_config(config: dict):
    """The (uncompiled, unweighted) model of a checked ``.keras`` config, Keras 2 or 3,
    built in Keras' safe mode (under Keras 3 after :func:`upgrade_config`)."""
    keras = keras_module()
    from keras.src.saving import serialization_lib

    if _is_keras3(keras):
        config = upgrade_config(config)
    with serialization_lib.SafeModeScope(True):
        return serialization_lib.deserialize_keras_object(config, safe_mode=True)


def _legacy_h5_api():
    """(model_from_config, load_weights_from_hdf5_group, decode, option scope) of Keras'
    legacy ``.h5`` loader: ``keras.src.legacy.saving`` in Keras 3, where Keras 2 had
    ``keras.src.saving.legacy``."""
    try:
        from keras.src.legacy.saving import (
            json_utils,
            legacy_h5_format,
            saving_options,
            saving_utils,
        )
    except ImportError:  # Keras 2
        import contextlib

        from keras.src.saving.legacy import hdf5_format as legacy_h5_format
        from keras.src.saving.legacy import model_config as saving_utils
        from keras.src.saving.legacy.saved_model import json_utils

        return (
            saving_utils.model_from_config,
            legacy_h5_format.load_weights_from_hdf5_group,
            json_utils.decode,
            contextlib.nullcontext,
        )
    return (
        saving_utils.model_from_config,
        legacy_h5_format.load_weights_from_hdf5_group,
        json_utils.decode,
        lambda: saving_options.keras_option_scope(use_legacy_config=True),
    )


def model_from_legacy_h5(config: dict, weights):
    """The model of a legacy Keras ``.h5`` file from its checked ``model_config``
    (``config``), built with Keras' legacy loader in safe mode (the plugin's layers given
    by name), then its weights read from ``weights``, the open file's ``model_weights``
    HDF5 group. Keras errors pass through (the caller names the file)."""
    keras = keras_module()
    from keras.src.saving import serialization_lib

    from_config, load_weights, decode, legacy_scope = _legacy_h5_api()
    if _is_keras3(keras) and isinstance(config.get("config"), dict):
        config = {**config, "config": {**config["config"], **_single_refs(config["config"])}}
    # the checked config, re-encoded: Keras reads exactly what was checked; safe mode
    # stays on as a second line (Keras then refuses Lambda code)
    with legacy_scope(), serialization_lib.SafeModeScope(True):
        model = from_config(decode(json.dumps(config)), custom_objects=project_layers())
    load_weights(weights, model)
    return model


# -- reading ----------------------------------------------------------------------------


def _keras_failure(where: str, exc: BaseException) -> LczError:
    return LczError(f"cannot load Keras model {where}: {first_line(exc)}")


def _keras_zip_parts(z: zipfile.ZipFile, weights: Path, where: str) -> dict:
    """The checked config of a ``.keras`` zip; its weights copied to ``weights``."""
    try:
        if not {"config.json", "model.weights.h5"} <= set(z.namelist()):
            raise LczError(
                f"{where} is not a Keras .keras model file (it needs config.json and "
                "model.weights.h5)"
            )
        # every size first: a bomb fails before any part is read
        safety.check_member(z.getinfo("config.json"), safety.MAX_CONFIG_BYTES, where)
        safety.check_member(z.getinfo("model.weights.h5"), safety.MAX_MODEL_BYTES, where)
        text = safety.read_member(z, "config.json", safety.MAX_CONFIG_BYTES, where)
        config = safety.parse_keras_config(text, where)
        with open(weights, "wb") as out:
            safety.copy_member(z, "model.weights.h5", out, safety.MAX_MODEL_BYTES, where)
    except (OSError, zipfile.BadZipFile, KeyError, *ZIP_DAMAGE) as exc:
        raise LczError(f"{where} is not a readable Keras model file ({first_line(exc)})") from None
    _check_h5_weights(weights, where)
    return config


def _deserialize(config: dict, weights: Path):
    """The network of a checked ``.keras`` config, built in safe mode, its weights read."""
    model = model_from_config(config)
    model.load_weights(str(weights))
    return model


def load_keras_file(p: Path, where: str | None = None):
    """The network of a ``.keras`` zip: its config checked by :mod:`..safety`, built in
    safe mode, then its weights loaded (from an extracted file: h5py reading them
    through Python's zip reader takes 15-20 s for a ResNet50).

    Raises:
        LczError: an unreadable, damaged or hostile file.
    """
    where = where or f"'{p.name}'"
    try:
        z = zipfile.ZipFile(p)
    except (OSError, zipfile.BadZipFile, *ZIP_DAMAGE) as exc:
        raise LczError(f"{where} is not a readable Keras model file ({first_line(exc)})") from None
    with z, tempfile.TemporaryDirectory() as d:
        weights = Path(d) / "model.weights.h5"
        config = _keras_zip_parts(z, weights, where)
        project_layers()
        try:
            return _deserialize(config, weights)
        except LczError:
            raise
        except Exception as exc:  # noqa: BLE001 - any Keras failure is a bad file for the user
            raise _keras_failure(where, exc) from None


def _check_h5_weights(path: Path, where: str) -> None:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            safety.check_h5_sizes(f, safety.MAX_MODEL_BYTES, where)
    except OSError as exc:
        raise LczError(f"{where}: its weights are not a readable HDF5 file ({exc})") from None


def _legacy_config(f, where: str) -> dict:
    """The checked ``model_config`` of an open legacy Keras ``.h5`` file."""
    if "model_config" not in f.attrs:
        if "layer_names" in f.attrs:
            raise LczError(
                f"{where} holds weights only, not a full Keras model; import it "
                "with `lcz import-pretrained` (lcz:importpretrained)"
            )
        raise LczError(f"{where} is an HDF5 file but not a Keras model")
    size = f.attrs.get_id("model_config").get_storage_size()
    if size > safety.MAX_CONFIG_BYTES:
        raise LczError(f"{where}: its Keras model config is {size} bytes; refusing it")
    text = f.attrs["model_config"]
    if not isinstance(text, (str, bytes)):
        raise LczError(f"{where}: its Keras model config is not text")
    config = safety.parse_keras_config(text, where)
    if "model_weights" not in f:
        raise LczError(f"{where} is a Keras model config without weights")
    safety.check_h5_sizes(f["model_weights"], safety.MAX_MODEL_BYTES, where)
    return config


def load_legacy_h5(p: Path):
    """The network of a legacy Keras ``.h5`` file: its ``model_config`` checked by
    :mod:`..safety`, the model built from the checked config, then its weights read.

    Raises:
        LczError: an unreadable, damaged or hostile file, or weights without a model.
    """
    import h5py

    where = f"'{p.name}'"
    try:
        with h5py.File(p, "r") as f:
            config = _legacy_config(f, where)
            project_layers()
            try:
                return model_from_legacy_h5(config, f["model_weights"])
            except Exception as exc:  # noqa: BLE001 - any Keras failure is a bad file
                raise _keras_failure(where, exc) from None
    except OSError as exc:
        raise LczError(f"cannot read '{p.name}' as a Keras .h5 model: {exc}") from None


def _load_plain(p: Path, where: str):
    """The checked network of a plain ``.keras`` or ``.h5`` file (no manifest)."""
    network = load_keras_file(p, where) if p.suffix.lower() == ".keras" else load_legacy_h5(p)
    _check_keras_output(where, network)
    if isinstance(network.input_shape, list):
        raise LczError(
            f"{where} has several inputs; the plugin needs one ({PATCH_SIZE},{PATCH_SIZE},C) input"
        )
    return network


def _check_keras_output(where: str, keras_model) -> None:
    """A Keras model must have one output of 17 classes (the LCZ codes 1..17)."""
    shape = keras_model.output_shape
    if isinstance(shape, list) or not shape:
        raise LczError(f"{where} has a Keras model with several outputs; it needs one")
    if shape[-1] != N_CLASSES:
        raise LczError(
            f"{where} has a Keras model with {shape[-1]} outputs; an LCZ model outputs "
            f"the probabilities of the {N_CLASSES} LCZ classes"
        )


__all__ = ["ENGINE", "GRAPH_MIN_PATCHES", "KerasEngine", "load_keras_file", "load_legacy_h5"]
