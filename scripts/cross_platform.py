"""Model files made on one platform, for the other to classify with (issue 22, item 6).

    python scripts/cross_platform.py DIR

Writes into DIR, through the ``lcz`` CLI of this checkout and this Python: the synthetic
sample data, an MLP and a random forest trained on it, Sen2LCZ-Net imported from
``../shared/pretrained`` (when there), and for each model the map and probabilities of
the sample scene, plus ``platform.json`` (versions). ``.ci/run`` writes one such folder
on Debian 12 and one in the Debian 13 root, then runs
``tests/models/test_cross_platform.py`` on each platform over the other's folder
(``LCZ_CROSS_DIR``): same maps, probabilities within 1e-5.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED_WEIGHTS = REPO.parent / "shared" / "pretrained" / "sen2lcznet_32_weights.best.hdf5"
STRIDE = 16  # about 1000 windows of the 5 km sample scene


def lcz(*args: str) -> None:
    """Run one ``lcz`` command of this checkout; stop on failure."""
    cmd = [sys.executable, "-m", "lcz_qgis", *args]
    print("+ lcz", " ".join(args), flush=True)
    subprocess.run(cmd, cwd=REPO, check=True)


def classify(folder: Path, name: str, runtime: str) -> None:
    """The sample scene's map and probabilities with ``name``.lczmodel."""
    lcz(
        "classify", "--model", str(folder / f"{name}.lczmodel"),
        "--sentinel2", str(folder / "sample" / "scene_s2.tif"), "--stride", str(STRIDE),
        "--runtime", runtime, "--output", str(folder / f"{name}_map.tif"),
        "--probabilities", str(folder / f"{name}_probabilities.tif"),
    )  # fmt: skip


def versions() -> dict:
    """The versions that wrote the files."""
    out = {"python": platform.python_version()}
    for dist in ("numpy", "tensorflow", "tensorflow-cpu", "keras", "scikit-learn",
                 "onnxruntime", "h5py"):  # fmt: skip
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    sample = folder / "sample"
    lcz("sample-data", "--output-folder", str(sample), "--train-size", "400", "--test-size", "340")
    train = str(sample / "train.h5")
    lcz("train", "--train", train, "--model-type", "mlp", "--epochs", "2",
        "--output", str(folder / "mlp.lczmodel"))  # fmt: skip
    lcz("train", "--train", train, "--model-type", "rf", "--output", str(folder / "rf.lczmodel"))
    # the framework itself on the writing side: TensorFlow for Keras, scikit-learn for rf
    models = {"mlp": "tensorflow", "rf": "auto"}
    if SHARED_WEIGHTS.is_file():
        lcz("import-pretrained", "--weights", str(SHARED_WEIGHTS), "--architecture",
            "sen2lcznet", "--output", str(folder / "sen2lcznet.lczmodel"))  # fmt: skip
        models["sen2lcznet"] = "tensorflow"
    for name, runtime in models.items():
        classify(folder, name, runtime)
    meta = {"versions": versions(), "models": models, "stride": STRIDE}
    (folder / "platform.json").write_text(json.dumps(meta, indent=2) + "\n")
    print(f"cross-platform files in {folder}: {', '.join(models)}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python scripts/cross_platform.py DIR")
    main(Path(sys.argv[1]).resolve())
