"""lcz import-pretrained: the So2Sat authors' published weights -> .lczmodel (lcz:importpretrained)."""

from __future__ import annotations

import json

from ..errors import LczError
from ..pretrained_import import ARCHITECTURES, AUTO, import_pretrained

NAME = "import-pretrained"
ORDER = 25
HELP = "import a published So2Sat model (Sen2LCZ-Net, ResNet-20 S2/S1) into an .lczmodel"
DESCRIPTION = (
    "Import the So2Sat authors' published weights (MIT licence) into a model file that "
    "'lcz classify' uses: Sen2LCZ-Net (Qiu et al. 2020) or the So2Sat ResNet-20 for "
    "Sentinel-2 or Sentinel-1. Give --weights (a downloaded weights file, or its URL), or "
    "--download ARCHITECTURE to fetch the published file (its sha256 is checked). The "
    "Sentinel-1 model also needs --sentinel1, the scene you will classify: the authors "
    "standardise the features with that scene's statistics. See docs/pretrained_models.md."
)


def add_arguments(p) -> None:
    p.add_argument("--weights", help="weights-only Keras HDF5 file, or its URL")
    p.add_argument(
        "--architecture",
        default=AUTO,
        choices=[AUTO, *ARCHITECTURES],
        help="the network (default: detected from the file's layer shapes)",
    )
    p.add_argument(
        "--download",
        nargs="?",
        const="",
        metavar="ARCHITECTURE",
        choices=["", *ARCHITECTURES],
        help="download the published file of ARCHITECTURE (or of --architecture) from the "
        "authors' repository; needs network",
    )
    p.add_argument(
        "--sentinel1",
        help="Sentinel-1 raster (8 So2Sat channels) of the scene to classify; "
        "so2sat_resnet20_s1 only: its feature statistics are stored in the model",
    )
    p.add_argument("--output", required=True, help="model file to write (.lczmodel)")


def run(args, feedback) -> int:
    architecture = args.architecture
    download = args.download is not None
    if args.download:
        if architecture not in (AUTO, args.download):
            raise LczError(f"--download {args.download} and --architecture {architecture} disagree")
        architecture = args.download
    result = import_pretrained(
        output=args.output,
        weights=args.weights,
        architecture=architecture,
        download=download,
        sentinel1=args.sentinel1,
        feedback=feedback,
    )
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
    print(json.dumps(summary, indent=1))
    return 0
