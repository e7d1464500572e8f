"""QGIS plugin entry point: LCZ mapping (Local Climate Zones from Sentinel-1/2)."""


def classFactory(iface):  # noqa: N802 - QGIS API
    # before anything can import TensorFlow: QGIS's programs link a system protobuf that
    # would make TensorFlow abort the whole of QGIS (lcz_qgis/common/tensorflow_import.py)
    from .lcz_qgis.common.tensorflow_import import guard_tensorflow_import
    from .plugin import LczPlugin

    guard_tensorflow_import()
    return LczPlugin(iface)
