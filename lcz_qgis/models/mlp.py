"""Fully connected baselines from the seed notebook (flattened 32x32xC patch -> LCZ).

``simple``: Flatten -> Dense(128, relu) -> Dropout -> Dense(n_classes, softmax).
``diy``:    Flatten -> Dense(64, relu) -> Dropout -> Dense(32, relu) -> Dropout
            -> Dense(n_classes, softmax)  (the notebook's "do it yourself" variant).
Both use Keras defaults (glorot-uniform kernels, zero biases).
"""

from __future__ import annotations

from typing import Sequence

from ..common.legend import N_CLASSES

VARIANTS = ("simple", "diy")
_HIDDEN = {"simple": (128,), "diy": (64, 32)}


def build(
    input_shape: Sequence[int],
    n_classes: int = N_CLASSES,
    variant: str = "simple",
    dropout: float = 0.2,
):
    """Build the MLP as a Keras functional model with a softmax over ``n_classes``."""
    import keras

    if variant not in _HIDDEN:
        raise ValueError(f"unknown MLP variant '{variant}'; use one of {', '.join(VARIANTS)}")
    inputs = keras.Input(shape=tuple(input_shape), name="patch")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for i, units in enumerate(_HIDDEN[variant], start=1):
        x = keras.layers.Dense(units, activation="relu", name=f"dense_{i}")(x)
        x = keras.layers.Dropout(dropout, name=f"dropout_{i}")(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=f"mlp_{variant}")
