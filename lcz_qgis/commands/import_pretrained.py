"""``lcz import-pretrained`` / lcz:importpretrained: published So2Sat weights -> .lczmodel."""

from __future__ import annotations

import json

from ..models.pretrained import PUBLISHED
from ..models.pretrained_import import ARCHITECTURES, AUTO, import_pretrained
from .spec import (
    BOOL,
    ENUM,
    FILE,
    FILE_DEST,
    OUT_BOOL,
    OUT_STRING,
    RASTER,
    Command,
    Output,
    Param,
)


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


def _run(values: dict, feedback, given=None) -> dict:
    # values["_fetch"]: how to download (Processing: QGIS's network manager); default urllib
    result = import_pretrained(
        **COMMAND.kwargs(values), fetch=values.get("_fetch"), feedback=feedback
    )
    return {
        "OUTPUT": str(result.path),
        "ARCHITECTURE_USED": result.architecture,
        "SHA256": result.sha256,
        "SHA256_MATCHES": result.sha256_matches,
        "_result": result,
    }


def _report(values: dict, outputs: dict) -> str:
    result = outputs["_result"]
    m = result.manifest
    summary = {
        "output": str(result.path),
        "architecture": result.architecture,
        "sensor": m["sensor"],
        "weight_tensors": result.tensors,
        "sha256": result.sha256,
        "sha256_matches_published": result.sha256_matches,
        "licence": m["licence"],
        "citations": m["citations"],
    }
    if "published_score" in m:
        summary["published_score"] = m["published_score"]
    return json.dumps(summary, indent=1)


COMMAND = Command(
    name="import-pretrained",
    algorithm="importpretrained",
    display_name="Import published So2Sat model",
    group="models",
    order=25,
    summary="import a published So2Sat model (Sen2LCZ-Net, ResNet-20 S2/S1) into an .lczmodel",
    help=(
        "Makes a model file (.lczmodel) for <i>Classify raster into LCZ map</i> (lcz classify) "
        "from the weights the So2Sat authors published (trained on the real So2Sat LCZ42 "
        "data; MIT licence), so you can map LCZs without training:"
        + _published_list()
        + "<b>Weights file</b>: the downloaded weights-only .h5/.hdf5 file (or its URL). Its "
        "sha256 is compared with the published file's; a different file gives a warning.<br>"
        "<b>Download</b>: fetch the published file of the chosen architecture from the "
        "authors' repository instead (in QGIS with its network and proxy settings). The "
        "download must match the published sha256, otherwise it is discarded.<br>"
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
        "about 0.36 to 0.85 by city. See docs/pretrained_models.md."
    ),
    params=[
        Param("WEIGHTS", FILE, "Weights file (published So2Sat .h5/.hdf5, or its URL)",
              "The weights-only Keras HDF5 file, or its URL.", optional=True,
              file_filter="Keras weights (*.h5 *.hdf5)"),
        Param("ARCHITECTURE", ENUM, "Architecture",
              "The network; auto detects it from the file's layer shapes.",
              choices=((AUTO, "Auto (from the file's layer shapes)"),
                       *((a, PUBLISHED[a]["name"]) for a in ARCHITECTURES)),
              default=AUTO),
        Param("DOWNLOAD", BOOL,
              "Download the published weights of this architecture (needs network)",
              "Download the published file of the architecture from the authors' repository "
              "(needs network); in the CLI, --download ARCHITECTURE also chooses it.",
              default=False, cli_value_for="ARCHITECTURE"),
        Param("SENTINEL1", RASTER,
              "Sentinel-1 scene for the feature statistics (Sentinel-1 ResNet-20 only)",
              "The Sentinel-1 raster (8 So2Sat channels) of the scene to classify; for "
              "so2sat_resnet20_s1 only: its feature statistics are stored in the model.",
              optional=True),
        Param("OUTPUT", FILE_DEST, "Model file", "The model file to write (.lczmodel).",
              file_filter="LCZ model (*.lczmodel)"),
    ],
    outputs=[
        Output("ARCHITECTURE_USED", OUT_STRING, "Architecture imported"),
        Output("SHA256", OUT_STRING, "sha256 of the weights file"),
        Output("SHA256_MATCHES", OUT_BOOL, "The file is the published one"),
    ],
    run=_run,
    report=_report,
)  # fmt: skip
