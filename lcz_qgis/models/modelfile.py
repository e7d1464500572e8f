"""Model files: ``.lczmodel`` (a zip of ``manifest.json`` plus the model) and plain Keras files.

Loading never executes code from the file: scikit-learn models are stored with skops
and loaded only when every type in them is a scikit-learn or numpy type; Keras models
are ``.keras`` files loaded with ``safe_mode=True`` (Lambda layers are refused).

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
from ..common.bands import SENSORS, sensor_channels, sensor_for_channel_count
from ..common.errors import LczError, require
from ..common.legend import CODES
from . import preprocessing

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
        return self.manifest["sensor"]

    @property
    def bands(self) -> list[int]:
        return list(self.manifest["bands"])

    @property
    def model_type(self) -> str:
        return self.manifest["model_type"]

    @property
    def input_channels(self) -> int:
        return int(self.manifest["input_channels"])

    def _check(self, patches: np.ndarray) -> np.ndarray:
        x = np.asarray(patches)
        if x.ndim != 4 or x.shape[1:3] != (32, 32):
            raise LczError(f"patches must have shape (N, 32, 32, C); got {x.shape}")
        if x.shape[-1] != self.input_channels:
            raise LczError(
                f"this {self.model_type} model takes {self.input_channels} channels "
                f"({', '.join(self.manifest['band_names'])}); the patches have {x.shape[-1]}"
            )
        return x.astype(np.float32, copy=False)

    def predict_proba(self, patches: np.ndarray, batch_size: int = 256) -> np.ndarray:
        x = self._check(patches)
        if len(x) == 0:
            return np.zeros((0, 17), np.float32)
        x = preprocessing.apply(x, self.manifest.get("preprocessing", []))
        return self._predict(x, batch_size).astype(np.float32, copy=False)

    def predict(self, patches: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """LCZ codes 1..17 (uint8)."""
        return (np.argmax(self.predict_proba(patches, batch_size), axis=1) + 1).astype(np.uint8)

    def _predict(self, x: np.ndarray, batch_size: int) -> np.ndarray:  # pragma: no cover
        raise NotImplementedError


class SklearnModel(LczModel):
    def __init__(self, manifest, estimator, path=None):
        super().__init__(manifest, path)
        self.estimator = estimator

    def _predict(self, x, batch_size):
        p = self.estimator.predict_proba(x)
        out = np.zeros((len(x), 17), np.float32)
        out[:, np.asarray(self.estimator.classes_, dtype=int) - 1] = p
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
        if p.shape[1] != 17:
            raise LczError(f"the Keras model outputs {p.shape[1]} classes, expected 17")
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
    sio = require("skops.io", "skops", "Saving a scikit-learn model")
    manifest = {**manifest, "framework": "sklearn", "model_member": "model.skops"}
    return _write_zip(path, manifest, "model.skops", sio.dumps(estimator))


def save_keras_model(path, keras_model, manifest: dict) -> Path:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "model.keras"
        keras_model.save(p)
        payload = p.read_bytes()
    manifest = {**manifest, "framework": "keras", "model_member": "model.keras"}
    return _write_zip(path, manifest, "model.keras", payload)


# -- reading ----------------------------------------------------------------------------

_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "builtins.")


def _load_skops(payload: bytes):
    sio = require("skops.io", "skops", "Loading a scikit-learn model")
    untrusted = sio.get_untrusted_types(data=payload)
    foreign = [t for t in untrusted if not t.startswith(_TRUSTED_PREFIXES)]
    if foreign:
        raise LczError(
            f"the model file holds types that are not scikit-learn's ({', '.join(foreign[:3])}); "
            "refusing to load it"
        )
    return sio.loads(payload, trusted=untrusted)


def _import_keras():
    tf = require("tensorflow", "tensorflow-cpu", "Keras models")
    # custom layers used by the project's models register themselves on import
    from . import register_custom_layers

    register_custom_layers()
    return tf.keras


def _deserialize_keras_zip(keras, p: Path):
    """Build the model from a ``.keras`` zip's config (safe mode) and load its weights.

    Same result as ``keras.models.load_model`` but reads the weights from an extracted
    file: h5py reading them through Python's zip reader takes 15-20 s for a ResNet50.
    """
    from keras.src.saving import serialization_lib

    with zipfile.ZipFile(p) as z, tempfile.TemporaryDirectory() as d:
        config = json.loads(z.read("config.json"))
        z.extract("model.weights.h5", d)
        with serialization_lib.SafeModeScope(True):
            model = serialization_lib.deserialize_keras_object(config, safe_mode=True)
        model.load_weights(str(Path(d) / "model.weights.h5"))
    return model


def _load_keras_file(p: Path):
    keras = _import_keras()
    try:
        with zipfile.ZipFile(p) as z:
            members = set(z.namelist())
        if {"config.json", "model.weights.h5"} <= members:
            return _deserialize_keras_zip(keras, p)
        return keras.models.load_model(p, compile=False, safe_mode=True)
    except ValueError as exc:
        msg = str(exc)
        if "Lambda" in msg or "safe_mode" in msg:
            raise LczError(
                f"'{p.name}' contains a Lambda layer or custom code, which is refused for "
                "safety (safe mode). Rebuild the model without Lambda layers."
            ) from None
        raise LczError(f"cannot load Keras model '{p.name}': {msg.splitlines()[0]}") from None
    except (OSError, zipfile.BadZipFile, KeyError, json.JSONDecodeError, *_ZIP_DAMAGE) as exc:
        raise LczError(
            f"'{p.name}' is not a readable Keras model file ({_first_line(exc)})"
        ) from None


def _load_legacy_h5(p: Path):
    import h5py

    try:
        with h5py.File(p, "r") as f:
            config = f.attrs.get("model_config")
            if config is None:
                if "layer_names" in f.attrs:
                    raise LczError(
                        f"'{p.name}' holds weights only, not a full Keras model; import it "
                        "with `lcz import-pretrained` (lcz:importpretrained)"
                    )
                raise LczError(f"'{p.name}' is an HDF5 file but not a Keras model")
    except OSError as exc:
        raise LczError(f"cannot read '{p.name}' as a Keras .h5 model: {exc}") from None
    if isinstance(config, bytes):
        config = config.decode()
    if '"Lambda"' in config:
        raise LczError(
            f"'{p.name}' contains a Lambda layer (Python code), which is refused for safety"
        )
    keras = _import_keras()
    try:
        return keras.models.load_model(p, compile=False)
    except Exception as exc:  # noqa: BLE001 - any Keras failure is a bad file for the user
        raise LczError(f"cannot load Keras model '{p.name}': {str(exc).splitlines()[0]}") from None


def _plain_keras(p: Path, keras_model, sensor: str | None) -> KerasModel:
    shape = keras_model.input_shape
    if isinstance(shape, list):
        raise LczError(f"'{p.name}' has several inputs; the plugin needs one (32,32,C) input")
    if tuple(shape[1:3]) != (32, 32):
        raise LczError(f"'{p.name}' takes inputs of shape {shape[1:]}, expected (32, 32, C)")
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def read_manifest(path) -> dict:
    p = Path(path)
    try:
        with zipfile.ZipFile(p) as z:
            manifest = json.loads(z.read("manifest.json"))
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, OSError, *_ZIP_DAMAGE) as exc:
        raise LczError(f"'{p.name}' is not a valid .lczmodel file ({_first_line(exc)})") from None
    except UnicodeDecodeError:
        raise LczError(
            f"'{p.name}' is damaged: its manifest is not readable text; {_REDO}"
        ) from None
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


def _check_model_input(manifest: dict, name: str, model_input: tuple, what: str) -> None:
    """Run the manifest's preprocessing on one blank patch of its bands and check the
    result has the shape the model takes (``model_input``, without the batch axis; None
    matches any size)."""
    n = len(manifest["bands"])
    x = np.zeros((1, 32, 32, n), np.float32)
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = tuple(preprocessing.apply(x, manifest.get("preprocessing", [])).shape[1:])
    except Exception as exc:  # noqa: BLE001 - any failure means the manifest does not fit
        raise LczError(
            f"'{name}' has a damaged or edited manifest: its preprocessing fails on its "
            f"{n} {manifest['sensor']} bands ({_first_line(exc)}); {_REDO}"
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
    try:
        with zipfile.ZipFile(p) as z:
            payload = z.read(member)
    except (KeyError, zipfile.BadZipFile, OSError, *_ZIP_DAMAGE) as exc:
        raise LczError(
            f"'{p.name}' is damaged: cannot read '{member}' ({_first_line(exc)}); {_REDO}"
        ) from None
    if framework == "sklearn":
        try:
            est = _load_skops(payload)
        except LczError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise LczError(f"'{p.name}' is damaged: {_first_line(exc)}; {_REDO}") from None
        n_features = getattr(est, "n_features_in_", None)
        if n_features is not None:
            _check_model_input(manifest, p.name, (int(n_features),), "the model")
        return SklearnModel(manifest, est, p)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d) / "model.keras"
        tmp.write_bytes(payload)
        km = _load_keras_file(tmp)
    shape = km.input_shape
    if isinstance(shape, list):
        raise LczError(f"'{p.name}' has a Keras model with several inputs; it needs one")
    _check_model_input(manifest, p.name, tuple(shape[1:]), "the Keras model")
    return KerasModel(manifest, km, p)


def manifest_summary(manifest: dict) -> str:
    return (
        f"{manifest['model_type']} model, sensor {manifest['sensor']}, "
        f"{manifest['input_channels']} channels ({', '.join(manifest['band_names'])})"
    )
