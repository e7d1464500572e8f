"""lcz:importpretrained: the So2Sat authors' published weights -> .lczmodel.

Downloads use QGIS's network manager (``QgsBlockingNetworkRequest``), so QGIS's proxy
and SSL settings apply; it is safe in Processing's background thread. The core gets it
as its ``fetch`` callable and stays free of qgis imports.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from qgis.core import (
    QgsBlockingNetworkRequest,
    QgsProcessingOutputBoolean,
    QgsProcessingOutputString,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFile,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterRasterLayer,
)
from qgis.PyQt.QtCore import QUrl
from qgis.PyQt.QtNetwork import QNetworkRequest

from ..lcz_qgis.errors import LczError
from ..lcz_qgis.pretrained import PUBLISHED
from ..lcz_qgis.pretrained_import import (
    ARCHITECTURES,
    AUTO,
    MAX_DOWNLOAD_BYTES,
    import_pretrained,
    offline_message,
    server_error_message,
)
from .base import MODELS, LczAlgorithm

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
    if code != QgsBlockingNetworkRequest.NoError:
        reply = request.reply()
        net_error = int(reply.error()) if reply is not None else -1
        message = request.errorMessage() or "unknown network error"
        if urlparse(url).scheme.lower() == "file":
            raise LczError(f"cannot read {url}: {message}")
        if code == QgsBlockingNetworkRequest.TimeoutError or 0 < net_error < 100:
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


def _published_list() -> str:
    rows = []
    for arch, e in PUBLISHED.items():
        score = e.get("published_score")
        extra = f"; published OA {score['oa']}, kappa {score['kappa']}" if score else ""
        rows.append(
            f"<li><b>{arch}</b>: {e['name']} (input {e['sensor']}{extra}). "
            f'<a href="{e["repository"]}">{e["repository"]}</a>, file {e["file_name"]}</li>'
        )
    return "<ul>" + "".join(rows) + "</ul>"


class ImportPretrainedAlgorithm(LczAlgorithm):
    NAME = "importpretrained"
    DISPLAY_NAME = "Import published So2Sat model"
    GROUP = MODELS
    HELP = (
        "Makes a model file (.lczmodel) for <i>Classify raster into LCZ map</i> from the "
        "weights the So2Sat authors published (trained on the real So2Sat LCZ42 data; MIT "
        "licence), so you can map LCZs without training:"
        + _published_list()
        + "<b>Weights file</b>: the downloaded weights-only .h5/.hdf5 file (or its URL). Its "
        "sha256 is compared with the published file's; a different file gives a warning.<br>"
        "<b>Download</b>: fetch the published file of the chosen architecture from the "
        "authors' repository instead (uses QGIS's network and proxy settings). The download "
        "must match the published sha256, otherwise it is discarded.<br>"
        "<b>Architecture</b>: auto detects it from the file's layer shapes. Every weight "
        "tensor is assigned by order and shape; any mismatch fails naming the layer.<br>"
        "<b>Sentinel-1 scene</b> (Sentinel-1 ResNet-20 only, required there): the raster "
        "you will classify, with the 8 So2Sat sen1 channels. The authors standardise the 7 "
        "Sentinel-1 features with the statistics of the scene being classified; they are "
        "computed from this raster and stored in the model. For another scene, import "
        "again with that scene.<br>"
        "Inputs for classification: Sentinel-2 models take the 10 So2Sat bands (B2, B3, B4, "
        "B5, B6, B7, B8, B8A, B11, B12) as reflectance (L1C DN / 10000), 10 m, UTM.<br>"
        "The model file records provenance (URL, file name, sha256), the MIT licence "
        "notice and the citations: Qiu et al. (2020), IEEE JSTARS 13, 2793-2806 (Sen2LCZ-Net) "
        "and Zhu et al. (2020), IEEE GRSM 8(3), 76-89 (So2Sat LCZ42). Accuracy on new "
        "cities varies widely: on So2Sat's 10 test cities the overall accuracy ranges from "
        "about 0.36 to 0.85 by city."
    )

    def initAlgorithm(self, config=None):  # noqa: N802 - QGIS API
        self.addParameter(
            QgsProcessingParameterFile(
                "WEIGHTS",
                "Weights file (published So2Sat .h5/.hdf5, or its URL)",
                fileFilter="Keras weights (*.h5 *.hdf5)",
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(
                "ARCHITECTURE",
                "Architecture",
                options=[AUTO, *ARCHITECTURES],
                defaultValue=AUTO,
                usesStaticStrings=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterBoolean(
                "DOWNLOAD",
                "Download the published weights of this architecture (needs network)",
                defaultValue=False,
            )
        )
        self.addParameter(
            QgsProcessingParameterRasterLayer(
                "SENTINEL1",
                "Sentinel-1 scene for the feature statistics (Sentinel-1 ResNet-20 only)",
                optional=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                "OUTPUT", "Model file", fileFilter="LCZ model (*.lczmodel)"
            )
        )
        self.addOutput(QgsProcessingOutputString("ARCHITECTURE_USED", "Architecture imported"))
        self.addOutput(QgsProcessingOutputString("SHA256", "sha256 of the weights file"))
        self.addOutput(
            QgsProcessingOutputBoolean("SHA256_MATCHES", "The file is the published one")
        )

    def execute(self, parameters, context, feedback):
        s1 = self.parameterAsRasterLayer(parameters, "SENTINEL1", context)
        result = import_pretrained(
            output=self.parameterAsFileOutput(parameters, "OUTPUT", context),
            weights=self.parameterAsFile(parameters, "WEIGHTS", context) or None,
            architecture=self.parameterAsEnumString(parameters, "ARCHITECTURE", context),
            download=self.parameterAsBoolean(parameters, "DOWNLOAD", context),
            sentinel1=s1.source() if s1 is not None else None,
            fetch=qgis_fetch,
            feedback=feedback,
        )
        return {
            "OUTPUT": str(result.path),
            "ARCHITECTURE_USED": result.architecture,
            "SHA256": result.sha256,
            "SHA256_MATCHES": result.sha256_matches,
        }
