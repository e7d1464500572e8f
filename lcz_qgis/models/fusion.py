"""Sentinel-1 + Sentinel-2 fusion models on one stacked input (S1 channels first).

``early``: the seed notebook's fusion model, i.e. its ResNet50 on the stacked
    18 channels (``resnet50.build``), 23,631,377 parameters for (32, 32, 18).
``late``: a compact two-branch late-fusion CNN (about 0.6 M parameters). The input
    is split inside the model with :class:`ChannelSlice` into the first
    ``s1_channels`` (SAR) and the rest (optical); each part goes through its own
    small CNN (input BatchNormalization as a learned per-channel standardisation,
    then 3x3 conv-BN-ReLU pairs at 32/64/128 filters with 2x2 max-pooling and global
    average pooling), the two 128-d feature vectors are concatenated and classified
    by a Dropout -> Dense(128, relu) -> Dropout -> Dense(softmax) head. Keeping the
    modalities apart until the features lets each branch adapt to its own
    statistics (SAR speckle vs. reflectance) instead of mixing them in the first conv.

No Lambda layers: ``ChannelSlice`` is registered as ``lcz>ChannelSlice`` so a saved
``.keras`` file loads with ``keras.models.load_model(path, safe_mode=True)`` once
:func:`channel_slice_class` has run. Importing this module loads no TensorFlow: the layer
class is made (and registered) on first use, ``fusion.ChannelSlice`` included.
"""

from __future__ import annotations

import sys
from typing import Sequence

from ..common.bands import PATCH_SIZE
from ..common.legend import N_CLASSES
from . import resnet50

VARIANTS = ("early", "late")
_CLASSES: dict = {}


def _make_channel_slice():
    import keras

    @keras.saving.register_keras_serializable(package="lcz")
    class ChannelSlice(keras.layers.Layer):
        """Select channels ``[start, stop)`` of the last axis."""

        def __init__(self, start: int, stop: int, **kwargs) -> None:
            super().__init__(**kwargs)
            if not 0 <= int(start) < int(stop):
                raise ValueError(f"ChannelSlice needs 0 <= start < stop, got {start}, {stop}")
            self.start = int(start)
            self.stop = int(stop)

        def call(self, inputs):
            """Channels ``[start, stop)`` of ``inputs`` (..., C): shape (..., stop - start)."""
            return inputs[..., self.start : self.stop]

        def compute_output_shape(self, input_shape):
            """``input_shape`` with its last axis ``stop - start``."""
            shape = list(input_shape)
            shape[-1] = self.stop - self.start
            return tuple(shape)

        def get_config(self) -> dict:
            """The layer's config plus ``start`` and ``stop``, so a saved model reloads it."""
            config = super().get_config()
            config.update({"start": self.start, "stop": self.stop})
            return config

    ChannelSlice.__module__ = __name__
    ChannelSlice.__qualname__ = "ChannelSlice"
    return ChannelSlice


def channel_slice_class():
    """The ``ChannelSlice`` layer class, made and registered (``lcz>ChannelSlice``) on
    the first call: importing this module loads no Keras."""
    if "ChannelSlice" not in _CLASSES:
        _CLASSES["ChannelSlice"] = _make_channel_slice()
    return _CLASSES["ChannelSlice"]


def __getattr__(name: str):
    if name == "ChannelSlice":
        return channel_slice_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _conv_bn_relu(x, filters: int, name: str):
    import keras

    x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name + "_conv")(x)
    x = keras.layers.BatchNormalization(name=name + "_bn")(x)
    return keras.layers.Activation("relu", name=name + "_relu")(x)


def _branch(x, prefix: str, widths: Sequence[int] = (32, 64, 128)):
    import keras

    x = keras.layers.BatchNormalization(name=f"{prefix}_input_bn")(x)
    for i, filters in enumerate(widths, start=1):
        x = _conv_bn_relu(x, filters, f"{prefix}_b{i}a")
        x = _conv_bn_relu(x, filters, f"{prefix}_b{i}b")
        if i < len(widths):
            x = keras.layers.MaxPooling2D(2, name=f"{prefix}_pool{i}")(x)
    return keras.layers.GlobalAveragePooling2D(name=f"{prefix}_gap")(x)


def build_late(
    input_shape: Sequence[int] = (PATCH_SIZE, PATCH_SIZE, 18),
    n_classes: int = N_CLASSES,
    s1_channels: int = 8,
    dropout: float = 0.3,
):
    """The two-branch late-fusion CNN; channels ``[0, s1_channels)`` are the S1 branch."""
    import keras

    channel_slice = channel_slice_class()
    input_shape = tuple(input_shape)
    n_channels = int(input_shape[-1])
    if not 0 < s1_channels < n_channels:
        raise ValueError(
            f"late fusion needs 0 < s1_channels < channels, got s1_channels={s1_channels} "
            f"for {n_channels} input channels"
        )
    inputs = keras.Input(shape=input_shape, name="patch")
    s1 = channel_slice(0, s1_channels, name="s1_channels")(inputs)
    s2 = channel_slice(s1_channels, n_channels, name="s2_channels")(inputs)
    features = keras.layers.Concatenate(name="features")([_branch(s1, "s1"), _branch(s2, "s2")])
    x = keras.layers.Dropout(dropout, name="head_dropout_1")(features)
    x = keras.layers.Dense(128, activation="relu", name="head_dense")(x)
    x = keras.layers.Dropout(dropout, name="head_dropout_2")(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="fusion_late")


def build(
    input_shape: Sequence[int] = (PATCH_SIZE, PATCH_SIZE, 18),
    n_classes: int = N_CLASSES,
    variant: str = "early",
    s1_channels: int = 8,
):
    """Build the ``early`` (notebook ResNet50) or ``late`` (two-branch) fusion model."""
    if variant == "early":
        return resnet50.build(input_shape, n_classes, name="fusion_early")
    if variant == "late":
        return build_late(input_shape, n_classes, s1_channels=s1_channels)
    raise ValueError(f"unknown fusion variant '{variant}'; use one of {', '.join(VARIANTS)}")


# A caller that has Keras loaded already and imports this module to register the
# plugin's layers (``models.register_custom_layers``) finds them registered.
if "keras" in sys.modules:
    channel_slice_class()
