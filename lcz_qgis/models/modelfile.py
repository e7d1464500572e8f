"""Model files: ``.lczmodel`` (a zip of ``manifest.json`` plus the model member) and the
plain files an engine reads (a notebook's ``.keras``, a legacy ``.h5``).

This module is the file format only: the manifest (``new_manifest``, ``read_manifest``,
``check_manifest``), writing the zip, and ``load_model``, which checks the manifest and
hands the model member to the engine of its framework (:mod:`.engines`; loading never
executes code from the file: docs/security.md). The result is an ``LczModel``
(:mod:`.model`).

The manifest records the format version, model type, sensor, band list, preprocessing,
class codes, training data summary and scores, and library versions.
"""

from __future__ import annotations

import datetime as _dt
import json
import platform
import zipfile
from pathlib import Path

import numpy as np

from .. import __version__
from ..common.atomic import atomic_output
from ..common.bands import PATCH_SIZE, SENSORS, sensor_channels, sensor_for_channel_count
from ..common.enums import Framework, Sensor
from ..common.errors import LczError, MissingDependency, first_line, param
from ..common.legend import CODES, N_CLASSES
from . import onnx_export, onnx_safety, safety
from .engines import ZIP_DAMAGE, engine_class, installed, plain_framework
from .model import DEFAULT_BATCH, REDO, RUNTIMES, LczModel
from .onnx_safety import has_graph

__all__ = [
    "DEFAULT_BATCH", "FORMAT", "FORMAT_VERSION", "RUNTIMES", "LczModel", "check_manifest", "library_versions",
    "load_model", "manifest_summary", "model_file_filter", "new_manifest", "read_manifest",
    "runtime_framework",
    "save_keras_model", "save_network", "save_sklearn_model", "save_with_manifest",
]  # fmt: skip

FORMAT = "lczmodel"
FORMAT_VERSION = 1
SUFFIX = ".lczmodel"
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


# -- writing ----------------------------------------------------------------------------


# members that are zips themselves (a .keras file of float weights) or mostly float
# weights (a network's ONNX graph): deflating them saves little and costs ~5 s for a
# ResNet50; a forest's ONNX graph (node tables) deflates well
_STORED_MEMBERS = (".keras",)


def _write_zip(path, manifest: dict, members: dict[str, bytes]) -> Path:
    stored = {n for n in members if n.endswith(_STORED_MEMBERS)}
    if manifest.get("framework") == Framework.KERAS:
        stored.add(onnx_safety.MEMBER)
    with atomic_output(path) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("manifest.json", json.dumps(manifest, indent=2))
            for member, payload in members.items():
                kind = zipfile.ZIP_STORED if member in stored else zipfile.ZIP_DEFLATED
                z.writestr(member, payload, compress_type=kind)
    return Path(path)


def save_network(path, framework, network, manifest: dict, feedback=None) -> Path:
    """Write ``network`` (the framework's own model object) and its ``manifest`` to the
    ``.lczmodel`` ``path`` (atomically), as the member of ``framework``'s engine, with
    its ONNX graph when the converters are installed (:mod:`.onnx_export`: the
    manifest's ``onnx`` entry records the graph and its agreement, or why there is none).
    ``feedback``: told each step (a large forest's graph takes seconds to minutes)."""
    engine = engine_class(framework)
    if feedback is not None:
        feedback.info(f"model file: saving the {engine.label} model")
    payload = engine.dumps(network)
    manifest = {**manifest, "framework": engine.framework, "model_member": engine.member}
    if feedback is not None:
        feedback.info(f"model file: its ONNX graph ({len(payload) / 1e6:.0f} MB saved "
                      "so far): converting it and checking it against the model")  # fmt: skip
    graph, entry = onnx_export.graph_entry(engine.framework, network, manifest, payload)
    manifest["onnx"] = entry
    members = {engine.member: payload}
    if graph is not None:
        members[onnx_safety.MEMBER] = graph
    return _write_zip(path, manifest, members)


def save_sklearn_model(path, estimator, manifest: dict, feedback=None) -> Path:
    """Write a scikit-learn model (skops) and its manifest to the ``.lczmodel`` ``path``
    (``feedback``: told each step, as ``save_network``)."""
    return save_network(path, Framework.SKLEARN, estimator, manifest, feedback)


def save_keras_model(path, keras_model, manifest: dict) -> Path:
    """Write a Keras model (``.keras``) and its manifest to the ``.lczmodel`` ``path``."""
    return save_network(path, Framework.KERAS, keras_model, manifest)


def save_with_manifest(path, model: LczModel, manifest: dict) -> Path:
    """Write ``model`` with a new ``manifest`` to the ``.lczmodel`` ``path`` (atomically).

    A model read from an ``.lczmodel`` keeps its model member byte for byte (read back
    with its engine's size cap, :mod:`.safety`), and its ONNX graph with its ``onnx``
    entry when the new manifest keeps its bands and preprocessing; a file without a
    graph (or whose inputs change) gets one now where the converters are. A plain
    file's network is saved as its engine's member (``model.keras``), with a graph.
    """
    src = model.path
    if src is None or Path(src).suffix.lower() != SUFFIX:
        return save_network(path, model.framework, model.network, manifest)
    old = model.manifest
    framework = engine_class(old["framework"])
    members = {old["model_member"]: _read_member(src, old["model_member"], framework.member_bytes)}
    manifest = {**manifest, "framework": old["framework"], "model_member": old["model_member"]}
    same_inputs = all(manifest.get(k) == old.get(k) for k in ("bands", "preprocessing"))
    if has_graph(old) and same_inputs and _has_member(src, onnx_safety.MEMBER):
        members[onnx_safety.MEMBER] = _read_member(
            src, onnx_safety.MEMBER, onnx_safety.MAX_GRAPH_BYTES
        )
        manifest["onnx"] = old["onnx"]
    else:
        member = members[old["model_member"]]
        graph, manifest["onnx"] = onnx_export.graph_entry(
            framework.framework, model.network, manifest, member
        )
        if graph is not None:
            members[onnx_safety.MEMBER] = graph
    return _write_zip(path, manifest, members)


def _read_member(src, member: str, cap: int) -> bytes:
    """The bytes of ``member`` of the ``.lczmodel`` ``src``, at most ``cap`` of them."""
    where = f"'{Path(src).name}'"
    try:
        with zipfile.ZipFile(src) as z:
            return bytes(safety.read_member(z, member, cap, where))
    except (KeyError, zipfile.BadZipFile, OSError, *ZIP_DAMAGE) as exc:
        raise LczError(
            f"{where} is damaged: cannot read '{member[:40]}' ({first_line(exc)}); {REDO}"
        ) from None


# -- reading ----------------------------------------------------------------------------


def read_manifest(path) -> dict:
    """The manifest of an ``.lczmodel`` (size-capped, not yet checked: :func:`check_manifest`)."""
    p = Path(path)
    try:
        with zipfile.ZipFile(p) as z:
            text = safety.read_member(z, "manifest.json", safety.MAX_MANIFEST_BYTES, f"'{p.name}'")
        manifest = json.loads(text)
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError, OSError, *ZIP_DAMAGE) as exc:
        raise LczError(f"'{p.name}' is not a valid .lczmodel file ({first_line(exc)})") from None
    except UnicodeDecodeError:
        raise LczError(
            f"'{p.name}' is damaged: its manifest is not readable text; {REDO}"
        ) from None
    except RecursionError:
        raise LczError(f"'{p.name}' is damaged: its manifest is nested too deeply") from None
    if not isinstance(manifest, dict):
        raise LczError(f"'{p.name}' is damaged: its manifest is not a JSON object; {REDO}")
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
        return LczError(f"'{name}' has a damaged or edited manifest: {what}; {REDO}")

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
    if has_graph(manifest):
        onnx_safety.check_entry(manifest["onnx"], f"'{name}'")
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


def load_model(path, sensor: str | None = None, runtime: str = "auto") -> LczModel:
    """Load an ``.lczmodel``, or a plain file an engine reads (``.keras``, ``.h5``),
    checked so that nothing in it runs (docs/security.md). ``sensor``: for a plain file,
    the sensor (default: from its channel count). ``runtime`` (``RUNTIMES``): ``auto``
    runs the file's ONNX graph on ONNX Runtime when onnxruntime is installed and the
    file has one, otherwise its framework; ``onnx`` requires the graph and onnxruntime;
    ``tensorflow`` runs the model's own framework (TensorFlow/Keras, scikit-learn for a
    forest). Raises LczError for a damaged, edited or hostile file, or a runtime the
    file or the installed packages cannot give."""
    if runtime not in RUNTIMES:
        raise LczError(
            f"{param('RUNTIME', 'runtime')} is '{str(runtime)[:40]}'; use one of "
            f"{', '.join(RUNTIMES)}"
        )
    p = Path(path)
    if not p.exists():
        raise LczError(f"model file '{p}' does not exist")
    where = f"'{p.name}'"
    plain = plain_framework(p.suffix)
    if plain is not None:
        if runtime == "onnx":
            raise LczError(f"{where} is a plain {p.suffix} file without an ONNX graph; {UPGRADE}")
        return _plain_model(p, engine_class(plain).load(p, None, where), sensor)
    manifest = read_manifest(p)
    if manifest.get("format") != FORMAT:
        raise LczError(f"{where} is not an LCZ model file (no lczmodel manifest)")
    version = manifest.get("format_version", 0)
    # a newer plugin may add sensors or keys: say so before judging the manifest
    if isinstance(version, int) and version > FORMAT_VERSION:
        raise LczError(
            f"{where} was written by a newer plugin (format {version}); update the plugin"
        )
    check_manifest(manifest, p.name)
    if runtime == "tensorflow" and manifest.get("quantization") is not None:
        raise LczError(
            f"{where} is an int8 model (lcz quantize-model): it holds only its int8 ONNX "
            "graph, which runs on ONNX Runtime; use the runtime auto or onnx, or the float "
            "model file for TensorFlow"
        )
    engine = engine_class(manifest["framework"], where)
    member = manifest["model_member"]

    def framework_engine():
        try:
            return engine.load(_read_member(p, member, engine.member_bytes), manifest, where)
        except ImportError as exc:  # a framework module missing deep in the engine
            top = (exc.name or "").split(".")[0]
            purpose = f"Running {where} on {engine.label}"
            raise MissingDependency(PACKAGES.get(top, top or engine.label), purpose) from None

    if not _use_onnx(p, manifest, runtime, where):
        return LczModel(manifest, framework_engine(), p)
    onnx = engine_class(Framework.ONNX, where)
    graph = _read_member(p, onnx.member, onnx.member_bytes)
    return LczModel(manifest, onnx.load(graph, manifest, where), p, framework_engine)


def runtime_framework(path, runtime: str = "auto") -> Framework:
    """The ``Framework`` whose engine ``load_model(path, runtime=runtime)`` runs (what a
    process imports to predict with it: a Dask worker warming up), read from the
    manifest without loading the model. A file the manifest check would refuse gives
    its own framework (``load_model`` says what is wrong with it)."""
    p = Path(path)
    plain = plain_framework(p.suffix)
    if plain is not None:
        return plain
    if runtime == "onnx":
        return Framework.ONNX
    manifest = read_manifest(p)
    own = Framework(manifest.get("framework", Framework.SKLEARN))
    try:
        check_manifest(manifest, p.name)
        return Framework.ONNX if _use_onnx(p, manifest, runtime, f"'{p.name}'") else own
    except LczError:
        return own


# the pip package of a framework's top-level module, where the names differ
PACKAGES = {"sklearn": "scikit-learn", "tensorflow": "tensorflow-cpu", "skops": "skops"}
UPGRADE = "`lcz upgrade-model` adds one (or choose the tensorflow runtime)"


def _use_onnx(p: Path, manifest: dict, runtime: str, where: str) -> bool:
    """Whether the checked manifest's model of the file ``p`` runs on ONNX Runtime for
    ``runtime``. ``auto`` runs a file whose graph member is gone (a tool that rewrote
    the zip) on its framework, with that framework's own checks.

    A random forest whose graph gives whole votes (the entry's ``votes``: every leaf
    holds one class, as in the plugin's fully grown forests) runs on ONNX Runtime, whose
    rounded votes are scikit-learn's numbers bit for bit, without the seconds that
    importing scikit-learn and skops costs. ``auto`` keeps any other forest on
    scikit-learn where scikit-learn and skops are installed: a forest's probabilities
    often tie exactly (two classes with the same share of trees), and ONNX Runtime's
    float32 sums break such ties differently from scikit-learn's, so the map would change
    at those cells. Without them, such a forest runs on ONNX Runtime (probabilities
    within 1e-5; ties may fall the other way)."""
    if runtime == "tensorflow":
        return False
    graph = has_graph(manifest)
    if runtime == "onnx":
        if not graph:
            raise LczError(f"{where} has no ONNX graph; {UPGRADE}")
        return True  # the engine asks for onnxruntime; a missing member is damage
    votes = graph and manifest["onnx"].get("votes")
    if (
        manifest.get("framework") == Framework.SKLEARN
        and not votes
        and all(onnx_export.importable(m) for m in ("sklearn", "skops"))
    ):
        return False
    return graph and onnx_export.importable("onnxruntime") and _has_member(p, onnx_safety.MEMBER)


def _has_member(p: Path, member: str) -> bool:
    try:
        with zipfile.ZipFile(p) as z:
            return member in z.namelist()
    except (zipfile.BadZipFile, OSError, *ZIP_DAMAGE):
        return False


def _plain_model(p: Path, engine, sensor: str | None) -> LczModel:
    """The model of a plain file (no manifest): one (32, 32, C) input whose channel
    count fits ``sensor`` (default: the sensor with C channels); So2Sat scaling assumed."""
    shape = tuple(engine.input_shape)
    if shape[:2] != (PATCH_SIZE, PATCH_SIZE):
        raise LczError(
            f"'{p.name}' takes inputs of shape {shape}, expected ({PATCH_SIZE}, {PATCH_SIZE}, C)"
        )
    c = int(shape[-1])
    sensor = sensor or sensor_for_channel_count(c)
    n = len(sensor_channels(sensor))
    if c != n:
        raise LczError(f"a {sensor} model needs {n} input channels; '{p.name}' takes {c}")
    manifest = new_manifest(
        engine.framework.value,
        engine.framework,
        sensor,
        list(range(n)),
        source_file=p.name,
        scaling_assumed=True,
        notes=f"plain {engine.label} file without a manifest: So2Sat scaling is assumed, "
        "no normalisation",
    )
    return LczModel(manifest, engine, p)


def model_file_filter(label: str = "LCZ models") -> str:
    """The file dialog filter of model files: ``.lczmodel`` and every extension an
    installed engine reads, e.g. ``"LCZ models (*.lczmodel *.keras *.h5 *.hdf5)"``."""
    patterns = [f"*{SUFFIX}"] + [
        f"*{ext}" for framework in installed() for ext in engine_class(framework).extensions
    ]
    return f"{label} ({' '.join(patterns)})"


def manifest_summary(manifest: dict) -> str:
    """One line in words: the model type, its sensor and its bands, e.g. ``random forest
    model on Sentinel-2, 10 bands (B2, B3, ...)``."""
    from . import model_name

    try:
        sensor = Sensor(manifest["sensor"]).label
    except ValueError:
        sensor = str(manifest["sensor"])
    return (
        f"{model_name(manifest['model_type'])} model on {sensor}, "
        f"{manifest['input_channels']} bands ({', '.join(manifest['band_names'])})"
    )
