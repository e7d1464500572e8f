"""QGIS plugin entry point: LCZ mapping (Local Climate Zones from Sentinel-1/2)."""


def classFactory(iface):  # noqa: N802 - QGIS API
    from .plugin import LczPlugin

    return LczPlugin(iface)
