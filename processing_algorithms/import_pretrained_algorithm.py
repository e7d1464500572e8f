"""lcz:importpretrained: the So2Sat authors' published weights -> .lczmodel.

Parameters, help and core call: ``lcz_qgis/commands/import_pretrained.py``.

Downloads use QGIS's network manager (``QgsBlockingNetworkRequest``), so QGIS's proxy
and SSL settings apply; it is safe in Processing's background thread. The core gets it
as its ``fetch`` callable and stays free of qgis imports.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from qgis.core import QgsBlockingNetworkRequest
from qgis.PyQt.QtCore import QUrl
from qgis.PyQt.QtNetwork import QNetworkRequest

from ..lcz_qgis.commands.import_pretrained import COMMAND
from ..lcz_qgis.common.errors import LczError
from ..lcz_qgis.models.pretrained_import import (
    MAX_DOWNLOAD_BYTES,
    offline_message,
    server_error_message,
)
from . import qgis_compat
from .spec_algorithm import SpecAlgorithm

# QNetworkReply errors below this are connection-level (refused, host not found,
# timeout, ...); 100-199 are proxy errors; from 200 the server answered with an error
_PROXY_ERRORS = range(100, 200)


def qgis_fetch(url: str, dest: Path, feedback) -> None:
    """Download ``url`` to ``dest`` through QGIS's network manager (proxy settings)."""
    request = QgsBlockingNetworkRequest()
    qgis_feedback = getattr(feedback, "qgis", None)

    def on_progress(received, total):
        if total and total > 0:
            feedback.progress(100.0 * received / total)

    request.downloadProgress.connect(on_progress)
    feedback.info("downloading with QGIS's network settings (proxy, SSL)")
    code = request.get(QNetworkRequest(QUrl(url)), True, qgis_feedback)
    feedback.check_cancelled()
    if code != qgis_compat.NETWORK_NO_ERROR:
        reply = request.reply()
        net_error = int(reply.error()) if reply is not None else -1
        message = request.errorMessage() or "unknown network error"
        if urlparse(url).scheme.lower() == "file":
            raise LczError(f"cannot read {url}: {message}")
        if code == qgis_compat.NETWORK_TIMEOUT or 0 < net_error < 100:
            raise LczError(offline_message(url, message))
        if net_error in _PROXY_ERRORS:
            raise LczError(
                offline_message(url, f"proxy error: {message}; check Settings > Options > Network")
            )
        raise LczError(server_error_message(url, message))
    content = request.reply().content()
    if len(content) > MAX_DOWNLOAD_BYTES:
        raise LczError(f"{url} is too large to be a published So2Sat weights file")
    Path(dest).write_bytes(bytes(content))
    feedback.progress(100)


class ImportPretrainedAlgorithm(SpecAlgorithm):
    COMMAND = COMMAND

    def prepare_values(self, values, objects, parameters, context, feedback):
        return {**values, "_fetch": qgis_fetch}
