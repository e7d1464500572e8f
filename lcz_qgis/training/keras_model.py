"""The Keras network of a training run and its optimiser.

The model types Keras trains and their builder options, the check that a model type
can take a sensor and its bands, building an untrained network, the Adam optimiser and
its learning-rate schedules, freezing every layer but the classification head (for
fine-tuning), and the inference copy a model file stores.
"""

from __future__ import annotations

import numpy as np

from ..common.bands import PATCH_SIZE
from ..common.enums import Framework, Sensor
from ..common.errors import LczError
from ..common.feedback import Feedback
from ..common.legend import N_CLASSES
from ..models import MODEL_TYPES, model_module

KERAS_MODEL_TYPES = tuple(t for t, (_, fw, _) in MODEL_TYPES.items() if fw == Framework.KERAS)
SCHEDULES = ("constant", "exponential", "cosine")
DEFAULT_LEARNING_RATE = 1e-3
DEFAULT_SCHEDULE = "constant"
# the seed notebook's ExponentialDecay: lr * 0.9 ** (step / 1000)
EXPONENTIAL_DECAY_STEPS = 1000
EXPONENTIAL_DECAY_RATE = 0.9
# Builder options per model type. sen2lcznet is trained here at 12 base filters
# (42 MFLOPs per patch, 8.4 % of the notebook ResNet50's 498 MFLOPs); the published
# width of 16 (74 MFLOPs) is model_options={"base_filters": 16}.
BUILD_OPTIONS: dict[str, dict] = {
    "mlp": {"variant": "simple"},
    "mlp_diy": {"variant": "diy"},
    "resnet50": {},
    "fusion": {"variant": "early"},
    "fusion_late": {"variant": "late"},
    "sen2lcznet": {"base_filters": 12},
}
FREEZE_CHOICES = ("none", "all-but-head")


def check_model_sensor(model_type: str, sensor: str, bands: list[int]) -> dict:
    """Builder options for ``model_type`` on these bands; errors for impossible pairs."""
    if model_type not in KERAS_MODEL_TYPES:
        raise LczError(
            f"'{model_type}' is not a Keras model type; choose one of {', '.join(KERAS_MODEL_TYPES)}"
        )
    opts = dict(BUILD_OPTIONS.get(model_type, {}))
    if model_type in ("fusion", "fusion_late") and sensor != Sensor.FUSION:
        raise LczError(
            f"model type '{model_type}' fuses Sentinel-1 and Sentinel-2: set the sensor to "
            f"'{Sensor.FUSION}' (it is '{sensor}')"
        )
    if model_type == "fusion_late":
        s1 = [b for b in bands if b < 8]
        n_s1 = len(s1)
        if n_s1 == 0 or n_s1 == len(bands) or bands[:n_s1] != s1:
            raise LczError(
                "fusion_late needs at least one Sentinel-1 and one Sentinel-2 band, with the "
                "Sentinel-1 bands (1-8) listed first"
            )
        opts["s1_channels"] = n_s1
    return opts


def build_model(model_type: str, n_channels: int, options: dict):
    """An untrained Keras ``model_type`` for 32x32 patches of ``n_channels``, 17 classes."""
    return model_module(model_type).build(
        (PATCH_SIZE, PATCH_SIZE, n_channels), N_CLASSES, **options
    )


def make_optimizer(learning_rate: float, schedule: str, total_steps: int):
    """Adam at ``learning_rate``, constant or decayed by ``schedule`` over ``total_steps``."""
    import keras

    if schedule == "constant":
        lr = learning_rate
    elif schedule == "exponential":
        lr = keras.optimizers.schedules.ExponentialDecay(
            learning_rate, EXPONENTIAL_DECAY_STEPS, EXPONENTIAL_DECAY_RATE
        )
    elif schedule == "cosine":
        lr = keras.optimizers.schedules.CosineDecay(learning_rate, max(1, total_steps))
    else:
        raise LczError(f"unknown schedule '{schedule}'; use one of {', '.join(SCHEDULES)}")
    return keras.optimizers.Adam(learning_rate=lr)


def current_learning_rate(optimizer) -> float:
    """The optimizer's learning rate at its current step (schedules evaluated)."""
    lr = optimizer.learning_rate
    if callable(lr):  # a schedule
        lr = lr(optimizer.iterations)
    return float(np.asarray(lr))


def inference_copy(keras, model):
    """The same network and weights without the optimizer (what a model file needs),
    every layer trainable again (weights copied layer by layer, by name: a frozen
    layer's weights keep their order within it, not within the model)."""
    clone = keras.models.clone_model(model)
    for layer in model.layers:
        target = clone.get_layer(layer.name)
        target.trainable = True
        if layer.weights:
            target.set_weights(layer.get_weights())
    return clone


def head_layers(model) -> list:
    """The classification head: the layers with weights nearest the output on every path
    back from it (a plain network's last Dense layer; each of Sen2LCZ-Net's four softmax
    heads). Layers without weights (activations, pooling, averaging) are passed through."""
    import tensorflow as tf

    def producer(tensor):
        # the layer that made a symbolic tensor: Keras 3 names it ``operation``, Keras 2
        # ``layer``; both keep it first in ``_keras_history``
        return tensor._keras_history[0]

    heads, seen = [], set()
    stack = [producer(t) for t in tf.nest.flatten(model.outputs)]
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if layer.weights:
            heads.append(layer)
            continue
        for node in layer._inbound_nodes:
            stack.extend(producer(t) for t in tf.nest.flatten(node.input_tensors))
    return heads


def apply_freeze(model, freeze: str, feedback: Feedback) -> list[str]:
    """Make every layer trainable (``none``) or only the head (``all-but-head``,
    ``head_layers``); frozen batch normalisations keep their statistics (inference mode).

    Returns:
        The names of the frozen layers that hold weights.
    """
    if freeze not in FREEZE_CHOICES:
        raise LczError(f"unknown freeze '{freeze}'; use one of {', '.join(FREEZE_CHOICES)}")
    head = {id(layer) for layer in head_layers(model)} if freeze == "all-but-head" else None
    frozen = []
    for layer in model.layers:
        layer.trainable = head is None or id(layer) in head
        if not layer.trainable and layer.weights:
            frozen.append(layer.name)
    if frozen:
        n = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        feedback.info(
            f"froze {len(frozen)} layers with weights; training the head only "
            f"({n:,} trainable parameters)"
        )
    return frozen
