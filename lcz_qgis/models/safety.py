"""What a model file may contain, checked before anything in it is deserialized.

A model file comes from someone else, so nothing in it may run code. This module holds
the allow-lists and the checks that :mod:`lcz_qgis.models.modelfile` runs on a file's parts
*before* skops or Keras sees them (docs/security.md):

- size caps: every zip member read (the ``.lczmodel`` zip, the ``.keras`` zip inside it
  or on its own) is checked against a cap on its declared size and on its compression
  ratio, then read with a bounded reader, so a zip bomb fails at once; the members of
  a skops zip, which skops reads itself, must be stored uncompressed; Keras weights'
  HDF5 datasets are capped by their declared shapes;
- skops: every node of the skops schema (``schema.json``) must be one of the exact
  ``(loader, type)`` pairs a scikit-learn random forest needs (:data:`SKOPS_TYPES`); no
  prefix wildcards, nothing else, whatever skops itself trusts by default;
- calibration: a manifest's ``calibration`` entry (temperature scaling) must be exactly
  the keys the plugin writes, with a finite temperature within
  :data:`MIN_TEMPERATURE` .. :data:`MAX_TEMPERATURE` (:func:`check_calibration`);
- Keras: the model config is parsed as JSON (so any escape spelling is decoded) and
  every object in it, at any depth (nested models, wrappers, initializers), must be an
  allowed class (:data:`KERAS_LAYERS`, :data:`KERAS_MODELS`, :data:`KERAS_OBJECTS` or
  the plugin's own :data:`PROJECT_LAYERS`) from an allowed module; Lambda layers,
  serialized functions and Python code are refused. Keras 3 configs (its model modules,
  a ``DTypePolicy`` per layer) and Keras 2 configs are held to the same rules;
- Keras graphs: every layer call of a functional model (Keras 3's ``__keras_tensor__``
  objects, Keras 2's ``[layer, node, tensor]`` lists), its inputs and outputs must take
  an existing output of a call its own layers made, without loops
  (:func:`check_keras_graph`); a ``__keras_tensor__`` holds exactly what Keras writes.

Plain Python, json, zipfile and h5py only: no TensorFlow, skops or scikit-learn import.
"""

from __future__ import annotations

import json
import re
import zipfile
from typing import Any, BinaryIO, Iterable

from ..common.errors import LczError

# -- size caps ------------------------------------------------------------------------
MIB = 1 << 20
MAX_MANIFEST_BYTES = 1 * MIB
# a Keras model (the .keras member, its weights): the largest the project builds
# (ResNet50, on 10 or 18 channels) is 95 MB
MAX_MODEL_BYTES = 1024 * MIB
# a random forest (the .skops member, its arrays in all): a 200-tree forest takes about
# 30 kB per training patch (6 MB for 200 patches), so 4 GB is about 140,000 patches
MAX_FOREST_BYTES = 4096 * MIB
# a Keras config (config.json, an .h5 model_config) or a skops schema.json; the largest
# the project writes is 0.12 MB (ResNet50); a 200-tree forest's schema is about 0.3 MB
MAX_CONFIG_BYTES = 8 * MIB
# deflate reaches ~1000:1 on zeros; model members reach 15:1 (skops), 1:1 (.keras)
MAX_RATIO = 200
# members up to this size are not checked for their ratio (small JSON compresses well)
RATIO_FREE_BYTES = 1 * MIB
# skops writes one member per array (5 per tree)
MAX_SKOPS_MEMBERS = 50_000


def _mb(n: int) -> str:
    return f"{n / MIB:.0f} MB" if n >= MIB else f"{n} bytes"


def check_member(info: zipfile.ZipInfo, cap: int, where: str) -> None:
    """Raise LczError when zip member ``info`` declares more than ``cap`` bytes or
    inflates more than :data:`MAX_RATIO` times (``where`` names the file for the user)."""
    size, packed = int(info.file_size), int(info.compress_size)
    if size > cap:
        raise LczError(
            f"{where}: member '{info.filename[:80]}' declares {_mb(size)} uncompressed, over "
            f"the {_mb(cap)} a model file may hold (docs/security.md); refusing to read it"
        )
    if size > RATIO_FREE_BYTES and size > MAX_RATIO * max(packed, 1):
        raise LczError(
            f"{where}: member '{info.filename[:80]}' inflates {size // max(packed, 1)}:1 "
            f"({_mb(packed)} to {_mb(size)}), which no model does (a zip bomb?); "
            "refusing to read it"
        )


def _chunks(z: zipfile.ZipFile, info: zipfile.ZipInfo, cap: int, where: str):
    """The member's bytes in chunks of at most 1 MiB (zipfile inflates as much as one
    read asks for, so a single large read of a lying member would inflate it all)."""
    done = 0
    with z.open(info) as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                return
            done += len(chunk)
            if done > min(cap, info.file_size):
                raise LczError(
                    f"{where}: member '{info.filename[:80]}' is larger than it declares; "
                    "refusing it"
                )
            yield chunk


def read_member(z: zipfile.ZipFile, name: str, cap: int, where: str) -> bytearray:
    """Member ``name`` of ``z`` after :func:`check_member`, read with a bounded reader (a
    header that lies about the size cannot make it inflate more than it declares, and
    never more than ``cap`` bytes). KeyError when there is no such member."""
    info = z.getinfo(name)
    check_member(info, cap, where)
    # filled in place: no second copy of a large member
    out = bytearray(info.file_size)
    view, pos = memoryview(out), 0
    for chunk in _chunks(z, info, cap, where):
        view[pos : pos + len(chunk)] = chunk
        pos += len(chunk)
    view.release()
    if pos != len(out):
        raise zipfile.BadZipFile(f"'{name[:80]}' is shorter than its header declares")
    return out


def copy_member(z: zipfile.ZipFile, name: str, out: BinaryIO, cap: int, where: str) -> None:
    """Copy member ``name`` of ``z`` into ``out`` like :func:`read_member`."""
    info = z.getinfo(name)
    check_member(info, cap, where)
    for chunk in _chunks(z, info, cap, where):
        out.write(chunk)


def check_h5_sizes(group, cap: int, where: str) -> None:
    """Raise LczError when the datasets under an h5py ``group`` declare more than ``cap``
    bytes in all (read from their shapes, before any data is read: an HDF5 file can hold
    compressed chunks that inflate like a zip bomb)."""
    import h5py

    total = 0

    def visit(_name, obj):
        nonlocal total
        if isinstance(obj, h5py.Dataset):
            total += int(obj.size or 0) * int(obj.dtype.itemsize)

    group.visititems(visit)
    if total > cap:
        raise LczError(
            f"{where}: its weights declare {_mb(total)}, over the {_mb(cap)} a model file may "
            "hold (docs/security.md); refusing to read them"
        )


# -- calibration ----------------------------------------------------------------------
#: the temperatures a model file's ``calibration`` may hold (and ``fit_temperature``
#: returns): beyond them a model's probabilities would be all but one-hot or uniform
MIN_TEMPERATURE = 0.01
MAX_TEMPERATURE = 100.0
CALIBRATION_METHODS = ("temperature",)
_CALIBRATION_KEYS = {"method", "temperature", "fitted_on", "n"}


def check_calibration(entry: Any, where: str) -> None:
    """Raise LczError unless a manifest's ``calibration`` entry is one the plugin writes:
    ``{"method": "temperature", "temperature": T, "fitted_on": text, "n": count}`` with T
    a finite number (not a bool or text) within ``MIN_TEMPERATURE``..``MAX_TEMPERATURE``
    and n a whole number >= 0; no other keys."""

    def bad(what: str) -> LczError:
        return LczError(
            f"{where} has a damaged or edited manifest: its calibration {what}; re-run "
            "`lcz calibrate` on the uncalibrated model"
        )

    if not isinstance(entry, dict):
        raise bad("is not a JSON object")
    extra = sorted(set(map(str, entry)) - _CALIBRATION_KEYS)
    missing = sorted(_CALIBRATION_KEYS - set(entry))
    if extra or missing:
        raise bad(f"has keys {extra[:5]} it may not have or lacks {missing}")
    if entry["method"] not in CALIBRATION_METHODS:
        raise bad(f"method {json.dumps(entry['method'])[:40]} is unknown (use temperature)")
    t = entry["temperature"]
    if isinstance(t, bool) or not isinstance(t, (int, float)):
        raise bad(f"temperature {json.dumps(t)[:40]} is not a number")
    if not (t == t and MIN_TEMPERATURE <= t <= MAX_TEMPERATURE):  # NaN fails t == t
        raise bad(f"temperature {t} is not within {MIN_TEMPERATURE} and {MAX_TEMPERATURE}")
    if not isinstance(entry["fitted_on"], str):
        raise bad("'fitted_on' is not text")
    n = entry["n"]
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise bad(f"'n' {json.dumps(n)[:40]} is not a count")


# -- skops ----------------------------------------------------------------------------
# skops file protocols whose loaders were reviewed (skops 0.10 writes protocol 2)
SKOPS_PROTOCOLS = (2,)
_NUMPY_SCALARS = frozenset(
    f"numpy.{t}"
    for t in ("int64", "int32", "int16", "int8", "uint8", "float64", "float32", "bool_")
)
_SKOPS_OWN = {
    "DictNode": frozenset({"builtins.dict"}),
    "ListNode": frozenset({"builtins.list"}),
    "TupleNode": frozenset({"builtins.tuple"}),
    # JSON values; skops labels them builtins.str
    "JsonNode": frozenset({"builtins.str", "builtins.int", "builtins.float", "builtins.bool"}),
    # numpy arrays are read with allow_pickle=False; scalars are numpy.<type>(array)
    "NdArrayNode": frozenset({"numpy.ndarray"}) | _NUMPY_SCALARS,
    # types as values, e.g. the key types of a dict such as class_weight
    "TypeNode": frozenset({"builtins.int", "builtins.str", "builtins.float"}) | _NUMPY_SCALARS,
    # the estimator and its trees: instance.__setstate__(attributes)
    "ObjectNode": frozenset(
        {
            "sklearn.ensemble._forest.RandomForestClassifier",
            "sklearn.tree._classes.DecisionTreeClassifier",
        }
    ),
    "TreeNode": frozenset({"sklearn.tree._tree.Tree"}),
}
#: skops loader -> the exact type names it may carry in a model file: what the
#: plugin's random forest (``lcz_qgis.models.rf``) saves, nothing else
SKOPS_TYPES: dict[str, frozenset] = {
    **_SKOPS_OWN,
    # a reference to an object met earlier in the file
    "CachedNode": frozenset().union(*_SKOPS_OWN.values()),
}
#: the estimators a model file's skops member may hold at its root
SKOPS_ESTIMATORS = _SKOPS_OWN["ObjectNode"]


def _skops_nodes(schema) -> Iterable[dict]:
    """Every dict in the parsed schema that skops would read as a node (any dict with a
    ``__loader__``, wherever it is: more than skops visits, never fewer)."""
    stack = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "__loader__" in item:
                yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _skops_schema_text(payload, where: str) -> bytearray:
    """The ``schema.json`` of a skops zip, after checking every member's header: skops
    reads members whole (zipfile then inflates a member as far as its data goes, whatever
    its header declares), so every member must be stored uncompressed, as skops writes
    them, and within the caps."""
    import io

    try:
        z = zipfile.ZipFile(io.BytesIO(payload))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise LczError(f"{where}: the scikit-learn model is not a skops file ({exc})") from None
    with z:
        infos = z.infolist()
        if len(infos) > MAX_SKOPS_MEMBERS:
            raise LczError(f"{where}: the skops model has {len(infos)} members; refusing it")
        for info in infos:
            if info.compress_type != zipfile.ZIP_STORED or info.file_size != info.compress_size:
                raise LczError(
                    f"{where}: the skops model's member '{info.filename[:80]}' is compressed "
                    "(skops stores them uncompressed); refusing to read it"
                )
            cap = MAX_CONFIG_BYTES if info.filename == "schema.json" else MAX_FOREST_BYTES
            check_member(info, cap, where)
        total = sum(int(info.file_size) for info in infos)
        if total > MAX_FOREST_BYTES:
            raise LczError(
                f"{where}: the skops model declares {_mb(total)} in all, over the "
                f"{_mb(MAX_FOREST_BYTES)} a model file may hold; refusing to read it"
            )
        try:
            return read_member(z, "schema.json", MAX_CONFIG_BYTES, where)
        except KeyError:
            raise LczError(f"{where}: the skops model has no schema.json") from None
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise LczError(f"{where}: the skops model is damaged ({exc})") from None


def _skops_schema(text: bytes, where: str) -> dict:
    try:
        schema = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise LczError(f"{where}: the skops schema is not readable JSON ({exc})") from None
    if not isinstance(schema, dict):
        raise LczError(f"{where}: the skops schema is not a JSON object")
    protocol = schema.get("protocol")
    if protocol not in SKOPS_PROTOCOLS:
        raise LczError(
            f"{where}: the scikit-learn model was written in skops file protocol "
            f"{json.dumps(protocol)[:20]}; this plugin reads protocol "
            f"{', '.join(map(str, SKOPS_PROTOCOLS))}: re-train the model with this plugin"
        )
    return schema


def _skops_types(schema: dict, where: str) -> list[str]:
    """The type names of every node of ``schema``; LczError naming any refused one."""
    found, refused = set(), set()
    for node in _skops_nodes(schema):
        loader = node.get("__loader__")
        module, cls = node.get("__module__"), node.get("__class__")
        name = f"{module}.{cls}" if isinstance(module, str) and isinstance(cls, str) else None
        if name is not None and isinstance(loader, str) and name in SKOPS_TYPES.get(loader, ()):
            found.add(name)
        else:
            refused.add(name or f"{str(module)[:40]}.{str(cls)[:40]}")
            if not isinstance(loader, str) or loader not in SKOPS_TYPES:
                refused.add(f"loader {str(loader)[:40]}")
    if refused:
        shown = sorted(refused)
        more = f" and {len(shown) - 6} more" if len(shown) > 6 else ""
        raise LczError(
            f"{where}: the scikit-learn model holds types a random forest does not need "
            f"({', '.join(t[:80] for t in shown[:6])}{more}); they could run code, so the "
            "file is refused (docs/security.md)"
        )
    root = f"{schema.get('__module__')}.{schema.get('__class__')}"
    if schema.get("__loader__") != "ObjectNode" or root not in SKOPS_ESTIMATORS:
        raise LczError(
            f"{where}: the scikit-learn model is a {root[:80]}, not a random forest; refusing it"
        )
    return sorted(found)


def check_skops(payload, where: str) -> list[str]:
    """Check a skops file (``payload``, bytes) before skops reads it.

    skops builds its node tree (``get_untrusted_types`` included) before its own audit,
    and some of its loaders import modules while doing so; so the schema is read here
    first, and every node's loader and type must be an allowed pair of
    :data:`SKOPS_TYPES`. Raises LczError naming the refused types.

    Returns:
        The type names the file holds, all allowed: pass them as ``trusted`` to
        ``skops.io.loads``.
    """
    return _skops_types(_skops_schema(_skops_schema_text(payload, where), where), where)


# -- Keras ----------------------------------------------------------------------------
#: whole models (also as layers of another model)
KERAS_MODELS = frozenset({"Functional", "Sequential", "Model"})
#: standard Keras layers without code in their config: those of the plugin's models
#: (lcz_qgis.models) and the So2Sat authors' ResNet-20 and Sen2LCZ-Net, and a few like them
KERAS_LAYERS = frozenset(
    {
        "InputLayer",
        "Dense",
        "Conv1D",
        "Conv2D",
        "Conv3D",
        "Conv2DTranspose",
        "SeparableConv2D",
        "DepthwiseConv2D",
        "BatchNormalization",
        "LayerNormalization",
        "Dropout",
        "SpatialDropout2D",
        "GaussianNoise",
        "GaussianDropout",
        "Activation",
        "ReLU",
        "LeakyReLU",
        "PReLU",
        "ELU",
        "Softmax",
        "Flatten",
        "Reshape",
        "Permute",
        "MaxPooling1D",
        "MaxPooling2D",
        "MaxPooling3D",
        "AveragePooling1D",
        "AveragePooling2D",
        "AveragePooling3D",
        "GlobalAveragePooling1D",
        "GlobalAveragePooling2D",
        "GlobalMaxPooling1D",
        "GlobalMaxPooling2D",
        "ZeroPadding2D",
        "Cropping2D",
        "UpSampling2D",
        "Add",
        "Subtract",
        "Multiply",
        "Average",
        "Maximum",
        "Minimum",
        "Concatenate",
        "Rescaling",
        "TimeDistributed",
    }
)
#: the plugin's own registered layers: registered name -> (class name, module in
#: lcz_qgis.models); ``lcz_qgis.models.register_custom_layers`` registers them
PROJECT_LAYERS = {"lcz>ChannelSlice": ("ChannelSlice", "fusion")}
# registered name or class name -> registered name
_PROJECT_KEYS = {k: k for k in PROJECT_LAYERS} | {c: k for k, (c, _) in PROJECT_LAYERS.items()}
#: other objects a layer config holds: initializers, regularizers, constraints, the
#: dtype policy, tuples
KERAS_OBJECTS = frozenset(
    {
        "GlorotUniform",
        "GlorotNormal",
        "HeNormal",
        "HeUniform",
        "LecunNormal",
        "LecunUniform",
        "Zeros",
        "Ones",
        "Constant",
        "RandomNormal",
        "RandomUniform",
        "TruncatedNormal",
        "Orthogonal",
        "Identity",
        "VarianceScaling",
        "L1",
        "L2",
        "L1L2",
        "MaxNorm",
        "NonNeg",
        "UnitNorm",
        "MinMaxNorm",
        "RadialConstraint",
        "Policy",
        # Keras 3: a dtype policy per layer
        "DTypePolicy",
        "FloatDTypePolicy",
        "__tuple__",
    }
)
#: the modules a Keras object may name (Keras resolves them within Keras)
KERAS_MODULES = frozenset(
    {
        "keras",
        "keras.layers",
        "keras.models",
        "keras.initializers",
        "keras.regularizers",
        "keras.constraints",
        "keras.mixed_precision",
        "keras.dtype_policies",
        # Keras 2 model classes
        "keras.src.engine.functional",
        "keras.src.engine.sequential",
        "keras.src.engine.training",
        # Keras 3 model classes
        "keras.src.models.functional",
        "keras.src.models.sequential",
        "keras.src.models.model",
    }
)
ACTIVATIONS = frozenset(
    {
        "linear",
        "relu",
        "relu6",
        "softmax",
        "log_softmax",
        "sigmoid",
        "hard_sigmoid",
        "tanh",
        "elu",
        "selu",
        "softplus",
        "softsign",
        "swish",
        "silu",
        "gelu",
        "exponential",
        "leaky_relu",
        "mish",
    }
)
_NAMED = {
    "_initializer": frozenset(
        {
            "glorot_uniform",
            "glorot_normal",
            "he_normal",
            "he_uniform",
            "lecun_normal",
            "lecun_uniform",
            "zeros",
            "ones",
            "constant",
            "random_normal",
            "random_uniform",
            "truncated_normal",
            "orthogonal",
            "identity",
            "variance_scaling",
        }
    ),
    "_regularizer": frozenset({"l1", "l2", "l1_l2"}),
    "_constraint": frozenset(
        {"max_norm", "non_neg", "unit_norm", "min_max_norm", "radial_constraint"}
    ),
}
#: keys that carry Python code or a function reference (Lambda and custom layers)
CODE_KEYS = frozenset(
    {"function", "function_type", "function_module", "output_shape_type", "output_shape_module"}
)
# keys under which a config holds layers (models, wrappers, RNNs): named in error paths
_LAYER_KEYS = frozenset({"layers", "layer", "forward_layer", "backward_layer", "cell", "cells"})
_PROJECT_MODULE = re.compile(r"^(?:[A-Za-z_]\w*\.)?lcz_qgis\.models\.(\w+)$")


def _what(obj: dict, key) -> str:
    cls = str(obj.get("class_name"))[:60]
    name = obj.get("name")
    if name is None and isinstance(obj.get("config"), dict):
        name = obj["config"].get("name")
    if key is None or key in _LAYER_KEYS:
        return f"'{str(name)[:60]}' ({cls})" if name is not None else f"({cls})"
    return f"{str(key)[:40]} ({cls})"


def _refuse(where: str, path: list[str], why: str) -> LczError:
    shown = " > ".join(path) if path else "the model"
    return LczError(
        f"{where}: {shown} {why}; refusing to load the file before anything in it runs "
        "(only standard Keras layers and the plugin's own are allowed, docs/security.md)"
    )


def _check_project_layer(key: str, cls: str, module, registered, path, where: str) -> None:
    """One of the plugin's layers (``key`` in :data:`PROJECT_LAYERS`) must be named as the
    plugin saves it, so that Keras finds it by its registration and imports nothing: in a
    ``.keras`` config by its class and registered name (and the plugin's module), in a
    legacy ``.h5`` config by its registered name as the class name."""
    own_class, own_module = PROJECT_LAYERS[key]
    legacy = module is None and registered is None and cls == key
    if not legacy and (cls != own_class or registered != key):
        raise _refuse(where, path, f"is not the plugin's layer {key} as the plugin saves it")
    if module is not None:
        m = _PROJECT_MODULE.match(module)
        if m is None or m.group(1) != own_module:
            raise _refuse(where, path, f"names module '{module[:80]}', not the plugin's")


def _check_object(obj: dict, path: list[str], where: str) -> None:
    cls, module = obj.get("class_name"), obj.get("module")
    registered = obj.get("registered_name")
    if not isinstance(cls, str):
        raise _refuse(where, path, "has a class name that is not text")
    if module is not None and not isinstance(module, str):
        raise _refuse(where, path, "names a module that is not text")
    if registered is not None and not isinstance(registered, str):
        raise _refuse(where, path, "has a registered name that is not text")
    if cls == "Lambda" or (cls.startswith("__") and cls not in KERAS_OBJECTS):
        raise _refuse(where, path, "is Python code (a Lambda layer or serialized function)")
    key = registered if registered in PROJECT_LAYERS else _PROJECT_KEYS.get(cls)
    if key is not None:
        _check_project_layer(key, cls, module, registered, path, where)
        return
    if cls not in KERAS_LAYERS | KERAS_MODELS | KERAS_OBJECTS:
        origin = f" (from module '{module[:80]}')" if module else ""
        raise _refuse(where, path, f"is not a Keras class the plugin allows{origin}")
    if registered is not None and registered != cls:
        raise _refuse(where, path, f"is registered as '{registered[:80]}', not a Keras class")
    if module is not None and module not in KERAS_MODULES:
        raise _refuse(where, path, f"names module '{module[:80]}', which is not Keras")


def _check_named(key: str, value: str, path: list[str], where: str) -> None:
    if key in ("activation", "recurrent_activation"):
        if value not in ACTIVATIONS:
            raise _refuse(where, path, f"uses activation '{value[:60]}', not a Keras activation")
        return
    for suffix, names in _NAMED.items():
        if key.endswith(suffix) and value.lower() not in names and value not in KERAS_OBJECTS:
            raise _refuse(where, path, f"sets {key} to '{value[:60]}', not a Keras name")


def strip_compile_config(config: Any) -> Any:
    """``config`` without its ``compile_config`` entries (at any depth): the plugin loads
    models uncompiled, so optimizer, loss and metrics are never deserialized."""
    if isinstance(config, dict):
        return {k: strip_compile_config(v) for k, v in config.items() if k != "compile_config"}
    if isinstance(config, list):
        return [strip_compile_config(v) for v in config]
    return config


def check_keras_config(config: Any, where: str) -> None:
    """Raise LczError unless every object in a parsed Keras model config (``.keras``
    ``config.json`` or a legacy ``.h5`` ``model_config``, without ``compile_config``) is
    allowed: walks every dict and list, whatever its key, so layers nested in models,
    wrappers and any other config entry are all seen. Then the graph of every model in it
    (:func:`check_keras_graph`): Keras 3's ``__keras_tensor__`` objects are allowed only
    there, as checked references. The error names the layer path."""
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise LczError(f"{where}: the Keras model config is not a model")
    if config["class_name"] not in KERAS_MODELS:
        raise _refuse(where, [_what(config, None)], "is not a Keras model")
    models: list[tuple[dict, list[str]]] = []
    tensors: dict[int, list[str]] = {}  # id of each __keras_tensor__ -> its path
    # depth-first with an explicit stack: (item, path, key of the item in its parent)
    stack: list[tuple[Any, list[str], Any]] = [(config, [], None)]
    while stack:
        item, path, key = stack.pop()
        if isinstance(item, list):
            stack.extend((v, path, key) for v in reversed(item))
            continue
        if not isinstance(item, dict):
            continue
        if item.get("class_name") == KERAS_TENSOR:
            tensors[id(item)] = path  # checked with its model's graph, below
            continue
        if "class_name" in item:
            path = [*path, _what(item, key)]
            _check_object(item, path, where)
            if item["class_name"] in KERAS_MODELS:
                models.append((item, path))
        for k, v in item.items():
            if not isinstance(k, str):
                continue
            if k in CODE_KEYS:
                raise _refuse(where, path, f"has a '{k}' entry (Python code)")
            if isinstance(v, str):
                _check_named(k, v, path, where)
            elif isinstance(v, (dict, list)):
                stack.append((v, path, k))
    checked: set[int] = set()
    for model, path in models:
        checked |= check_keras_graph(model, path, where)
    stray = [path for t, path in tensors.items() if t not in checked]
    if stray:
        raise _refuse(where, stray[0], "holds a Keras tensor outside its model's layer calls")


# -- Keras graphs: which layer output each layer call takes ---------------------------
#: what Keras 3 writes for a tensor passed to a layer call (``inbound_nodes``)
KERAS_TENSOR = "__keras_tensor__"
_TENSOR_KEYS = frozenset({"shape", "dtype", "keras_history"})
_TENSOR_FLAGS = frozenset({"sparse", "ragged"})  # optional, true or false
KERAS_DTYPES = frozenset(
    {"float16", "bfloat16", "float32", "float64", "bool", "uint8", "int8", "int16", "int32"}
    | {"int64", "uint16", "uint32", "uint64", "string"}
)


def _layer_name(layer: dict):
    name = layer.get("name")
    if name is None and isinstance(layer.get("config"), dict):
        name = layer["config"].get("name")
    return name


def _output_count(layer: dict) -> int:
    """How many outputs a layer has: a nested model's outputs, else one."""
    config = layer.get("config")
    outputs = config.get("output_layers") if isinstance(config, dict) else None
    if layer.get("class_name") in KERAS_MODELS and isinstance(outputs, list) and outputs:
        return 1 if isinstance(outputs[0], str) else len(outputs)
    return 1


def _graph_layers(layers: list, path: list[str], where: str) -> dict[str, tuple[int, int]]:
    """Layer name -> (how many calls (nodes) it has, how many outputs)."""
    known: dict[str, tuple[int, int]] = {}
    for layer in layers:
        name = _layer_name(layer) if isinstance(layer, dict) else None
        if not isinstance(name, str) or name in known:
            raise _refuse(where, path, f"has a layer without a name or named twice ({name!s:.60})")
        nodes = layer.get("inbound_nodes", [])
        if not isinstance(nodes, list):
            raise _refuse(where, [*path, _what(layer, "layers")], "has inbound_nodes not a list")
        # an input layer is called by nothing: its one node is its own tensor
        calls = len(nodes) or int(layer.get("class_name") == "InputLayer")
        known[name] = (calls, _output_count(layer))
    return known


def _index(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _tensor_history(obj: dict, path: list[str], where: str) -> list:
    """The ``keras_history`` (layer name, node index, tensor index) of a Keras 3
    ``__keras_tensor__``, after checking that it holds exactly a shape, a dtype and
    that reference (and the optional sparse/ragged flags)."""
    config = obj.get("config")
    if set(obj) != {"class_name", "config"} or not isinstance(config, dict):
        raise _refuse(where, path, "has a Keras tensor with entries Keras does not write")
    if not (_TENSOR_KEYS <= set(config) <= _TENSOR_KEYS | _TENSOR_FLAGS):
        raise _refuse(where, path, "has a Keras tensor with entries Keras does not write")
    shape, history = config["shape"], config["keras_history"]
    if not isinstance(shape, list) or not all(d is None or _index(d) for d in shape):
        raise _refuse(where, path, "has a Keras tensor whose shape is not a list of sizes")
    if config["dtype"] not in KERAS_DTYPES:
        raise _refuse(where, path, f"has a Keras tensor of dtype {config['dtype']!s:.40}")
    if any(not isinstance(config[k], bool) for k in _TENSOR_FLAGS & set(config)):
        raise _refuse(where, path, "has a Keras tensor whose sparse/ragged is not true/false")
    if not isinstance(history, list) or len(history) != 3:
        raise _refuse(where, path, "has a Keras tensor without its layer, node and tensor")
    return history


def _call_refs(value, path: list[str], where: str, tensors: set[int]) -> list:
    """The tensor references of a Keras 3 call's ``args`` or ``kwargs``: each tensor's
    ``keras_history``; anything but plain JSON values, lists, ``__tuple__`` and tensors
    is refused (``tensors`` collects the ids of the tensor objects checked)."""
    refs, stack = [], [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict) and item.get("class_name") == KERAS_TENSOR:
            refs.append(_tensor_history(item, path, where))
            tensors.add(id(item))
        elif isinstance(item, dict) and item.get("class_name") == "__tuple__":
            config = item.get("config")
            stack.append(config.get("value") if isinstance(config, dict) else config)
        elif isinstance(item, dict) and "class_name" not in item:
            stack.extend(item.values())
        elif item is not None and not isinstance(item, (str, int, float, bool)):
            raise _refuse(where, path, "calls its layer with an argument Keras does not write")
    return refs


def _node_refs(node, path: list[str], where: str, tensors: set[int]) -> list:
    """The layer references one call (node) of a layer makes: Keras 3 writes
    ``{"args": [...], "kwargs": {...}}`` with ``__keras_tensor__`` objects, Keras 2 a list
    of ``[layer, node, tensor]`` or ``[layer, node, tensor, {kwargs}]`` whose kwargs are
    plain JSON values (text, numbers, true/false, null)."""
    if isinstance(node, dict):
        if set(node) != {"args", "kwargs"} or not isinstance(node["kwargs"], dict):
            raise _refuse(where, path, "has a layer call with entries Keras does not write")
        return _call_refs([node["args"], node["kwargs"]], path, where, tensors)
    if not isinstance(node, list):
        raise _refuse(where, path, "has a layer call that Keras does not write")
    refs = []
    for entry in node:
        kwargs = entry[3] if isinstance(entry, list) and len(entry) == 4 else {}
        if not isinstance(entry, list) or len(entry) not in (3, 4) or not isinstance(kwargs, dict):
            raise _refuse(where, path, "has a layer call that is not [layer, node, tensor]")
        # Keras 2 would look up a nested [layer, node, tensor] in them, unchecked
        if any(isinstance(v, (list, dict)) for v in kwargs.values()):
            raise _refuse(where, path, "passes a nested value in a Keras 2 call's arguments")
        refs.append(entry[:3])
    return refs


def _check_ref(ref, known: dict, path: list[str], where: str) -> tuple[str, int]:
    """A reference ``[layer, node, tensor]`` must name a layer of the model, one of its
    calls and one of its outputs; returns (layer, node)."""
    if not isinstance(ref, list) or len(ref) != 3 or not isinstance(ref[0], str):
        raise _refuse(where, path, "names a layer output that is not [layer, node, tensor]")
    name, node, tensor = ref
    if name not in known:
        raise _refuse(where, path, f"takes the output of layer '{name[:60]}', which it lacks")
    calls, outputs = known[name]
    if not _index(node) or node >= calls:
        raise _refuse(where, path, f"takes call {node!s:.20} of layer '{name[:60]}', not made")
    if not _index(tensor) or tensor >= outputs:
        raise _refuse(where, path, f"takes output {tensor!s:.20} of layer '{name[:60]}'")
    return name, node


def _io_refs(value) -> list:
    """``input_layers`` / ``output_layers``: one reference (Keras 3, one tensor) or a list."""
    if isinstance(value, list) and value and isinstance(value[0], str):
        return [value]
    return value if isinstance(value, list) else [value]


def _check_acyclic(edges: dict, path: list[str], where: str) -> None:
    """No layer call may depend on itself: Keras would retry such a graph forever."""
    state: dict = {}  # node -> 1 while on the current path, 2 when done
    for start in edges:
        stack = [(start, iter(edges[start]))]
        state.setdefault(start, 1)
        if state[start] == 2:
            continue
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                raise _refuse(where, path, f"has a layer call loop through '{child[0][:60]}'")
            elif child not in state:
                state[child] = 1
                stack.append((child, iter(edges.get(child, ()))))


def check_keras_graph(model: dict, path: list[str], where: str) -> set[int]:
    """Raise LczError unless every layer call of a (Keras 2 or 3) model config takes
    outputs of its own layers, calls that exist, and no loop; ``input_layers`` and
    ``output_layers`` likewise. A model without a ``layers`` list (Sequential's are
    called in order) has no graph to check.

    Returns:
        The ids of the ``__keras_tensor__`` objects checked in its calls.
    """
    config = model.get("config")
    layers = config.get("layers") if isinstance(config, dict) else None
    tensors: set[int] = set()
    if not isinstance(layers, list):
        return tensors
    known = _graph_layers(layers, path, where)
    edges: dict[tuple[str, int], list[tuple[str, int]]] = {}
    for layer in layers:
        here = [*path, _what(layer, "layers")]
        for i, node in enumerate(layer.get("inbound_nodes", [])):
            refs = _node_refs(node, here, where, tensors)
            edges[(_layer_name(layer), i)] = [_check_ref(r, known, here, where) for r in refs]
    for key in ("input_layers", "output_layers"):
        for ref in _io_refs(config.get(key, [])):
            _check_ref(ref, known, [*path, key], where)
    _check_acyclic(edges, path, where)
    return tensors


def parse_keras_config(text, where: str) -> dict:
    """Parse and check a Keras model config (bytes or text); the checked config,
    without ``compile_config``, ready to deserialize."""
    if isinstance(text, (bytes, bytearray)):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise LczError(f"{where}: the Keras model config is not UTF-8 text") from None
    if len(text) > MAX_CONFIG_BYTES:
        raise LczError(f"{where}: the Keras model config is larger than {_mb(MAX_CONFIG_BYTES)}")
    try:
        config = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise LczError(f"{where}: the Keras model config is not readable JSON ({exc})") from None
    try:
        config = strip_compile_config(config)
        check_keras_config(config, where)
    except RecursionError:
        raise LczError(f"{where}: the Keras model config is nested too deeply") from None
    return config
