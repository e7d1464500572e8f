"""lcz_qgis: Local Climate Zone mapping from Sentinel-1/2 with So2Sat LCZ42 models.

The core of the QGIS plugin. It never imports qgis, and imports TensorFlow and
scikit-learn only when a model needs them. Start with:

    import lcz_qgis
    model = lcz_qgis.load_model("city.lczmodel")
    probabilities = model.predict_proba(patches)  # (N,32,32,C) -> (N,17)
"""

__version__ = "0.1.0"


def load_model(path, sensor=None, runtime="auto"):
    """Load a model file (``.lczmodel``, or a plain Keras ``.keras`` / ``.h5``);
    ``runtime``: auto, onnx or tensorflow (``models.modelfile.load_model``)."""
    from .models.modelfile import load_model as _load

    return _load(path, sensor=sensor, runtime=runtime)


__all__ = ["__version__", "load_model"]
