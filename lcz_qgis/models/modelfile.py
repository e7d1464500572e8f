"""Model files: ``.lczmodel`` (a zip of ``manifest.json`` plus the model) and plain Keras files.

Loading never executes code from the file (docs/security.md): before skops or Keras
reads anything, :mod:`lcz_qgis.models.safety` checks every zip member's size, every type
in a skops model against the exact types a random forest needs, and every object of a
Keras config against an allow-list of layers (Lambda layers and Python code refused);
Keras models are then built in safe mode. After loading, a forest's classes must be the
LCZ codes its manifest declares and a Keras model must output the 17 classes.

The manifest records the format version, model type, sensor, band list, preprocessing,
class codes, training data summary and scores, and library versions.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import tempfile
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np

from .. import __version__
from ..common.aligned_arrays import shared_tensor
from ..common.atomic import atomic_output
from ..common.bands import PATCH_SIZE, SENSORS, sensor_channels, sensor_for_channel_count
from ..common.errors import LczError, first_line, require
from ..common.legend import CODES, N_CLASSES
from . import calibration, preprocessing, safety

FORMAT = "lczmodel"
FORMAT_VERSION = 1
SO2SAT_SCALING = (
    "So2Sat LCZ42 scale: Sentinel-2 reflectance (DN / 10000, So2Sat band order), "
    "Sentinel-1 linear backscatter in So2Sat's channel meanings"
)


def library_versions() -> dict:
    """Versions of the libraries a model depends on, read from package metadata (no imports)."""
    from importlib import metadata

    versions = {
        "lcz_qgis": __version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    for dist in ("scikit-learn", "skops", "tensorflow-cpu", "tensorflow", "keras", "h5py"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return versions


def new_manifest(model_type: str, framework: str, sensor: str, bands: list[int], **extra) -> dict:
    """A manifest for a new model: format, sensor, ``bands`` (indices into the sensor's
    channels) with their names, no preprocessing, codes 1..17, library versions; plus
    ``extra`` keys."""
    names = sensor_channels(sensor)
    m = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_type": model_type,
        "framework": framework,
        "sensor": sensor,
        "bands": [int(b) for b in bands],
        "band_names": [names[b] for b in bands],
        "input_channels": len(bands),
        "scaling": SO2SAT_SCALING,
        "preprocessing": [],
        "classes": list(CODES),
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "library_versions": library_versions(),
    }
    m.update(extra)
    return m


# Keras calls predicting at least this many patches run as a traced graph function
GRAPH_MIN_PATCHES = 4096


class LczModel:
    """A loaded model: ``manifest`` and ``predict_proba(patches) -> (N,17)``."""

    def __init__(self, manifest: dict, path: Path | None = None):
        self.manifest = manifest
        self.path = path

    def prepare_many(self, n: int) -> None:
        """Announce ``predict_proba`` calls on about ``n`` patches in all (classification,
        evaluation), so the model can get ready for throughput."""

    @property
    def sensor(self) -> str:
        """The sensor the model takes (``sen2``, ``sen1``, ``fusion``)."""
        return self.manifest["sensor"]

    @property
    def bands(self) -> list[int]:
        """The sensor channels the model takes, as indices."""
        return list(self.manifest["bands"])

    @property
    def model_type(self) -> str:
        """The model type of the manifest (``rf``, ``mlp``, ...)."""
        return self.manifest["model_type"]

    @property
    def input_channels(self) -> int:
        """How many channels a patch given to ``predict_proba`` has."""
        return int(self.manifest["input_channels"])

    def _check(self, patches: np.ndarray) -> np.ndarray:
        x = np.asarray(patches)
        if x.ndim != 4 or x.shape[1:3] != (PATCH_SIZE, PATCH_SIZE):
            raise LczError(
                f"patches must have shape (N, {PATCH_SIZE}, {PATCH_SIZE}, C); got {x.shape}"
            )
        if x.shape[-1] != self.input_channels:
            raise LczError(
                f"this {self.model_type} model takes {self.input_channels} channels "
                f"({', '.join(self.manifest['band_names'])}); the patches have {x.shape[-1]}"
            )
        return x.astype(np.float32, copy=False)

    @property
    def temperature(self) -> float | None:
        """The temperature of the manifest's ``calibration`` (temperature scaling), or None
        for an uncalibrated model."""
        entry = self.manifest.get("calibration")
        return float(entry["temperature"]) if entry else None

    def predict_proba(
        self, patches: np.ndarray, batch_size: int = 256, calibrated: bool = True
    ) -> np.ndarray:
        """Probabilities (N, 17) of the LCZ codes 1..17 for patches (N, 32, 32, C) in So2Sat
        scale, after the manifest's preprocessing; with a ``calibration`` in the manifest
        (and ``calibrated``), temperature-scaled (``calibration.apply_temperature``: the
        argmax is unchanged)."""
        x = self._check(patches)
        if len(x) == 0:
            return np.zeros((0, N_CLASSES), np.float32)
        x = preprocessing.apply(x, self.manifest.get("preprocessing", []))
        p = self._predict(x, batch_size).astype(np.float32, copy=False)
        t = self.temperature if calibrated else None
        return p if t is None else calibration.apply_temperature(p, t)

    def predict(self, patches: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """LCZ codes 1..17 (uint8)."""
        return (np.argmax(self.predict_proba(patches, batch_size), axis=1) + 1).astype(np.uint8)

    def _predict(self, x: np.ndarray, batch_size: int) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


class SklearnModel(LczModel):
    """A scikit-learn classifier; ``codes`` are the LCZ codes (1..17) of its
    ``classes_``, in order (by default the classes themselves)."""

    def __init__(self, manifest, estimator, path=None, codes=None):
        super().__init__(manifest, path)
        self.estimator = estimator
        if codes is None:
            codes = np.asarray(estimator.classes_, dtype=int)
        self.codes = np.asarray(codes, dtype=int)

    def _predict(self, x, batch_size):
        p = self.estimator.predict_proba(x)
        out = np.zeros((len(x), N_CLASSES), np.float32)
        out[:, self.codes - 1] = p
        return out


class KerasModel(LczModel):
    """A Keras model. When at least ``GRAPH_MIN_PATCHES`` patches are announced
    (``prepare_many``) or given in one call, batches run through a traced graph function
    rather than eager calls: 1.2x (MLP) to 1.7x (Sen2LCZ-Net) faster on 2 cores, after a one-off
    trace (0.1 s for the MLP, 2 s for ResNet50). Small one-off calls stay eager."""

    def __init__(self, manifest, keras_model, path=None):
        super().__init__(manifest, path)
        self.keras_model = keras_model
        self._many = False
        self._graph = None

    def prepare_many(self, n: int) -> None:
        self._many = self._many or n >= GRAPH_MIN_PATCHES

    def _graph_function(self, x: np.ndarray):
        if self._graph is None:
            import tensorflow as tf

            model = self.keras_model
            self._graph = tf.function(
                lambda t: model(t, training=False),
                input_signature=[tf.TensorSpec((None, *x.shape[1:]), tf.as_dtype(x.dtype))],
            )
        return self._graph

    def _predict(self, x, batch_size):
        import tensorflow as tf

        x = x.astype(np.float32, copy=False)
        if self._many or len(x) >= GRAPH_MIN_PATCHES:
            call = self._graph_function(x)
        else:
            model = self.keras_model

            def call(b):
                return model(b, training=False)

        out = []
        for start in range(0, len(x), batch_size):
            # aligned batches (classification's windows) go to TensorFlow without a copy
            batch = shared_tensor(tf, x[start : start + batch_size])
            out.append(np.asarray(call(batch)))
        p = np.concatenate(out)
        if p.shape[1] != N_CLASSES:
            raise LczError(f"the Keras model outputs {p.shape[1]} classes, expected {N_CLASSES}")
        return p


# -- writing ----------------------------------------------------------------------------


def _write_zip(path, manifest: dict, member: str, payload: bytes) -> Path:
    with atomic_output(path) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("manifest.json", json.dumps(manifest, indent=2))
            # a .keras member is itself a zip of float weights: deflating it again saves
            # little and costs ~5 s for a ResNet50
            kind = zipfile.ZIP_STORED if member.endswith(".keras") else zipfile.ZIP_DEFLATED
            z.writestr(member, payload, compress_type=kind)
    return Path(path)


def save_sklearn_model(path, estimator, manifest: dict) -> Path:
    """Write a scikit-learn model (skops) and its manifest to the ``.lczmodel`` ``path``."""
    sio = require("skops.io", "skops", "Saving a scikit-learn model")
    manifest = {**manifest, "framework": "sklearn", "model_member": "model.skops"}
    return _write_zip(path, manifest, "model.skops", sio.dumps(estimator))


def save_keras_model(path, keras_model, manifest: dict) -> Path:
    """Write a Keras model (``.keras``) and its manifest to the ``.lczmodel`` ``path``."""
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "model.keras"
        keras_model.save(p)
        payload = p.read_bytes()
    manifest = {**manifest, "framework": "keras", "model_member": "model.keras"}
    return _write_zip(path, manifest, "model.keras", payload)


def save_with_manifest(path, model: LczModel, manifest: dict) -> Path:
    """Write ``model`` with a new ``manifest`` to the ``.lczmodel`` ``path`` (atomically).

    A model read from an ``.lczmodel`` keeps its model member byte for byte (read back
    with the size caps of :mod:`.safety`); a plain Keras file's network is saved as
    ``model.keras``.
    """
    src = model.path
    if src is not None and Path(src).suffix.lower() == ".lczmodel":
        member = model.manifest["model_member"]
        cap = safety.MAX_FOREST_BYTES if member.endswith(".skops") else safety.MAX_MODEL_BYTES
        try:
            with zipfile.ZipFile(src) as z:
                payload = safety.read_member(z, member, cap, f"'{Path(src).name}'")
        except (KeyError, zipfile.BadZipFile, OSError, *_ZIP_DAMAGE) as exc:
            raise LczError(f"cannot read '{Path(src).name}' again ({first_line(exc)})") from None
        return _write_zip(path, manifest, member, bytes(payload))
    if isinstance(model, KerasModel):
        return save_keras_model(path, model.keras_model, manifest)
    return save_sklearn_model(path, model.estimator, manifest)


# -- reading ----------------------------------------------------------------------------


def _load_skops(payload: bytes, where: str):
    """The estimator in a skops file, after :func:`safety.check_skops` has checked every
    type in it (skops is given exactly those types as trusted)."""
    trusted = safety.check_skops(payload, where)
    sio = require("skops.io", "skops", "Loading a scikit-learn model")
    est = sio.loads(payload, trusted=trusted)
    kind = f"{type(est).__module__}.{type(est).__name__}"
    if kind not in safety.SKOPS_ESTIMATORS:
        raise LczError(f"{where}: the scikit-learn model is a {kind}, not a random forest")
    return est


def _import_keras():
    tf = require("tensorflow", "tensorflow-cpu", "Keras models")
    # custom layers used by the project's models register themselves on import
    from . import register_custom_layers

    register_custom_layers()
    return tf.keras


def _project_layers(keras) -> dict:
    """The plugin's registered layers by registered name (``safety.PROJECT_LAYERS``)."""
    found = {n: keras.saving.get_registered_object(n) for n in safety.PROJECT_LAYERS}
    missing = [n for n, obj in found.items() if obj is None]
    if missing:
        raise LczError(f"the plugin's Keras layers {', '.join(missing)} are not registered")
    return found


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
    except (OSError, zipfile.BadZipFile, KeyError, *_ZIP_DAMAGE) as exc:
        raise LczError(f"{where} is not a readable Keras model file ({first_line(exc)})") from None
    _check_h5_weights(weights, where)
    return config


def _load_keras_file(p: Path, where: str | None = None):
    """A ``.keras`` zip: its config checked by :mod:`.safety`, built in safe mode, then
    its weights loaded (from an extracted file: h5py reading them through Python's zip
    reader takes 15-20 s for a ResNet50)."""
    where = where or f"'{p.name}'"
    try:
        z = zipfile.ZipFile(p)
    except (OSError, zipfile.BadZipFile, *_ZIP_DAMAGE) as exc:
        raise LczError(f"{where} is not a readable Keras model file ({first_line(exc)})") from None
    with z, tempfile.TemporaryDirectory() as d:
        weights = Path(d) / "model.weights.h5"
        config = _keras_zip_parts(z, weights, where)
        keras = _import_keras()
        _project_layers(keras)
        from keras.src.saving import serialization_lib

        try:
            with serialization_lib.SafeModeScope(True):
                model = serialization_lib.deserialize_keras_object(config, safe_mode=True)
            model.load_weights(str(weights))
        except LczError:
            raise
        except Exception as exc:  # noqa: BLE001 - any Keras failure is a bad file for the user
            raise _keras_failure(where, exc) from None
    return model


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


def _load_legacy_h5(p: Path):
    """A legacy Keras ``.h5`` model: its ``model_config`` checked by :mod:`.safety`, the
    model built from the checked config, then its weights read."""
    import h5py

    where = f"'{p.name}'"
    try:
        with h5py.File(p, "r") as f:
            config = _legacy_config(f, where)
            custom = _project_layers(_import_keras())
            from keras.src.saving import serialization_lib
            from keras.src.saving.legacy import model_config as legacy_config
            from keras.src.saving.legacy.hdf5_format import load_weights_from_hdf5_group
            from keras.src.saving.legacy.saved_model import json_utils

            try:
                # the checked config, re-encoded: Keras reads exactly what was checked;
                # safe mode stays on as a second line (Keras then refuses Lambda code)
                with serialization_lib.SafeModeScope(True):
                    model = legacy_config.model_from_config(
                        json_utils.decode(json.dumps(config)), custom_objects=custom
                    )
                load_weights_from_hdf5_group(f["model_weights"], model)
            except Exception as exc:  # noqa: BLE001 - any Keras failure is a bad file
                raise _keras_failure(where, exc) from None
    except OSError as exc:
        raise LczError(f"cannot read '{p.name}' as a Keras .h5 model: {exc}") from None
    return model


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


def _codes_text(values) -> str:
    v = sorted({int(x) for x in values})
    if len(v) > 2 and v == list(range(v[0], v[-1] + 1)):
        return f"{v[0]}..{v[-1]}"
    return ", ".join(map(str, v[:20])) + (" ..." if len(v) > 20 else "")


def _sklearn_codes(est, manifest: dict, where: str) -> np.ndarray:
    """The LCZ codes of a forest's ``classes_``: they must be classes the manifest
    declares (codes 1..17; classes 0..16 when it declares 0-based labels, codes = class
    + 1)."""
    arr = np.asarray(getattr(est, "classes_", []))
    if arr.ndim != 1 or arr.size == 0 or arr.dtype.kind not in "iuf":
        raise LczError(f"{where}: the random forest's classes are not LCZ codes; {_REDO}")
    if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
        raise LczError(f"{where}: the random forest's classes are not whole numbers; {_REDO}")
    declared = [int(c) for c in manifest.get("classes", CODES)]
    offset = 1 if 0 in declared else 0
    found = arr.astype(int)
    undeclared = sorted(set(found.tolist()) - set(declared))
    if undeclared:
        hint = " (trained on 0-based labels? LCZ codes run 1..17)" if found.min() == 0 else ""
        raise LczError(
            f"{where}: the random forest predicts classes {_codes_text(found)} but its "
            f"manifest declares {_codes_text(declared)}: {_codes_text(undeclared)} are not "
            f"LCZ codes of this model{hint}; {_REDO}"
        )
    return found + offset


def _plain_keras(p: Path, keras_model, sensor: str | None) -> KerasModel:
    _check_keras_output(f"'{p.name}'", keras_model)
    shape = keras_model.input_shape
    if isinstance(shape, list):
        raise LczError(
            f"'{p.name}' has several inputs; the plugin needs one "
            f"({PATCH_SIZE},{PATCH_SIZE},C) input"
        )
    if tuple(shape[1:3]) != (PATCH_SIZE, PATCH_SIZE):
        raise LczError(
            f"'{p.name}' takes inputs of shape {shape[1:]}, expected "
            f"({PATCH_SIZE}, {PATCH_SIZE}, C)"
        )
    c = int(shape[-1])
    sensor = sensor or sensor_for_channel_count(c)
    n = len(sensor_channels(sensor))
    if c != n:
        raise LczError(f"a {sensor} model needs {n} input channels; '{p.name}' takes {c}")
    manifest = new_manifest(
        "keras",
        "keras",
        sensor,
        list(range(n)),
        source_file=p.name,
        scaling_assumed=True,
        notes="plain Keras file without a manifest: So2Sat scaling is assumed, no normalisation",
    )
    return KerasModel(manifest, keras_model, p)


# what reading a damaged zip member raises besides BadZipFile (e.g. 'Bad CRC-32') and
# OSError: corrupted deflate data, a cut-off member, an unknown compression method
_ZIP_DAMAGE = (zlib.error, EOFError, NotImplementedError)
_REDO = "re-export or re-train the model"


def read_manifest(path) -> dict:
    """The manifest of an ``.lczmodel`` (size-capped, not yet checked: :func:`check_manifest`)."""
    p = Path(path)
    try:
        with zipfile.ZipFile(p) as z:
            text = safety.read_member(z, "manifest.json", safety.MAX_MANIFEST_BYTES, f"'{p.name}'")
        manifest = json.loads(text)
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, OSError, *_ZIP_DAMAGE) as exc:
        raise LczError(f"'{p.name}' is not a valid .lczmodel file ({first_line(exc)})") from None
    except UnicodeDecodeError:
        raise LczError(
            f"'{p.name}' is damaged: its manifest is not readable text; {_REDO}"
        ) from None
    except RecursionError:
        raise LczError(f"'{p.name}' is damaged: its manifest is nested too deeply") from None
    if not isinstance(manifest, dict):
        raise LczError(f"'{p.name}' is damaged: its manifest is not a JSON object; {_REDO}")
    return manifest


_REQUIRED = {
    "model_type": str,
    "framework": str,
    "model_member": str,
    "sensor": str,
    "bands": list,
    "band_names": list,
    "input_channels": int,
}
_KIND_WORDS = {str: "text", list: "list", int: "whole number"}


def check_manifest(manifest: dict, name: str) -> None:
    """Raise LczError when a model manifest (``name`` is the file's name) is missing keys
    or its sensor, bands, band names and channel count do not agree."""

    def bad(what: str) -> LczError:
        return LczError(f"'{name}' has a damaged or edited manifest: {what}; {_REDO}")

    if not isinstance(manifest, dict):
        raise bad("it is not a JSON object")
    missing = [k for k in _REQUIRED if k not in manifest]
    if missing:
        raise bad(f"'{', '.join(missing)}' missing")
    for key, kind in _REQUIRED.items():
        value = manifest[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise bad(f"'{key}' is {json.dumps(value)[:40]}, not a {_KIND_WORDS[kind]}")
        if value in ("", []):
            raise bad(f"'{key}' is empty")
    try:
        int(manifest.get("format_version", 0))
    except (TypeError, ValueError):
        raise bad(
            f"format_version {json.dumps(manifest['format_version'])[:40]} is not a number"
        ) from None
    sensor = manifest["sensor"]
    if sensor not in SENSORS:
        raise bad(f"unknown sensor '{sensor[:40]}' (use {', '.join(SENSORS)})")
    names = sensor_channels(sensor)
    bands = manifest["bands"]
    if not all(isinstance(b, int) and not isinstance(b, bool) for b in bands):
        raise bad(f"bands {json.dumps(bands)[:60]} are not all whole numbers")
    out = [b for b in bands if not 0 <= b < len(names)]
    if out:
        raise bad(f"bands {out[:5]} are out of range for {sensor} (0-{len(names) - 1})")
    if len(set(bands)) != len(bands):
        raise bad(f"bands {bands} repeat a band")
    if manifest["input_channels"] != len(bands):
        raise bad(f"input_channels is {manifest['input_channels']} but it lists {len(bands)} bands")
    if manifest["band_names"] != [names[b] for b in bands]:
        raise bad(f"band_names do not match {sensor} bands {bands}")
    steps = manifest.get("preprocessing", [])
    if not isinstance(steps, list) or not all(
        isinstance(s, dict) and isinstance(s.get("type"), str) for s in steps
    ):
        raise bad("'preprocessing' is not a list of steps")
    for i, step in enumerate(steps, 1):
        for key, value in step.items():
            what = _bad_numbers(value, key == "std")
            if what:
                raise bad(f"preprocessing step {i} ('{step['type'][:40]}') has {what} in '{key}'")
    if manifest.get("calibration") is not None:
        safety.check_calibration(manifest["calibration"], f"'{name}'")
    classes = manifest.get("classes", list(CODES))
    if not _lcz_classes(classes):
        raise bad(
            f"'classes' {json.dumps(classes)[:60]} are not distinct LCZ codes 1..17 "
            "(or 0..16 for 0-based labels)"
        )


def _lcz_classes(classes) -> bool:
    """True for a list of distinct whole numbers within 1..17, or within 0..16."""
    if not isinstance(classes, list) or not classes:
        return False
    if not all(isinstance(c, int) and not isinstance(c, bool) for c in classes):
        return False
    values = set(classes)
    return len(values) == len(classes) and (values <= set(CODES) or values <= set(range(N_CLASSES)))


def _bad_numbers(value, std: bool) -> str | None:
    """What is wrong with the numbers in a preprocessing parameter: NaN or infinite
    values anywhere, negative values in a standard deviation (a std of 0 is valid: the
    channel is only centred, as for a constant training channel); None when nothing is."""
    stack = [value]
    while stack:
        v = stack.pop()
        if isinstance(v, (list, tuple)):
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            if not np.isfinite(v):
                return f"a non-finite number ({v})"
            if std and v < 0:
                return f"a negative standard deviation ({v})"
    return None


def _check_model_input(manifest: dict, name: str, model_input: tuple, what: str) -> None:
    """Run the manifest's preprocessing on one blank patch of its bands and check the
    result has the shape the model takes (``model_input``, without the batch axis; None
    matches any size)."""
    n = len(manifest["bands"])
    x = np.zeros((1, PATCH_SIZE, PATCH_SIZE, n), np.float32)
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = tuple(preprocessing.apply(x, manifest.get("preprocessing", [])).shape[1:])
    except Exception as exc:  # noqa: BLE001 - any failure means the manifest does not fit
        raise LczError(
            f"'{name}' has a damaged or edited manifest: its preprocessing fails on its "
            f"{n} {manifest['sensor']} bands ({first_line(exc)}); {_REDO}"
        ) from None
    want = tuple(model_input)
    fits = len(got) == len(want) and all(w is None or w == g for g, w in zip(got, want))
    if not fits:
        shown = "x".join("?" if w is None else str(w) for w in want)
        raise LczError(
            f"'{name}' does not fit together: its manifest's {n} {manifest['sensor']} bands "
            f"give {'x'.join(map(str, got))} inputs but {what} takes {shown}; {_REDO}"
        )


def load_model(path, sensor: str | None = None) -> LczModel:
    """Load an ``.lczmodel``, ``.keras`` or ``.h5`` model file, checked so that nothing in
    it runs (docs/security.md). ``sensor``: for a plain Keras file, the sensor (default:
    from its channel count). Raises LczError for a damaged, edited or hostile file."""
    p = Path(path)
    if not p.exists():
        raise LczError(f"model file '{p}' does not exist")
    suffix = p.suffix.lower()
    if suffix == ".keras":
        return _plain_keras(p, _load_keras_file(p), sensor)
    if suffix in (".h5", ".hdf5"):
        return _plain_keras(p, _load_legacy_h5(p), sensor)
    manifest = read_manifest(p)
    if manifest.get("format") != FORMAT:
        raise LczError(f"'{p.name}' is not an LCZ model file (no lczmodel manifest)")
    version = manifest.get("format_version", 0)
    # a newer plugin may add sensors or keys: say so before judging the manifest
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise LczError(
            f"'{p.name}' was written by a newer plugin (format {version}); update the plugin"
        )
    check_manifest(manifest, p.name)
    framework = manifest["framework"]
    if framework not in ("sklearn", "keras"):
        raise LczError(f"'{p.name}': unknown framework '{framework[:40]}'")
    member = manifest["model_member"]
    where = f"'{p.name}'"
    try:
        with zipfile.ZipFile(p) as z:
            cap = safety.MAX_FOREST_BYTES if framework == "sklearn" else safety.MAX_MODEL_BYTES
            payload = safety.read_member(z, member, cap, where)
    except (KeyError, zipfile.BadZipFile, OSError, *_ZIP_DAMAGE) as exc:
        raise LczError(
            f"'{p.name}' is damaged: cannot read '{member}' ({first_line(exc)}); {_REDO}"
        ) from None
    if framework == "sklearn":
        return _sklearn_model(manifest, payload, p)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d) / "model.keras"
        tmp.write_bytes(payload)
        del payload
        km = _load_keras_file(tmp, f"'{p.name}' (its {member[:40]})")
    shape = km.input_shape
    if isinstance(shape, list):
        raise LczError(f"'{p.name}' has a Keras model with several inputs; it needs one")
    _check_keras_output(where, km)
    _check_model_input(manifest, p.name, tuple(shape[1:]), "the Keras model")
    return KerasModel(manifest, km, p)


def _check_trees(est, where: str) -> None:
    """Every tree of a loaded forest must be well formed before anything predicts with
    it: scikit-learn walks the node arrays in C without bound checks, so a child index
    out of range or pointing back (a loop), or a feature out of range, would read out of
    memory or never end."""
    from sklearn.tree._tree import Tree

    trees = est.estimators_ if hasattr(est, "estimators_") else [est]
    n_features = getattr(est, "n_features_in_", None)
    if not isinstance(trees, list) or not trees or not isinstance(n_features, int):
        raise LczError(f"{where}: the random forest was never trained; {_REDO}")
    for k, tree in enumerate(trees):
        t = getattr(tree, "tree_", None)
        if not isinstance(t, Tree) or t.n_features != n_features or t.n_outputs != 1:
            raise LczError(f"{where} is damaged: tree {k} does not fit the forest; {_REDO}")
        n = int(t.node_count)
        left, right, feature = t.children_left, t.children_right, t.feature
        index = np.arange(n)
        leaf = (left == -1) & (right == -1)
        inner = (left > index) & (left < n) & (right > index) & (right < n)
        inner &= (feature >= 0) & (feature < n_features)
        if n < 1 or not np.all(leaf | inner) or t.value.shape[:2] != (n, 1):
            raise LczError(f"{where} is damaged: tree {k} has nodes out of range; {_REDO}")


def _sklearn_model(manifest: dict, payload: bytes, p: Path) -> SklearnModel:
    """The random forest of an ``.lczmodel``: types checked, classes mapped to LCZ codes,
    inputs fitting the manifest, one blank patch predicted."""
    where = f"'{p.name}'"
    try:
        est = _load_skops(payload, where)
    except LczError:
        raise
    except Exception as exc:  # noqa: BLE001 - any skops failure is a damaged file
        raise LczError(f"'{p.name}' is damaged: {first_line(exc)}; {_REDO}") from None
    codes = _sklearn_codes(est, manifest, where)
    _check_trees(est, where)
    n_features = getattr(est, "n_features_in_", None)
    if n_features is not None:
        _check_model_input(manifest, p.name, (int(n_features),), "the model")
    model = SklearnModel(manifest, est, p, codes)
    x = np.zeros((1, PATCH_SIZE, PATCH_SIZE, model.input_channels), np.float32)
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = model.predict_proba(x)
    except Exception as exc:  # noqa: BLE001 - any failure means the forest is damaged
        raise LczError(
            f"{where} is damaged: its random forest fails ({first_line(exc)}); {_REDO}"
        ) from None
    if out.shape != (1, N_CLASSES):
        raise LczError(f"{where} is damaged: its random forest gives {out.shape[1:]} outputs")
    return model


def manifest_summary(manifest: dict) -> str:
    """One line: model type, sensor, channels."""
    return (
        f"{manifest['model_type']} model, sensor {manifest['sensor']}, "
        f"{manifest['input_channels']} channels ({', '.join(manifest['band_names'])})"
    )
