"""The seed notebook's ResNet50 for 32x32xC So2Sat patches.

Source of the architecture: the "Remote Sensing Advanced Methods" So2Sat LCZ42 tutorial
notebook, github.com/acamero/rsam-lcz42, ``lcz42_intro.ipynb`` (version at commit
13136390f51044d30e0bf4c4e32fc19b734a579a), which adapts the keras-applications
ResNet50. See docs/notebook_facts.md. Rebuilt here layer for layer:

* ZeroPadding2D(3) -> Conv2D(64, 7x7, stride 2, valid) -> BN -> ReLU
  -> MaxPool2D(3x3, stride 2, valid).  32x32 -> 38 -> 16 -> 7.
* Stage 2: conv block [32, 32, 256] stride 1, identity blocks [64, 64, 256] x2
  (the bottleneck of the identity blocks really is 64 while the conv block's is 32).
* Stage 3: conv block [128, 128, 512] stride **1**, identity x3          (7x7).
* Stage 4: conv block [256, 256, 1024] stride 2, identity x5             (4x4).
* Stage 5: conv block [512, 512, 2048] stride 2, identity x2             (2x2).
* AveragePooling2D(2x2) -> Flatten -> Dense(n_classes, softmax).

Blocks are 1x1 (stride s, valid) -> kxk (same) -> 1x1 bottlenecks, each conv with a
bias and followed by BatchNormalization(axis=3, Keras defaults); the conv block's
shortcut is a 1x1 conv (stride s) + BN. Conv kernels use GlorotUniform(seed=0) as in the
notebook; the Dense layer uses an unseeded glorot-uniform initializer.

Parameter count for input (32, 32, 10) and 17 classes: 23,606,289 (23,553,297
trainable + 52,992 non-trainable BatchNormalization moving statistics); for C channels
it is 23,606,289 + 3,136 * (C - 10) (the 7x7x64 stem kernel), e.g. 23,631,377 for the
18-channel fusion input. Checked by hand from the layer shapes.
"""

from __future__ import annotations

from typing import Sequence

from ..common.legend import N_CLASSES

PARAMS_C10 = 23_606_289

# (stage, filters, conv-block stride, number of identity blocks)
_STAGES = (
    (3, (128, 128, 512), 1, 3),
    (4, (256, 256, 1024), 2, 5),
    (5, (512, 512, 2048), 2, 2),
)


def _conv(keras, filters: int, kernel, strides, padding: str, name: str):
    return keras.layers.Conv2D(
        filters,
        kernel,
        strides=strides,
        padding=padding,
        name=name,
        kernel_initializer=keras.initializers.GlorotUniform(seed=0),
    )


def _bottleneck(keras, x, kernel_size: int, filters, stage: int, block: str, strides, shortcut):
    """Three-conv bottleneck; ``shortcut=True`` adds the projection (the "conv block")."""
    f1, f2, f3 = filters
    conv = f"res{stage}{block}_branch"
    bn = f"bn{stage}{block}_branch"
    y = _conv(keras, f1, (1, 1), strides, "valid", conv + "2a")(x)
    y = keras.layers.BatchNormalization(axis=3, name=bn + "2a")(y)
    y = keras.layers.Activation("relu")(y)
    y = _conv(keras, f2, kernel_size, (1, 1), "same", conv + "2b")(y)
    y = keras.layers.BatchNormalization(axis=3, name=bn + "2b")(y)
    y = keras.layers.Activation("relu")(y)
    y = _conv(keras, f3, (1, 1), (1, 1), "valid", conv + "2c")(y)
    y = keras.layers.BatchNormalization(axis=3, name=bn + "2c")(y)
    if shortcut:
        x = _conv(keras, f3, (1, 1), strides, "valid", conv + "1")(x)
        x = keras.layers.BatchNormalization(axis=3, name=bn + "1")(x)
    y = keras.layers.Add()([y, x])
    return keras.layers.Activation("relu")(y)


def build(input_shape: Sequence[int], n_classes: int = N_CLASSES, name: str = "ResNet50"):
    """Build the notebook's ResNet50 (functional Keras model, softmax output)."""
    import keras

    inputs = keras.Input(shape=tuple(input_shape), name="patch")
    x = keras.layers.ZeroPadding2D(padding=(3, 3))(inputs)
    x = _conv(keras, 64, (7, 7), (2, 2), "valid", "conv1")(x)
    x = keras.layers.BatchNormalization(axis=3, name="bn_conv1")(x)
    x = keras.layers.Activation("relu")(x)
    x = keras.layers.MaxPooling2D(pool_size=(3, 3), strides=(2, 2))(x)

    x = _bottleneck(keras, x, 3, (32, 32, 256), 2, "a", (1, 1), shortcut=True)
    for block in "bc":
        x = _bottleneck(keras, x, 3, (64, 64, 256), 2, block, (1, 1), shortcut=False)
    for stage, filters, stride, n_identity in _STAGES:
        x = _bottleneck(keras, x, 3, filters, stage, "a", (stride, stride), shortcut=True)
        for block in "bcdef"[:n_identity]:
            x = _bottleneck(keras, x, 3, filters, stage, block, (1, 1), shortcut=False)

    x = keras.layers.AveragePooling2D((2, 2), name="avg_pool")(x)
    x = keras.layers.Flatten()(x)
    outputs = keras.layers.Dense(
        n_classes,
        activation="softmax",
        name=f"fc{n_classes}",
        kernel_initializer="glorot_uniform",
    )(x)
    return keras.Model(inputs, outputs, name=name)
