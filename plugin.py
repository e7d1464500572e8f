"""The plugin object: registers the Processing provider.

``initProcessing`` is what ``qgis_process`` calls; QGIS desktop calls it and then
``initGui``. Nothing heavy (TensorFlow, scikit-learn) is imported here.
"""

from qgis.core import QgsApplication


class LczPlugin:
    def __init__(self, iface=None):
        self.iface = iface
        self.provider = None

    def initProcessing(self):  # noqa: N802 - QGIS API
        if self.provider is None:
            from .processing_algorithms.provider import LczProvider

            self.provider = LczProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)
            # load again now that the provider is registered: the graphical models' steps
            # (lcz:...) resolve only then, and with them the models' outputs
            self.provider.refreshAlgorithms()

    def initGui(self):  # noqa: N802 - QGIS API
        self.initProcessing()

    def unload(self):
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
