"""The So2Sat authors' published LCZ models: provenance, weight import, preprocessing.

The authors published Keras 2.1.5 *weights-only* HDF5 files (MIT licence). Such a file
has no architecture: this module reads its tensors in the file's layer order, tells
which published network they belong to from their shapes, builds that network
(:mod:`lcz_qgis.models.sen2lcznet`, :mod:`lcz_qgis.models.so2sat_resnet20`) and assigns
the tensors by order and shape, failing on any mismatch with the layer named.

The preprocessing each network expects is a pure numpy function of So2Sat-scale patches
(N, 32, 32, C), named so that a model manifest can list it, e.g.
``{"type": "so2sat_s1_features"}`` (see :mod:`lcz_qgis.models.preprocessing`). Every such
function takes the patches plus keyword parameters and ignores unknown ones.

No qgis import; TensorFlow is imported only by the functions that build models.
"""

from __future__ import annotations

import hashlib
import importlib
import os
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

from ..common.bands import PATCH_SIZE, SEN2_BANDS
from ..common.enums import Sensor
from ..common.errors import LczError, require
from ..common.legend import N_CLASSES
from ..sentinel import s1_scene_features as _s1
from ..sentinel.s1_scene_features import SO2SAT_S1_FEATURES

WeightLayers = list[tuple[str, list[np.ndarray]]]

CITATION_QIU_2020 = (
    "Qiu, C., Tong, X., Schmitt, M., Bechtel, B., Zhu, X.X. (2020). Multilevel Feature "
    "Fusion-Based CNN for Local Climate Zone Classification From Sentinel-2 Images: "
    "Benchmark Results on the So2Sat LCZ42 Dataset. IEEE JSTARS 13, 2793-2806."
)
CITATION_ZHU_2020 = (
    "Zhu, X.X. et al. (2020). So2Sat LCZ42: A Benchmark Data Set for the Classification "
    "of Global Local Climate Zones. IEEE Geoscience and Remote Sensing Magazine 8(3), "
    "76-89."
)
_QIU_REPO = "https://github.com/ChunpingQiu/benchmark-on-So2SatLCZ42-dataset-a-simple-tour"
_DEMO_REPO = "https://github.com/zhu-xlab/So2Sat-LCZ-Classification-Demo"
_RAW = "https://raw.githubusercontent.com"

# the So2Sat production ResNet-20s (S2 and S1) come from one repository, licence and paper
_SO2SAT_DEMO_PROVENANCE: dict[str, Any] = {
    "repository": _DEMO_REPO,
    "licence": "MIT",
    "copyright": "Copyright (c) 2021 ERC starting grant So2Sat project team",
    "citation": f"{CITATION_ZHU_2020} Model and code: {_DEMO_REPO}",
    "module": "lcz_qgis.models.so2sat_resnet20",
    "build": {},
}

PUBLISHED: dict[str, dict[str, Any]] = {
    "sen2lcznet": {
        "name": "Sen2LCZ-Net (multi-level fusion), Qiu et al. 2020",
        "file_name": "_32_weights.best.hdf5",
        "sha256": "2ca98e4adb7d67cc0f69e8168826b763eb7df8cb6ca508689fa34c171e2e8b2a",
        "source_url": f"{_RAW}/ChunpingQiu/benchmark-on-So2SatLCZ42-dataset-a-simple-tour/"
        "7675acd4895a8a5e87c7a3f90407b8f6772aa8ed/results/_32_weights.best.hdf5",
        "repository": _QIU_REPO,
        "licence": "MIT",
        "copyright": "Copyright (c) 2021 ChunpingQiu",
        "citation": f"{CITATION_QIU_2020} Data: {CITATION_ZHU_2020}",
        "module": "lcz_qgis.models.sen2lcznet",
        "build": {"depth": 17, "dropout": 0.2, "fusion": True},
        "sensor": Sensor.SEN2,
        "channels": 10,
        "band_names": SEN2_BANDS,
        "input_shape": (PATCH_SIZE, PATCH_SIZE, 10),
        "n_classes": N_CLASSES,
        "n_params": 793_348,
        "preprocessing": [],
        "preprocessing_description": (
            "Raw So2Sat LCZ42 'sen2' patches: reflectance (L1C DN / 10000) of B2, B3, B4, "
            "B5, B6, B7, B8, B8A, B11, B12 in that order, no normalisation (the authors' "
            "evaluation.py feeds testing.h5 'sen2' as read)."
        ),
        "published_score": {
            "dataset": "So2Sat LCZ42 v2 testing.h5",
            "n_patches": 24_188,
            "oa": 0.6937,
            "kappa": 0.6644,
        },
    },
    "so2sat_resnet20_s2": {
        "name": "So2Sat ResNet-20, Sentinel-2 (global LCZ production)",
        "file_name": "S2_RESNET20_BS16_LR2e-4_IN32-32-10_PRO-52-0R12_2019-06-27.h5",
        "sha256": "a4348f55e21039b81aec6f57b1c943c851dc70c5b79e025fb9e93438cc1e730f",
        "source_url": f"{_RAW}/zhu-xlab/So2Sat-LCZ-Classification-Demo/"
        "fd2c1228644c450a0d1ae18c864c58a31dbdbaf3/Modules/3_classification/model/"
        "S2_RESNET20_BS16_LR2e-4_IN32-32-10_PRO-52-0R12_2019-06-27.h5",
        **_SO2SAT_DEMO_PROVENANCE,
        "sensor": Sensor.SEN2,
        "channels": 10,
        "band_names": SEN2_BANDS,
        "input_shape": (PATCH_SIZE, PATCH_SIZE, 10),
        "n_classes": N_CLASSES,
        "n_params": 576_897,
        "preprocessing": [{"type": "so2sat_resnet20_s2_scaling"}],
        "preprocessing_description": (
            "Sentinel-2 L1C bands B2, B3, B4, B5, B6, B7, B8, B8A, B11, B12 divided by "
            "10000 in float16 (sen2_production_uil.getData with bands [1..8, 11, 12] and "
            "scale 10000.0: np.float16(DN) / 10000.0, a float16 result), no further "
            "normalisation. Reflectance input is taken back to DN (x 10000, whole numbers "
            "kept whole) and rounded the same way."
        ),
    },
    "so2sat_resnet20_s1": {
        "name": "So2Sat ResNet-20, Sentinel-1 (global LCZ production)",
        "file_name": "S1_RESNET20_BS32_LR1e-4_IN32-32-7_PRO52A-R10-GLOBAL_2019_06_22.h5",
        "sha256": "88bef20ec3807a591c63d2153196cc5228e8329edc0171d0b23d68667c4dcbc1",
        "source_url": f"{_RAW}/zhu-xlab/So2Sat-LCZ-Classification-Demo/"
        "c68c865ac346e804b9cab8c9a5f58e42b161bd41/Modules/Classification/model/"
        "S1_RESNET20_BS32_LR1e-4_IN32-32-7_PRO52A-R10-GLOBAL_2019_06_22.h5",
        **_SO2SAT_DEMO_PROVENANCE,
        "sensor": Sensor.SEN1,
        "channels": 7,
        "band_names": SO2SAT_S1_FEATURES,
        "input_shape": (PATCH_SIZE, PATCH_SIZE, 7),
        "n_classes": N_CLASSES,
        "n_params": 576_465,
        "preprocessing": [{"type": "so2sat_s1_features"}],
        "preprocessing_description": (
            "Seven features from So2Sat 'sen1' (8 channels), computed on the whole scene "
            "before windows are cut: unfiltered VH and VV intensity in dB, 3x3 boxcar "
            "VH/VV coherence (wrapping around at the scene border, as the authors' np.roll "
            "boxcar), Lee-filtered VH and VV intensity in dB, Lee coherence and cosine of "
            "the Lee covariance phase; each "
            "standardised (z-score) with the mean and standard deviation of the whole scene "
            "being classified, over its data mask (sen1_cnntrain_uil.getDataNormMStd, feature "
            "selection [1,1,1,0,0,0,0,1,1,1,1], called on the scene by sen1InferenceResNet). "
            "An imported model stores the statistics of the scene given at import."
        ),
    },
}


# the permission notice of the MIT licence both source repositories use; it travels with
# every model file built from their weights, after the entry's "copyright" line
MIT_PERMISSION_NOTICE = (
    "Permission is hereby granted, free of charge, to any person obtaining a copy of this "
    'software and associated documentation files (the "Software"), to deal in the Software '
    "without restriction, including without limitation the rights to use, copy, modify, "
    "merge, publish, distribute, sublicense, and/or sell copies of the Software, and to "
    "permit persons to whom the Software is furnished to do so, subject to the following "
    "conditions:\n\nThe above copyright notice and this permission notice shall be included "
    "in all copies or substantial portions of the Software.\n\nTHE SOFTWARE IS PROVIDED "
    '"AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT NOT LIMITED TO '
    "THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. "
    "IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR "
    "OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT "
    "OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE."
)


# -- files and hashes ------------------------------------------------------------------
def sha256_of(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_sha256(path: str | os.PathLike, arch: str) -> tuple[bool, str]:
    """(matches the published file, actual sha256). The caller warns when it differs."""
    actual = sha256_of(path)
    return actual == _entry(arch)["sha256"], actual


def _entry(arch: str) -> dict[str, Any]:
    try:
        return PUBLISHED[arch]
    except KeyError:
        raise LczError(
            f"unknown published architecture '{arch}'; use one of {', '.join(PUBLISHED)}"
        ) from None


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def import_h5py():
    """``import h5py``, or a MissingDependency error naming the package.

    Inside QGIS, h5py must be built on the same HDF5 library as GDAL (Debian's
    python3-h5py; see scripts/setup.sh): a pip wheel's bundled HDF5 clashes with it.
    """
    return require("h5py", "h5py", "Reading Keras weight files")


def read_weight_file(path: str | os.PathLike) -> WeightLayers:
    """[(layer_name, [arrays...]), ...] in the file's layer order (layers without
    weights included, with an empty list) from a Keras 2 weights-only HDF5 file."""
    h5py = import_h5py()
    path = Path(path)
    if not path.is_file():
        raise LczError(f"weights file '{path}' does not exist")
    try:
        h5 = h5py.File(path, "r")
    except OSError as exc:
        raise LczError(
            f"'{path.name}' is not a readable HDF5 file (truncated, damaged or another "
            f"format): {exc}"
        ) from None
    with h5:
        attrs = h5.attrs
        if "model_config" in attrs:
            raise LczError(
                f"'{path.name}' is a full Keras model (architecture and weights), not a "
                "weights-only file: import it as a Keras model instead"
            )
        if "layer_names" not in attrs:
            raise LczError(
                f"'{path.name}' has no 'layer_names' attribute: it is not a Keras 2 "
                "weights-only file (Keras 3 '.weights.h5' files are not supported here)"
            )
        layers: WeightLayers = []
        for raw_name in attrs["layer_names"]:
            name = _text(raw_name)
            weight_name = "?"
            try:
                group = h5[name]
                arrays = []
                for raw_w in group.attrs.get("weight_names", []):
                    weight_name = _text(raw_w)
                    arrays.append(np.asarray(group[weight_name]))
            except (KeyError, OSError, ValueError) as exc:
                raise LczError(
                    f"'{path.name}' is damaged or truncated: cannot read layer '{name}' "
                    f"(weight '{weight_name}'): {exc}"
                ) from None
            layers.append((name, arrays))
    if not any(arrays for _, arrays in layers):
        raise LczError(f"'{path.name}' holds no weights")
    return layers


def n_tensors(layers: WeightLayers) -> int:
    """The number of weight tensors in ``layers`` (all layers together)."""
    return sum(len(arrays) for _, arrays in layers)


# -- architecture ----------------------------------------------------------------------
def _kinds(layers: WeightLayers) -> dict[str, list]:
    """Weighted layers grouped by the shape of their tensors: conv kernels (4-D),
    dense kernels (2-D), batch-norm layers (four 1-D tensors)."""
    out: dict[str, list] = {"conv": [], "dense": [], "bn": [], "other": []}
    for name, arrays in layers:
        if not arrays:
            continue
        ndims = [a.ndim for a in arrays]
        if ndims == [4, 1]:
            out["conv"].append(arrays[0].shape)
        elif ndims == [2, 1]:
            out["dense"].append(arrays[0].shape)
        elif ndims == [1, 1, 1, 1]:
            out["bn"].append(arrays[0].shape)
        else:
            out["other"].append((name, [a.shape for a in arrays]))
    return out


def detect_architecture(layers: WeightLayers) -> str:
    """The PUBLISHED id whose network these weights fit, from their shapes alone.

    Sen2LCZ-Net: only 3x3 convolutions, each with a batch norm, and 1 or 4 dense heads
    (any input channel count). So2Sat ResNet-20: 22 convolutions (1x1 and 3x3), 19 batch
    norms and one dense layer on 256 features; 10 input channels = S2, 7 = S1.
    """
    k = _kinds(layers)
    conv, dense, bn = k["conv"], k["dense"], k["bn"]
    found = f"{len(conv)} convolutions, {len(bn)} batch norms, {len(dense)} dense layers" + (
        f", other layers {k['other']}" if k["other"] else ""
    )
    if not conv or not dense or k["other"]:
        raise LczError(f"weights of an unknown network ({found})")
    channels = conv[0][2]
    sizes = {c[:2] for c in conv}
    if sizes == {(3, 3)} and len(bn) == len(conv) and len(conv) % 4 == 0 and len(dense) in (1, 4):
        return "sen2lcznet"
    if len(conv) == 22 and len(bn) == 19 and (1, 1) in sizes and len(dense) == 1:
        if dense[0][0] == 256:
            for arch in ("so2sat_resnet20_s2", "so2sat_resnet20_s1"):
                if PUBLISHED[arch]["channels"] == channels:
                    return arch
            raise LczError(
                f"So2Sat ResNet-20 weights for {channels} input channels; the published "
                "ones take 10 (Sentinel-2) or 7 (Sentinel-1 features)"
            )
    raise LczError(f"weights of an unknown network ({found}); expected {', '.join(PUBLISHED)}")


def build_model(
    arch: str, channels: Optional[int] = None, n_classes: Optional[int] = None, **overrides
):
    """An untrained Keras model of a published architecture (TensorFlow imported here).

    ``overrides`` replace the published builder arguments (e.g. Sen2LCZ-Net ``depth``).
    """
    entry = _entry(arch)
    require("tensorflow", "tensorflow-cpu", "Building the published So2Sat networks")
    # "lcz_qgis.models.x" relative to this package: inside QGIS it is "<plugin>.lcz_qgis.models"
    module = importlib.import_module(entry["module"].replace("lcz_qgis.models", __package__, 1))
    shape = tuple(entry["input_shape"][:2]) + (int(channels or entry["channels"]),)
    kwargs = {**entry["build"], **overrides}
    return module.build(shape, n_classes=int(n_classes or entry["n_classes"]), **kwargs)


def _shapes(arrays: Sequence) -> list[tuple[int, ...]]:
    return [tuple(int(d) for d in a.shape) for a in arrays]


def assign_weights(model, layers: WeightLayers) -> int:
    """Set ``model``'s weights from ``layers`` (see :func:`read_weight_file`) by order and
    shape: the n-th layer of the file with weights goes to the n-th layer of the model
    with weights. Checks everything first and raises LczError naming both layers at the
    first mismatch; returns the number of tensors assigned (all of the file's)."""
    file_layers = [(n, a) for n, a in layers if a]
    model_layers = [layer for layer in model.layers if layer.weights]
    for i, ((fname, arrays), layer) in enumerate(zip(file_layers, model_layers)):
        want = _shapes(layer.weights)
        got = _shapes(arrays)
        if want != got:
            raise LczError(
                f"the weights do not fit the {model.name} network: file layer '{fname}' "
                f"has {got} but model layer '{layer.name}' ({type(layer).__name__}) "
                f"needs {want} (layer {i + 1} of {len(model_layers)} with weights); "
                "is it a weights file of another architecture?"
            )
    if len(file_layers) != len(model_layers):
        if len(file_layers) > len(model_layers):
            extra = f"file layer '{file_layers[len(model_layers)][0]}' and after are left over"
        else:
            extra = f"model layer '{model_layers[len(file_layers)].name}' and after get none"
        raise LczError(
            f"the weights do not fit the {model.name} network: the file has "
            f"{len(file_layers)} layers with weights, the model {len(model_layers)}; {extra}"
        )
    assigned = 0
    for (_, arrays), layer in zip(file_layers, model_layers):
        layer.set_weights(list(arrays))  # Keras casts to each variable's dtype
        assigned += len(arrays)
    total = n_tensors(layers)
    if assigned != total:  # pragma: no cover - guarded by the checks above
        raise LczError(f"only {assigned} of the file's {total} weight tensors were assigned")
    return assigned


def build_for_weights(layers: WeightLayers, arch: Optional[str] = None):
    """(Keras model with ``layers`` assigned, arch id, builder arguments used).

    With ``arch`` given, that published network is built as published and the weights
    must fit it. With ``arch`` None the network is detected from the weights and built
    with the file's channel count, class count and (Sen2LCZ-Net) depth and heads.
    """
    if arch is not None:
        entry = _entry(arch)
        model = build_model(arch)
        build_args = dict(entry["build"])
    else:
        arch = detect_architecture(layers)
        entry = PUBLISHED[arch]
        k = _kinds(layers)
        overrides = {}
        if arch == "sen2lcznet":
            overrides = {"depth": len(k["conv"]) + 1, "fusion": len(k["dense"]) == 4}
        model = build_model(arch, k["conv"][0][2], k["dense"][-1][1], **overrides)
        build_args = {**entry["build"], **overrides}
    assign_weights(model, layers)
    return model, arch, build_args


def load_published(path: str | os.PathLike, arch: Optional[str] = None):
    """(Keras model with the file's weights, arch id). With ``arch`` None the network is
    detected from the weights and built with the file's channel and class counts."""
    model, arch, _ = build_for_weights(read_weight_file(path), arch)
    return model, arch


# -- preprocessing: pure numpy, registered by name in lcz_qgis.models.preprocessing ----------
def _patches(x, channels: int, what: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 4 or x.shape[-1] != channels:
        raise LczError(f"{what} needs patches (N, H, W, {channels}); got shape {x.shape}")
    return x


def so2sat_resnet20_s2_scaling(x: np.ndarray, **_) -> np.ndarray:
    """Sentinel-2 input of the So2Sat ResNet-20 (the authors' float16 rounding): the one
    implementation is the preprocessing step ``preprocessing.so2sat_resnet20_s2_scaling``."""
    from .preprocessing import so2sat_resnet20_s2_scaling as scaling

    return scaling(x)


def so2sat_s1_raw_features(sen1: np.ndarray, edges: str = "wrap") -> np.ndarray:
    """The 7 Sentinel-1 features of the So2Sat ResNet-20 before standardisation.

    From So2Sat ``sen1`` (N, H, W, 8): 1-4 Re/Im of unfiltered VH and VV, 5-6 Lee
    VH/VV intensity, 7-8 Re/Im of the Lee covariance off-diagonal. Order and
    definitions follow sen1_cnntrain_uil.getDataNormMStd (feature selection
    [1,1,1,0,0,0,0,1,1,1,1]); see ``SO2SAT_S1_FEATURES`` and
    :func:`lcz_qgis.sentinel.s1_scene_features.raw_features`. The 3x3 boxcar wraps
    around the edges of the array given, as the authors' does on their whole scene
    (``edges="repeat"``: repeats the edge pixels, as :func:`so2sat_s1_features` does
    for separate patches). ``lcz classify`` computes the features of the whole scene
    (``s1_scene_features``), never per window.
    """
    s = _patches(sen1, 8, "The So2Sat Sentinel-1 features")
    return _s1.raw_features(s, edges=edges)


def so2sat_s1_feature_stats(sen1: np.ndarray) -> dict[str, list[float]]:
    """{'mean': [7], 'std': [7]} of the per-patch raw features (as
    :func:`so2sat_s1_features` computes them) over all pixels of ``sen1``, to fix its
    standardisation."""
    f = so2sat_s1_raw_features(sen1, edges="repeat").reshape(-1, 7).astype(np.float64)
    return {"mean": f.mean(axis=0).tolist(), "std": f.std(axis=0).tolist()}


def so2sat_s1_scene_stats(
    path: str | os.PathLike, feedback=None, block_rows: Optional[int] = None
) -> dict[str, Any]:
    """Standardisation statistics of the 7 features over a whole Sentinel-1 scene.

    What the authors do before classifying a scene (sen1_cnntrain_uil.getDataNormMStd,
    called on the whole mosaic by sen1InferenceResNet.py): per feature, the mean and
    standard deviation over the scene's data mask, the features computed on the whole
    scene (3x3 boxcar wrapping at the scene border), streamed by blocks of rows; see
    :func:`lcz_qgis.sentinel.s1_scene_features.scene_stats`.

    Returns {'mean': [7], 'std': [7], 'pixels': n, 'scene': {file, width, height,
    geotransform, crs}}, ready for :func:`so2sat_s1_features` (extra keys are ignored).
    """
    return _s1.scene_stats(path, feedback, block_rows)


def so2sat_s1_features(
    x: np.ndarray,
    mean: Optional[Sequence[float]] = None,
    std: Optional[Sequence[float]] = None,
    **_,
) -> np.ndarray:
    """(N, 32, 32, 8) So2Sat ``sen1`` -> (N, 32, 32, 7) float32 input of the S1 ResNet-20.

    The authors standardise each feature with the mean and standard deviation over the
    whole scene being classified. Pass ``mean``/``std`` (7 values each, e.g. from
    :func:`so2sat_s1_scene_stats` over the scene's raster, as an imported model's
    manifest does) to fix them; then each patch's result is independent of the batch.
    Without them the statistics of ``x`` itself are used, so ``x`` should hold one whole
    scene: a batch of windows would be standardised by its own statistics.

    Per patch, the 3x3 boxcar repeats the patch's edge pixels (a patch has no scene
    around it: So2Sat HDF5 patches, the Python API). ``lcz classify`` does not use this
    per window: it computes the features on the whole scene first
    (:mod:`lcz_qgis.sentinel.s1_scene_features`) and only standardises each window.
    """
    f = so2sat_s1_raw_features(x, edges="repeat")
    if mean is None or std is None:
        stats = f.reshape(-1, 7).astype(np.float64)
        mean_a, std_a = stats.mean(axis=0), stats.std(axis=0)
    else:
        mean_a, std_a = np.asarray(mean, np.float64), np.asarray(std, np.float64)
        if mean_a.shape != (7,) or std_a.shape != (7,):
            raise LczError("so2sat_s1_features: 'mean' and 'std' need 7 values each")
    std_a = np.where(std_a > 0, std_a, 1.0)
    return ((f - mean_a) / std_a).astype(np.float32)
