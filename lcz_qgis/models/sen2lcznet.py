"""Sen2LCZ-Net: the multi-level feature fusion CNN of Qiu et al. (2020).

Four blocks of ``(depth - 1) // 4`` Conv3x3-BN-ReLU layers (16, 32, 64, 128 filters,
'same' padding). After each of the first three blocks, max pooling and average pooling
(2x2) are concatenated; dropout follows the second and third. Each of these three
pooled levels and the last block get a head (global average pooling, dense softmax),
and with ``fusion`` the output is the average of the four softmax heads; without it,
only the last head. With the defaults (10 channels, depth 17) it has 793,348 weights,
the network behind the authors' published ``_32_weights.best.hdf5``, whose weights
:func:`lcz_qgis.models.pretrained.assign_weights` loads into this model by order and shape.

Input: (32, 32, C) patches. The published model takes raw So2Sat LCZ42 ``sen2``
(10 bands B2..B8A, B11, B12 as reflectance DN/10000), with no normalisation. The
builder takes any channel count, so it doubles as the project's compact CNN trained
from scratch.

Source: Qiu, C., Tong, X., Schmitt, M., Bechtel, B., Zhu, X.X. (2020). Multilevel
Feature Fusion-Based CNN for Local Climate Zone Classification From Sentinel-2 Images:
Benchmark Results on the So2Sat LCZ42 Dataset. IEEE JSTARS 13, 2793-2806. Reference
code (MIT): github.com/ChunpingQiu/benchmark-on-So2SatLCZ42-dataset-a-simple-tour,
``model.py``, ``sen2LCZ_drop(depth=17, dropRate=0.2, fusion=1)``; this is an
independent implementation of the same layer graph.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..common.bands import PATCH_SIZE
from ..common.legend import N_CLASSES

if TYPE_CHECKING:  # TensorFlow is imported when a network is built, not with this module
    from tensorflow import keras

ARCH_ID = "sen2lcznet"


def _head(x, n_classes: int, name: str):
    from tensorflow.keras import layers

    x = layers.GlobalAveragePooling2D(name=f"{name}_gap")(x)
    return layers.Dense(n_classes, activation="softmax", kernel_initializer="he_normal", name=name)(
        x
    )


def build(
    input_shape: tuple[int, int, int] = (PATCH_SIZE, PATCH_SIZE, 10),
    n_classes: int = N_CLASSES,
    depth: int = 17,
    dropout: float = 0.2,
    fusion: bool = True,
    base_filters: int = 16,
) -> keras.Model:
    """Build Sen2LCZ-Net; output (N, n_classes) class probabilities.

    ``depth`` counts the convolutions plus one (17: 4 blocks of 4). The layer graph and
    the traversal order of layers with weights are those of the authors' model, so the
    published weights load by order (see :mod:`lcz_qgis.models.pretrained`).
    """
    from tensorflow import keras
    from tensorflow.keras import layers

    per_block = (int(depth) - 1) // 4
    if per_block < 1:
        raise ValueError(f"depth must be at least 5 (4 blocks of >= 1 conv), got {depth}")
    inputs = keras.Input(shape=tuple(input_shape), name="patches")
    x = inputs
    heads = {}
    filters = int(base_filters)
    for block in range(4):
        for i in range(per_block):
            stem = f"block{block + 1}_conv{i + 1}"
            x = layers.Conv2D(
                filters, 3, padding="same", kernel_initializer="he_normal", name=stem
            )(x)
            x = layers.BatchNormalization(axis=-1, name=f"{stem}_bn")(x)
            x = layers.Activation("relu", name=f"{stem}_relu")(x)
        if block == 3:
            break
        x = layers.Concatenate(name=f"block{block + 1}_pool")(
            [
                layers.MaxPooling2D(2, name=f"block{block + 1}_maxpool")(x),
                layers.AveragePooling2D(2, name=f"block{block + 1}_avgpool")(x),
            ]
        )
        if block > 0:
            x = layers.Dropout(dropout, name=f"block{block + 1}_dropout")(x)
        if fusion:
            heads[block] = _head(x, n_classes, f"head_level{block + 1}")
        filters *= 2
    out = _head(x, n_classes, "head_final")
    if fusion:
        # the authors' order: final head first, then the 32, 16 and 8 pixel levels;
        # it fixes the traversal order of the dense layers, hence the weight order
        out = layers.Average(name="fusion")([out, heads[0], heads[1], heads[2]])
    return keras.Model(inputs, out, name=ARCH_ID)
