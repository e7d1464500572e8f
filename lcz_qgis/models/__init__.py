"""Model definitions, one module each, imported only when used.

``MODEL_TYPES`` maps a model type (the ``MODEL_TYPE`` parameter, ``--model-type``) to
its module and framework. Keras modules expose ``build(input_shape, n_classes=17, ...)``;
``rf`` exposes ``train(...)``.

Beside the definitions: ``model`` (``LczModel``, the one predict path), ``engines``
(what runs a network, one module per framework: ``sklearn``, ``keras``), ``modelfile``
(the ``.lczmodel`` format, ``load_model``), ``safety`` (what a model file may contain), ``preprocessing`` and ``features`` (what a manifest
names), ``flops``, and the So2Sat authors' published models (``pretrained``,
``pretrained_import``); file-to-file tools: ``upgrade`` (``upgrade_model_file``) and
``quantize`` (``quantize_model_file``: an int8 copy of a network's ONNX graph).
"""

from __future__ import annotations

import importlib

from ..common.enums import Framework
from ..common.errors import LczError

__all__ = ["MODEL_NAMES", "MODEL_TYPES", "framework", "model_module", "model_name",
           "register_custom_layers"]  # fmt: skip

# model type -> (module, framework, one-line description)
MODEL_TYPES: dict[str, tuple[str, Framework, str]] = {
    "rf": ("rf", Framework.SKLEARN, "random forest on per-patch features (scikit-learn)"),
    "mlp": ("mlp", Framework.KERAS, "the seed notebook's simple MLP (Dense 128)"),
    "mlp_diy": ("mlp", Framework.KERAS, "the seed notebook's DIY MLP (Dense 64 -> 32)"),
    "resnet50": ("resnet50", Framework.KERAS, "the seed notebook's ResNet50"),
    "fusion": (
        "fusion",
        Framework.KERAS,
        "ResNet50 on stacked S1+S2 (18 channels), as in the notebook",
    ),
    "fusion_late": ("fusion", Framework.KERAS, "two-branch late-fusion CNN for S1+S2"),
    "sen2lcznet": (
        "sen2lcznet",
        Framework.KERAS,
        "Sen2LCZ-Net, the efficient multi-level-fusion CNN",
    ),
}

# modules that define custom Keras layers, and the function of each that makes and
# registers them (a module without it registers them on import); run before any Keras
# model is loaded
_CUSTOM_LAYER_MODULES = {"fusion": "channel_slice_class"}


# a model type (or an imported network's architecture) as logs, layer names, map images
# and reports say it
MODEL_NAMES: dict[str, str] = {
    "rf": "random forest",
    "mlp": "MLP",
    "mlp_diy": "MLP (DIY)",
    "resnet50": "ResNet50",
    "fusion": "ResNet50 fusion",
    "fusion_late": "late-fusion CNN",
    "sen2lcznet": "Sen2LCZ-Net",
    "so2sat_resnet20": "So2Sat ResNet-20",
    "so2sat_resnet20_s2": "So2Sat ResNet-20",
    "so2sat_resnet20_s1": "So2Sat ResNet-20",
    "finetune": "fine-tuned network",
}


def model_name(model_type) -> str:
    """``model_type`` in words (``MODEL_NAMES``); an unknown one as it is."""
    return MODEL_NAMES.get(str(model_type), str(model_type))


def model_module(model_type: str):
    """Import and return the module that defines ``model_type`` (``MODEL_TYPES``).

    Raises:
        LczError: an unknown model type.
    """
    try:
        module, _, _ = MODEL_TYPES[model_type]
    except KeyError:
        raise LczError(
            f"unknown model type '{model_type}'; choose one of {', '.join(MODEL_TYPES)}"
        ) from None
    return importlib.import_module(f".{module}", __name__)


def framework(model_type: str) -> Framework:
    """The framework of ``model_type``: ``Framework.KERAS`` or ``Framework.SKLEARN``.

    Raises:
        LczError: an unknown model type.
    """
    if model_type not in MODEL_TYPES:
        raise LczError(f"unknown model type '{model_type}'; choose one of {', '.join(MODEL_TYPES)}")
    return MODEL_TYPES[model_type][1]


def register_custom_layers() -> None:
    """Register the custom Keras layers (``ChannelSlice``) so saved models load.

    Imports the modules that define them and calls their registering function; one
    that cannot (no TensorFlow) is skipped.
    """
    for name, maker in _CUSTOM_LAYER_MODULES.items():
        try:
            make = getattr(importlib.import_module(f".{name}", __name__), maker, None)
            if make is not None:
                make()
        except ImportError:
            pass
