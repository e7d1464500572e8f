"""The plugin object: registers the Processing provider, and offers to install what is
missing.

``initProcessing`` is what ``qgis_process`` calls; QGIS desktop calls it and then
``initGui``. Nothing heavy (TensorFlow, scikit-learn) is imported here. Both first
append the plugin's own package folder (where "Install dependencies" puts packages,
under QGIS's settings folder) to ``sys.path``, after QGIS's own packages. ``initGui``
adds *Plugins > LCZ mapping > Install dependencies...* and, when something that
classifying needs is missing, a message bar with an "Install dependencies" button.
"""

from qgis.core import Qgis, QgsApplication
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QPushButton

try:  # Qt 6 (QGIS 4): QtGui; Qt 5: QtWidgets
    from qgis.PyQt.QtGui import QAction
except ImportError:  # pragma: no cover - Qt 5
    from qgis.PyQt.QtWidgets import QAction

MENU = "&LCZ mapping"
INSTALL_TEXT = "Install dependencies"


def python_folder():
    """The plugin's package folder for this Python and numpy (under QGIS's settings)."""
    from .lcz_qgis.common.dependencies import target_dir

    return target_dir(QgsApplication.qgisSettingsDirPath())


class LczPlugin:
    def __init__(self, iface=None):
        self.iface = iface
        self.provider = None
        self.actions = []
        self.message = None
        self.dialog = None

    def initProcessing(self):  # noqa: N802 - QGIS API
        from .lcz_qgis.common.dependencies import add_to_path

        add_to_path(python_folder())  # appended: QGIS's numpy, GDAL, h5py come first
        if self.provider is None:
            from .processing_algorithms.provider import LczProvider

            self.provider = LczProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)
            # load again now that the provider is registered: the graphical models' steps
            # (lcz:...) resolve only then, and with them the models' outputs
            self.provider.refreshAlgorithms()

    def initGui(self):  # noqa: N802 - QGIS API
        self.initProcessing()
        self.install_gui()

    def install_gui(self):
        """The menu entry and, when classifying lacks a package pip can install, the
        message bar offering to install it (desktop only: needs ``iface``)."""
        if self.iface is None:
            return
        from .processing_algorithms.base import ICON_PATH

        action = QAction(QIcon(ICON_PATH), INSTALL_TEXT + "...", self.iface.mainWindow())
        action.triggered.connect(self.show_install_dialog)
        self.iface.addPluginToMenu(MENU, action)
        self.actions.append(action)
        self.offer_install()

    def offer_install(self):
        """A message bar with an "Install dependencies" button when something that
        classifying needs is missing and pip can install it."""
        from .lcz_qgis.common.dependencies import missing

        needs = [n.package for n in missing(["classify"]) if n.pip]
        if not needs:
            return
        bar = self.iface.messageBar()
        self.message = bar.createMessage(
            "LCZ mapping", f"classifying needs {', '.join(needs)}, which is not installed."
        )
        button = QPushButton(INSTALL_TEXT, self.message)
        button.clicked.connect(self.show_install_dialog)
        self.message.layout().addWidget(button)
        bar.pushWidget(self.message, Qgis.MessageLevel.Warning)

    def show_install_dialog(self):
        """Open the dialog listing what is missing for what."""
        from .install_dialog import InstallDialog
        from .lcz_qgis.common.dependencies import missing

        if self.message is not None:
            try:
                self.iface.messageBar().popWidget(self.message)
            except RuntimeError:  # the user closed it: Qt deleted it
                pass
            self.message = None
        if self.dialog is None or not self.dialog.isVisible():
            self.dialog = InstallDialog(missing(), python_folder(), self.iface.mainWindow())
        self.dialog.show()
        self.dialog.raise_()

    def unload(self):
        for action in self.actions:
            self.iface.removePluginMenu(MENU, action)
        self.actions = []
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
