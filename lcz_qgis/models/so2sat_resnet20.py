"""ResNet-20 (pre-activation bottleneck, ResNet v2) of the So2Sat global LCZ products.

The network of the So2Sat authors' LCZ classification demo: a Conv3x3(16)-BN-ReLU stem,
then 3 stages of 2 bottleneck units (BN-ReLU-Conv 1x1, 3x3, 1x1; 64, 128, 256 output
filters; stride 2 at the first unit of stages 2 and 3). The very first unit has no
BN-ReLU before its first convolution; the first unit of each stage has a 1x1
projection shortcut, the others an identity. A final BN-ReLU, 8x8 average pooling,
flatten and a dense softmax give the class probabilities. Convolutions use 'same'
padding, he_normal initialisation and L2(1e-4) kernel regularisation. 576,897 weights
for 10 channels.

Published weights (Keras 2.1.5, MIT): ``S2_RESNET20_..._IN32-32-10_...h5`` takes
(32, 32, 10) So2Sat-scale Sentinel-2 (reflectance, DN/10000, B2..B8A, B11, B12) and
``S1_RESNET20_..._IN32-32-7_...h5`` takes (32, 32, 7) Sentinel-1 features, see
:func:`lcz_qgis.models.pretrained.so2sat_s1_features`.

Source: github.com/zhu-xlab/So2Sat-LCZ-Classification-Demo, ``Modules/3_classification/
resnet_v2.py`` (``resnet_v2`` / ``resnet_v2_s1`` with depth 20), itself after the Keras
CIFAR-10 ResNet example (He et al. 2016, "Identity Mappings in Deep Residual Networks").
This is an independent implementation of the same layer graph. Cite Zhu, X.X. et al.
(2020), So2Sat LCZ42, IEEE GRSM 8(3), 76-89.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..common.bands import PATCH_SIZE
from ..common.legend import N_CLASSES

if TYPE_CHECKING:  # TensorFlow is imported when a network is built, not with this module
    from tensorflow import keras

DEPTH = 20


def _conv(x, filters: int, kernel: int, strides: int, name: str):
    from tensorflow import keras
    from tensorflow.keras import layers

    return layers.Conv2D(
        filters,
        kernel,
        strides=strides,
        padding="same",
        kernel_initializer="he_normal",
        kernel_regularizer=keras.regularizers.l2(1e-4),
        name=name,
    )(x)


def _unit(x, filters: int, kernel: int, strides: int, preact: bool, name: str):
    """(BN-ReLU-)Conv, the authors' ``resnet_layer(conv_first=False)``."""
    from tensorflow.keras import layers

    if preact:
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
        x = layers.Activation("relu", name=f"{name}_relu")(x)
    return _conv(x, filters, kernel, strides, f"{name}_conv")


def build(
    input_shape: tuple[int, int, int] = (PATCH_SIZE, PATCH_SIZE, 10),
    n_classes: int = N_CLASSES,
) -> keras.Model:
    """Build the So2Sat ResNet-20; output (N, n_classes) class probabilities."""
    from tensorflow import keras
    from tensorflow.keras import layers

    blocks_per_stage = (DEPTH - 2) // 9
    inputs = keras.Input(shape=tuple(input_shape), name="patches")
    x = _conv(inputs, 16, 3, 1, "stem_conv")
    x = layers.BatchNormalization(name="stem_bn")(x)
    x = layers.Activation("relu", name="stem_relu")(x)
    f_in = 16
    for stage in range(3):
        f_out = f_in * 4 if stage == 0 else f_in * 2
        for block in range(blocks_per_stage):
            name = f"stage{stage + 1}_block{block + 1}"
            strides = 2 if (stage > 0 and block == 0) else 1
            y = _unit(x, f_in, 1, strides, not (stage == 0 and block == 0), f"{name}_a")
            y = _unit(y, f_in, 3, 1, True, f"{name}_b")
            y = _unit(y, f_out, 1, 1, True, f"{name}_c")
            if block == 0:
                x = _conv(x, f_out, 1, strides, f"{name}_shortcut")
            # shortcut first, as in the authors' add([x, y]): it fixes the weight order
            x = layers.Add(name=f"{name}_add")([x, y])
        f_in = f_out
    x = layers.BatchNormalization(name="post_bn")(x)
    x = layers.Activation("relu", name="post_relu")(x)
    x = layers.AveragePooling2D(pool_size=8, name="avg_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    out = layers.Dense(
        n_classes, activation="softmax", kernel_initializer="he_normal", name="predictions"
    )(x)
    return keras.Model(inputs, out, name=f"so2sat_resnet20_{input_shape[-1]}ch")
