"""The "Install dependencies" dialog: what is missing for what, installed with pip.

It lists the packages ``lcz_qgis.common.dependencies.missing`` reports, with what each
is for; the ticked ones are installed by ``dependencies.install`` (QGIS's own Python,
pinned versions, the plugin's folder appended to ``sys.path``) in a ``QgsTask``, so QGIS
stays usable; pip's log shows in the dialog as it comes, then the result. Packages that
must come from the distribution that installed QGIS (numpy, h5py, rasterio) are listed
with that advice and cannot be ticked.
"""

from __future__ import annotations

from qgis.core import QgsApplication, QgsTask
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
)

from .lcz_qgis.common import dependencies
from .lcz_qgis.common.errors import Cancelled, LczError
from .lcz_qgis.common.feedback import Feedback

TITLE = "LCZ mapping: install dependencies"
FROM_QGIS = "from the distribution that installed QGIS (not with pip)"
DEFAULT_FEATURES = ("classify",)  # ticked at first; TensorFlow is hundreds of MB


class _TaskFeedback(Feedback):
    """Sends each message to the task's ``line`` signal; cancelled with the task."""

    def __init__(self, task: InstallTask):
        self.task = task

    def info(self, message: str) -> None:
        self.task.line.emit(self.text(message))

    def warning(self, message: str) -> None:
        self.task.line.emit("warning: " + self.text(message))

    def is_cancelled(self) -> bool:
        return self.task.isCanceled()


class InstallTask(QgsTask):
    """Runs ``installer(packages, target, feedback, **options)`` in QGIS's task manager.

    Signals (queued to the dialog, which lives in the main thread): ``line(str)`` for
    each log line, ``done(bool, str)`` when over (ok, the result for the user).
    """

    line = pyqtSignal(str)
    done = pyqtSignal(bool, str)

    def __init__(self, packages, target, installer=dependencies.install, **options):
        super().__init__("Installing the LCZ mapping plugin's dependencies")
        self.packages, self.target = list(packages), target
        self.installer, self.options = installer, options
        self.message = ""

    def run(self) -> bool:  # a worker thread
        try:
            result = self.installer(self.packages, self.target, _TaskFeedback(self), **self.options)
        except Cancelled:
            self.message = "Cancelled: nothing was changed."
            return False
        except LczError as exc:
            self.message = f"Not installed: {exc}"
            return False
        except Exception as exc:  # noqa: BLE001 - shown to the user, never a traceback
            self.message = f"Not installed: {type(exc).__name__}: {exc}"
            return False
        self.message = result.summary()
        return result.ok

    def finished(self, ok: bool) -> None:  # the main thread
        self.done.emit(bool(ok), self.message or "Not installed.")


class InstallDialog(QDialog):
    """The dialog: the missing packages (ticked ones are installed), pip's log, the result.

    Args:
        needs: ``dependencies.Need`` items to list (``dependencies.missing()``).
        target: the folder packages go into (``dependencies.target_dir``).
        installer: ``dependencies.install`` (tests give another).
        options: more keywords for the installer (``index_url``, ``find_links``).
    """

    def __init__(self, needs, target, parent=None, installer=dependencies.install, **options):
        super().__init__(parent)
        self.setWindowTitle(TITLE)
        self.target, self.installer, self.options = target, installer, options
        self.task: InstallTask | None = None
        layout = QVBoxLayout(self)
        self.intro = QLabel(
            "These Python packages are missing. The ticked ones are installed with pip into "
            f"{target}, which QGIS searches after its own packages."
        )
        self.intro.setWordWrap(True)
        layout.addWidget(self.intro)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Package", "Needed for"])
        self.tree.setRootIsDecorated(False)
        layout.addWidget(self.tree)
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setPlaceholderText("pip's log shows here.")
        layout.addWidget(self.log)
        self.result = QLabel("")
        self.result.setWordWrap(True)
        layout.addWidget(self.result)
        self.buttons = QDialogButtonBox()
        self.install_button = QPushButton("Install")
        self.install_button.clicked.connect(self.start)
        self.buttons.addButton(self.install_button, QDialogButtonBox.ButtonRole.AcceptRole)
        self.cancel_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.close_button.clicked.connect(self.close)
        layout.addWidget(self.buttons)
        self.resize(720, 520)
        self.tree.itemChanged.connect(self.update_buttons)
        self.show_needs(needs)
        if not needs:
            self.result.setText("Nothing is missing.")

    def show_needs(self, needs) -> None:
        """List ``needs``: one row per package, ticked when it is for a default feature."""
        self.tree.clear()
        for need in needs:
            purpose = dependencies.FEATURES.get(need.feature, need.feature)
            item = QTreeWidgetItem(
                [need.package, purpose if need.pip else f"{purpose}: {FROM_QGIS}"]
            )
            item.setData(0, Qt.ItemDataRole.UserRole, need.package)
            if need.pip:
                item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
                ticked = need.feature in DEFAULT_FEATURES
                item.setCheckState(0, Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)
            else:
                off = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable
                item.setFlags(item.flags() & ~off)
            self.tree.addTopLevelItem(item)
        self.tree.resizeColumnToContents(0)
        self.update_buttons()

    def update_buttons(self) -> None:
        """Install is enabled when something is ticked and no install runs."""
        self.install_button.setEnabled(self.task is None and bool(self.selected()))
        self.cancel_button.setEnabled(self.task is not None)

    def selected(self) -> list[str]:
        """The packages ticked."""
        out = []
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if item.checkState(0) == Qt.CheckState.Checked:
                out.append(item.data(0, Qt.ItemDataRole.UserRole))
        return out

    def start(self) -> None:
        """Install the ticked packages in a task; the dialog stays responsive."""
        packages = self.selected()
        if not packages or self.task is not None:
            return
        self.log.clear()
        self.result.setText(f"Installing {', '.join(packages)}...")
        self.task = InstallTask(packages, self.target, self.installer, **self.options)
        self.task.line.connect(self.log.appendPlainText)
        self.task.done.connect(self.finish)
        self.update_buttons()
        QgsApplication.taskManager().addTask(self.task)

    def cancel(self) -> None:
        """Cancel a running install (pip is stopped, the folder stays as it was)."""
        if self.task is not None:
            self.task.cancel()
        else:
            self.close()

    def finish(self, ok: bool, message: str) -> None:
        """Show the result; make what was installed importable now; list what is left."""
        self.task = None
        dependencies.add_to_path(self.target)
        listed = self.packages_listed()
        self.show_needs([n for n in dependencies.missing() if n.package in listed])
        self.result.setText(message)
        if not ok:
            self.log.appendPlainText(message)

    def packages_listed(self) -> set[str]:
        """The packages the list shows."""
        items = (self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount()))
        return {item.data(0, Qt.ItemDataRole.UserRole) for item in items}
