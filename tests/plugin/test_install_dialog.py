"""The "Install dependencies" dialog and message bar (issue 23, item 4), offscreen: the
list of what is missing for what, the install running in a QgsTask while the dialog
stays responsive, pip's log and the result in the dialog, a cancel, and the message bar
the plugin shows when classifying lacks a package."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import time

import pytest

pytestmark = pytest.mark.qgis


@pytest.fixture()
def plugin_modules(qgis_app):
    """The plugin's own modules, as QGIS loaded them (package ``lcz_mapping``)."""
    return (importlib.import_module("lcz_mapping.install_dialog"),
            importlib.import_module("lcz_mapping.lcz_qgis.common.dependencies"))  # fmt: skip


def _rows(dialog) -> list:
    from qgis.PyQt.QtCore import Qt

    tree = dialog.tree
    out = []
    for i in range(tree.topLevelItemCount()):
        item = tree.topLevelItem(i)
        checkable = bool(item.flags() & Qt.ItemFlag.ItemIsUserCheckable)
        out.append((item.text(0), item.text(1), checkable,
                    checkable and item.checkState(0) == Qt.CheckState.Checked,
                    bool(item.flags() & Qt.ItemFlag.ItemIsEnabled)))  # fmt: skip
    return out


def _wait(condition, seconds=30.0):
    from qgis.PyQt.QtCore import QCoreApplication

    end = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < end, "timed out"
        QCoreApplication.processEvents()
        time.sleep(0.01)


def test_the_dialog_lists_what_is_missing_for_what(plugin_modules, tmp_path):
    dialog_mod, deps = plugin_modules
    needs = [deps.Need("classify", "onnxruntime", "onnxruntime"),
             deps.Need("deep", "tensorflow", "tensorflow-cpu"),
             deps.Need("classify", "h5py", "h5py", pip=False)]  # fmt: skip
    dialog = dialog_mod.InstallDialog(needs, tmp_path / "py")
    dialog.show()
    classify, deep = deps.FEATURES["classify"], deps.FEATURES["deep"]
    assert _rows(dialog) == [
        ("onnxruntime", classify, True, True, True),  # ticked: classifying needs it
        ("tensorflow-cpu", deep, True, False, True),  # hundreds of MB: the user ticks it
        ("h5py", f"{classify}: {dialog_mod.FROM_QGIS}", False, False, False),
    ]
    assert str(tmp_path / "py") in dialog.intro.text()
    assert dialog.selected() == ["onnxruntime"] and dialog.install_button.isEnabled()
    from qgis.PyQt.QtCore import Qt

    dialog.tree.topLevelItem(0).setCheckState(0, Qt.CheckState.Unchecked)
    assert dialog.selected() == [] and not dialog.install_button.isEnabled()
    dialog.tree.topLevelItem(1).setCheckState(0, Qt.CheckState.Checked)
    assert dialog.selected() == ["tensorflow-cpu"] and dialog.install_button.isEnabled()
    dialog.close()


def test_the_install_runs_in_a_task_with_its_log_and_result(plugin_modules, tmp_path):
    dialog_mod, deps = plugin_modules
    go_on = threading.Event()
    calls = []

    def installer(packages, target, feedback, **options):
        calls.append((packages, target, options, threading.current_thread()))
        feedback.info("Looking in links: /wheels")
        assert go_on.wait(30)  # released by the test once the dialog showed the line
        feedback.info("Successfully installed onnxruntime-1.32.0")
        return deps.InstallResult(target, ["onnxruntime==1.32.0"])

    needs = [deps.Need("classify", "onnxruntime", "onnxruntime")]
    dialog = dialog_mod.InstallDialog(needs, tmp_path / "py", installer=installer,
                                      find_links="/wheels")  # fmt: skip
    dialog.show()
    dialog.start()
    assert not dialog.install_button.isEnabled() and dialog.cancel_button.isEnabled()
    # the GUI thread keeps running while the install waits: the first line shows
    _wait(lambda: "Looking in links" in dialog.log.toPlainText())
    go_on.set()
    _wait(lambda: dialog.task is None)
    packages, target, options, thread = calls[0]
    assert packages == ["onnxruntime"] and target == tmp_path / "py"
    assert options == {"find_links": "/wheels"} and thread is not threading.main_thread()
    assert "Successfully installed onnxruntime-1.32.0" in dialog.log.toPlainText()
    assert dialog.result.text().startswith("Installed onnxruntime==1.32.0 into")
    assert not dialog.cancel_button.isEnabled()
    # the list keeps only what is still missing
    still = importlib.util.find_spec("onnxruntime") is None
    assert [r[0] for r in _rows(dialog)] == (["onnxruntime"] if still else [])
    dialog.close()


def test_cancel_stops_the_install_and_says_so(plugin_modules, tmp_path, monkeypatch):
    dialog_mod, deps = plugin_modules
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # still missing afterwards
    started = threading.Event()

    def installer(packages, target, feedback, **options):
        started.set()
        end = time.monotonic() + 30
        while time.monotonic() < end:
            feedback.check_cancelled()
            time.sleep(0.01)
        raise AssertionError("never cancelled")

    needs = [deps.Need("classify", "onnxruntime", "onnxruntime")]
    dialog = dialog_mod.InstallDialog(needs, tmp_path / "py", installer=installer)
    dialog.start()
    _wait(started.is_set)
    dialog.cancel()
    _wait(lambda: dialog.task is None)
    assert dialog.result.text() == "Cancelled: nothing was changed."
    assert dialog.install_button.isEnabled()  # onnxruntime still missing, still ticked
    dialog.close()


def test_a_failed_install_shows_the_error(plugin_modules, tmp_path):
    dialog_mod, deps = plugin_modules
    errors = importlib.import_module("lcz_mapping.lcz_qgis.common.errors")

    def installer(packages, target, feedback, **options):
        raise errors.LczError("pip is not installed for this Python (/usr/bin/python3)")

    needs = [deps.Need("classify", "onnxruntime", "onnxruntime")]
    dialog = dialog_mod.InstallDialog(needs, tmp_path / "py", installer=installer)
    dialog.start()
    _wait(lambda: dialog.task is None)
    assert (
        dialog.result.text()
        == "Not installed: pip is not installed for this Python (/usr/bin/python3)"
    )
    assert dialog.result.text() in dialog.log.toPlainText()
    dialog.close()


class _Iface:
    """What the plugin uses of QGIS's iface: a real message bar, a menu recorder."""

    def __init__(self):
        from qgis.gui import QgsMessageBar

        self.bar = QgsMessageBar()
        self.menus = []

    def messageBar(self):  # noqa: N802 - QGIS API
        return self.bar

    def mainWindow(self):  # noqa: N802 - QGIS API
        return None

    def addPluginToMenu(self, menu, action):  # noqa: N802 - QGIS API
        self.menus.append((menu, action.text()))

    def removePluginMenu(self, menu, action):  # noqa: N802 - QGIS API
        self.menus.remove((menu, action.text()))


def test_the_message_bar_offers_to_install_what_classifying_lacks(qgis_app, monkeypatch):
    from qgis.PyQt.QtWidgets import QPushButton

    plugin_mod = importlib.import_module("lcz_mapping.plugin")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # not installed
    iface = _Iface()
    plugin = plugin_mod.LczPlugin(iface)
    plugin.install_gui()
    assert iface.menus == [("&LCZ mapping", "Install dependencies...")]
    item = iface.bar.currentItem()
    assert item is not None and "onnxruntime" in item.text()
    button = [b for b in item.findChildren(QPushButton) if b.text() == "Install dependencies"]
    assert len(button) == 1
    button[0].click()
    dialog = plugin.dialog
    assert dialog is not None and dialog.isVisible()
    assert "onnxruntime" in [r[0] for r in _rows(dialog)]
    assert iface.bar.currentItem() is None  # the offer is gone
    dialog.close()
    plugin.unload()
    assert iface.menus == []
    # nothing missing: no message
    monkeypatch.delitem(sys.modules, "onnxruntime")
    quiet = plugin_mod.LczPlugin(_Iface())
    if not [n for n in importlib.import_module("lcz_mapping.lcz_qgis.common.dependencies")
            .missing(["classify"]) if n.pip]:  # fmt: skip
        quiet.install_gui()
        assert quiet.iface.bar.currentItem() is None
        quiet.unload()


def test_a_missing_package_in_an_algorithm_points_to_the_installer(qgis_app):
    from qgis.core import QgsApplication

    plugin_mod = importlib.import_module("lcz_mapping.plugin")
    errors = importlib.import_module("lcz_mapping.lcz_qgis.common.errors")
    alg = QgsApplication.processingRegistry().algorithmById("lcz:classifyraster")
    text = alg.error_text(errors.MissingDependency("onnxruntime", "Predicting with ONNX models"))
    menu = f"Plugins > {plugin_mod.MENU.replace('&', '')} > {plugin_mod.INSTALL_TEXT}"
    assert menu == "Plugins > LCZ mapping > Install dependencies" and menu in text
