"""Analytic FLOPs per input patch of a Keras model, from layer configs and shapes.

Counted (1 multiply-add = 2 FLOPs, bias additions ignored):

* ``Conv1D/2D/3D``: 2 * prod(kernel shape) * output positions, where the kernel shape
  is (*k, C_in / groups, C_out), so grouped convolutions are handled.
* ``Conv*Transpose``: 2 * prod(kernel shape) * input positions.
* ``DepthwiseConv1D/2D``: 2 * prod(k) * C_in * depth_multiplier * output positions.
* ``SeparableConv1D/2D``: the depthwise part plus a 1x1 pointwise conv.
* ``Dense``: 2 * inputs * units per output row (times any extra leading axes).
* ``Model`` used as a layer: its own count, once per call.

Not counted (cheap next to the above and ignored by convention): BatchNormalization,
activations, pooling, Add/Concatenate, Dropout, padding, reshaping. For the notebook
ResNet50 they would add well under 1 %. No TensorFlow profiler is used; only the
model's built layers are read, so this works for any built functional/Sequential model.
"""

from __future__ import annotations

import math


def _prod(values) -> int:
    return int(math.prod(int(v) for v in values))


def _nodes(layer) -> list:
    """The calls (nodes) of ``layer``: Keras 3's ``_inbound_nodes`` (Keras 2 had them
    public as ``inbound_nodes`` too)."""
    return list(getattr(layer, "_inbound_nodes", None) or getattr(layer, "inbound_nodes", []))


def _first_tensor(tensors):
    while isinstance(tensors, (list, tuple)):
        tensors = tensors[0]
    return tensors


def _shapes(layer, attr: str) -> list[tuple]:
    """Input or output shapes (``attr``: "input"/"output") of every call of ``layer``
    (of the first tensor of each call), read from its nodes."""
    nodes = _nodes(layer)
    if len(nodes) > 1:
        key = "input_tensors" if attr == "input" else "outputs"
        return [tuple(_first_tensor(getattr(node, key)).shape) for node in nodes]
    return [tuple(_first_tensor(getattr(layer, attr)).shape)]


def _positions(shape: tuple, channels_last: bool) -> int:
    """Number of spatial positions of a (batch, ..., C) or (batch, C, ...) shape."""
    spatial = shape[1:-1] if channels_last else shape[2:]
    return _prod(spatial)


def _layer_flops(layer) -> int:
    import keras

    layers = keras.layers
    if isinstance(layer, keras.Model):
        calls = max(1, len(_nodes(layer)))
        return count_flops(layer) * calls
    if isinstance(layer, layers.Dense):
        return sum(
            2 * int(layer.kernel.shape[0]) * int(layer.units) * _prod(s[1:-1])
            for s in _shapes(layer, "output")
        )
    channels_last = getattr(layer, "data_format", "channels_last") != "channels_first"
    separable = tuple(
        cls
        for cls in (getattr(layers, "SeparableConv1D", None), layers.SeparableConv2D)
        if cls is not None
    )
    depthwise = tuple(
        cls
        for cls in (getattr(layers, "DepthwiseConv1D", None), layers.DepthwiseConv2D)
        if cls is not None
    )
    transpose = tuple(
        cls
        for cls in (
            getattr(layers, "Conv1DTranspose", None),
            getattr(layers, "Conv2DTranspose", None),
            getattr(layers, "Conv3DTranspose", None),
        )
        if cls is not None
    )
    if isinstance(layer, separable):
        k = _prod(layer.kernel_size)
        total = 0
        for shape in _shapes(layer, "output"):
            pos = _positions(shape, channels_last)
            c_in = int(layer.depthwise_kernel.shape[-2])
            mult = int(layer.depth_multiplier)
            total += 2 * pos * (k * c_in * mult + c_in * mult * int(layer.filters))
        return total
    if isinstance(layer, depthwise):
        # Keras 3 names a DepthwiseConv's kernel ``kernel``; Keras 2 ``depthwise_kernel``
        kernel = getattr(layer, "depthwise_kernel", None)
        kernel = (layer.kernel if kernel is None else kernel).shape
        return sum(
            2 * _prod(kernel) * _positions(s, channels_last) for s in _shapes(layer, "output")
        )
    if isinstance(layer, transpose):
        return sum(
            2 * _prod(layer.kernel.shape) * _positions(s, channels_last)
            for s in _shapes(layer, "input")
        )
    if isinstance(layer, (layers.Conv1D, layers.Conv2D, layers.Conv3D)):
        return sum(
            2 * _prod(layer.kernel.shape) * _positions(s, channels_last)
            for s in _shapes(layer, "output")
        )
    return 0


def count_flops(model) -> int:
    """FLOPs (2 x multiply-adds) for one input sample of a built Keras ``model``."""
    return int(sum(_layer_flops(layer) for layer in model.layers))
