"""Import the So2Sat authors' published weights into an ``.lczmodel`` (``lcz import-pretrained``).

Flow: (download: fetch the authors' URL into a temporary folder and require the
published sha256, else fail and delete the file) -> read the weights-only HDF5 file ->
detect the architecture from the layer shapes, or check the one given -> compare the
file's sha256 with the published one (a warning when it differs) -> build the network
and assign every tensor by order and shape -> (Sentinel-1 ResNet-20: the feature
statistics of the Sentinel-1 scene to classify) -> write the model file, whose manifest
records provenance, licence, citations, architecture, sensor, bands, preprocessing and
the published score -> load it back and check it reproduces the network.

Downloads go through an injected ``fetch(url, dest, feedback)`` callable:
:func:`urllib_fetch` here (no qgis import), QGIS's network manager (proxy settings) in
the Processing algorithm. Every failure raises ``LczError``; nothing half-written stays.

Sentinel-1 statistics: the authors standardise the 7 Sentinel-1 features with the mean
and standard deviation of the whole scene being classified. The S1 import therefore
takes that scene (``sentinel1``) and stores its statistics (:func:`lcz_qgis.models.pretrained.
so2sat_s1_scene_stats`) as fixed ``mean``/``std`` of the ``so2sat_s1_features`` step, so
predictions do not depend on how windows are batched. For another scene, import again
with that scene, or call :func:`with_scene_statistics` on the loaded model.
"""

from __future__ import annotations

import copy
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import unquote, urlparse

import numpy as np

from .. import __version__
from ..common.atomic import atomic_output, check_distinct_paths, check_output_path
from ..common.bands import PATCH_SIZE, sensor_channels
from ..common.enums import Framework, Sensor
from ..common.errors import LczError, param
from ..common.feedback import Feedback
from ..common.legend import N_CLASSES
from ..sentinel.s1_scene_features import SCENE_FEATURES_MARK
from . import pretrained

ARCHITECTURES = tuple(pretrained.PUBLISHED)
AUTO = "auto"
DOWNLOAD_TIMEOUT_S = 60
MAX_DOWNLOAD_BYTES = 200 * 2**20  # the published files are 2.5-3.4 MB
URL_SCHEMES = ("http", "https", "ftp", "file")
SELF_CHECK_TOLERANCE = 1e-5

Fetch = Callable[[str, Path, Feedback], None]


@dataclass
class ImportResult:
    """What an import wrote: the model file, the architecture it was read as, its manifest."""

    path: Path
    architecture: str
    manifest: dict
    sha256: str
    sha256_matches: bool
    tensors: int
    downloaded_from: Optional[str] = None
    self_check_max_diff: float = 0.0


# -- arguments ------------------------------------------------------------------------
def normalise_architecture(architecture: Optional[str]) -> Optional[str]:
    """None for auto-detection ("", "auto", "detect"), else a PUBLISHED id."""
    if architecture is None or str(architecture).strip().lower() in ("", AUTO, "detect"):
        return None
    arch = str(architecture).strip()
    if arch not in pretrained.PUBLISHED:
        raise LczError(
            f"unknown architecture '{arch}'; use {AUTO} (detect it from the file) or one of "
            f"{', '.join(ARCHITECTURES)}"
        )
    return arch


def is_url(text) -> bool:
    """Whether ``text`` is a URL of a scheme the importer downloads (``URL_SCHEMES``)."""
    return isinstance(text, str) and urlparse(text).scheme.lower() in URL_SCHEMES


def _url_name(url: str) -> str:
    name = Path(unquote(urlparse(url).path)).name
    return name or "weights.h5"


# -- downloading ----------------------------------------------------------------------
def offline_message(url: str, reason) -> str:
    """The message for a server that cannot be reached (no network, proxy, firewall)."""
    host = urlparse(url).hostname or url
    return (
        f"could not reach {host}: you appear to be offline, or a proxy or firewall blocks "
        f"the connection ({reason}). Download the file manually from {url} and give it as "
        f"{param('WEIGHTS')}"
    )


def server_error_message(url: str, what) -> str:
    """The message for a server that could not deliver ``url`` (``what``: its error)."""
    host = urlparse(url).hostname or url
    return (
        f"{host} could not deliver {url} ({what}); the file may have moved. Download it "
        "manually (see docs/pretrained_models.md for the repositories) and give it as "
        f"{param('WEIGHTS')}"
    )


def urllib_fetch(
    url: str, dest: Path, feedback: Feedback, timeout: float = DOWNLOAD_TIMEOUT_S
) -> None:
    """Download ``url`` to ``dest`` with urllib (``timeout`` seconds per network wait)."""
    import socket
    import urllib.error
    import urllib.request

    headers = {"User-Agent": f"lcz_qgis/{__version__}"}
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - schemes checked
    local = urlparse(url).scheme.lower() == "file"
    try:
        response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - schemes checked
    except urllib.error.HTTPError as exc:
        raise LczError(server_error_message(url, f"HTTP {exc.code} {exc.reason}")) from None
    except urllib.error.URLError as exc:
        if local:
            raise LczError(f"cannot read {url}: {exc.reason}") from None
        raise LczError(offline_message(url, exc.reason)) from None
    except (socket.timeout, TimeoutError, ConnectionError) as exc:
        raise LczError(offline_message(url, exc or "timed out")) from None
    with response:
        total = int(response.headers.get("Content-Length") or 0)
        done = 0
        with open(dest, "wb") as out:
            while True:
                feedback.check_cancelled()
                try:
                    chunk = response.read(1 << 16)
                except (socket.timeout, TimeoutError, ConnectionError, OSError) as exc:
                    raise LczError(offline_message(url, f"interrupted: {exc}")) from None
                if not chunk:
                    break
                done += len(chunk)
                if done > MAX_DOWNLOAD_BYTES:
                    raise LczError(
                        f"{url} is larger than {MAX_DOWNLOAD_BYTES // 2**20} MB: not a "
                        "published So2Sat weights file"
                    )
                out.write(chunk)
                if total:
                    feedback.progress(100.0 * done / total)
    feedback.progress(100)


def _published_by_sha(sha: str) -> Optional[str]:
    for arch, entry in pretrained.PUBLISHED.items():
        if entry["sha256"] == sha:
            return arch
    return None


def download_weights(
    url: str,
    folder: Path,
    arch: Optional[str],
    fetch: Optional[Fetch] = None,
    feedback: Optional[Feedback] = None,
) -> tuple[Path, str]:
    """Fetch ``url`` into ``folder``; (path, arch). The file's sha256 must be the
    published one of ``arch`` (or, with ``arch`` None, of any published file); otherwise
    the file is deleted and LczError raised."""
    feedback = feedback or Feedback()
    fetch = fetch or urllib_fetch
    dest = Path(folder) / _url_name(url)
    feedback.info(f"downloading {url}")
    try:
        fetch(url, dest, feedback)
        if not dest.is_file() or dest.stat().st_size == 0:
            raise LczError(f"the download of {url} gave no data")
        actual = pretrained.sha256_of(dest)
        if arch is not None:
            expected = pretrained.PUBLISHED[arch]["sha256"]
            if actual != expected:
                raise LczError(
                    f"the file downloaded from {url} has sha256 {actual}, but the published "
                    f"{arch} file has {expected}: it is not the authors' file (a damaged "
                    "download, or the address serves another file), so it was not kept. "
                    f"Try again, or download it yourself and give it as {param('WEIGHTS')}"
                )
        else:
            arch = _published_by_sha(actual)
            if arch is None:
                raise LczError(
                    f"the file downloaded from {url} (sha256 {actual}) is none of the "
                    "published So2Sat weight files, so it was not kept. Downloads are "
                    "checked against the published hashes; to import another file, "
                    f"download it yourself and give the local file as {param('WEIGHTS')}"
                )
    except BaseException:
        if dest.exists():
            dest.unlink()
        raise
    feedback.info(f"downloaded {dest.name}: sha256 {actual} matches the published file")
    return dest, arch


# -- the model file -------------------------------------------------------------------
def _citations(arch: str) -> list[str]:
    if arch == "sen2lcznet":
        return [pretrained.CITATION_QIU_2020, pretrained.CITATION_ZHU_2020]
    return [pretrained.CITATION_ZHU_2020]


def pretrained_manifest(
    arch: str,
    *,
    file_name: str,
    sha256: str,
    sha256_matches: bool,
    downloaded_from: Optional[str],
    build_args: dict,
    n_params: int,
    tensors: int,
    preprocessing: list,
) -> dict:
    """The manifest of an imported published model (see :mod:`lcz_qgis.models.modelfile`)."""
    from .modelfile import new_manifest

    entry = pretrained.PUBLISHED[arch]
    sensor = entry["sensor"]
    n_in = len(sensor_channels(sensor))
    extra = {
        "name": entry["name"],
        "pretrained": True,
        "description": (
            f"{entry['name']}: weights published by the So2Sat authors (trained on the real "
            "So2Sat LCZ42 data), imported unchanged by lcz import-pretrained."
        ),
        "architecture": {
            "id": arch,
            "builder": f"{entry['module']}.build",
            "build_args": build_args,
            "input_shape": [PATCH_SIZE, PATCH_SIZE, int(entry["channels"])],
            "n_classes": int(entry["n_classes"]),
            "n_params": int(n_params),
            "weight_tensors": int(tensors),
        },
        "network_input": {
            "channels": list(entry["band_names"]),
            "description": entry["preprocessing_description"],
        },
        "preprocessing": preprocessing,
        "preprocessing_description": entry["preprocessing_description"],
        "provenance": {
            "source_url": entry["source_url"],
            "repository": entry["repository"],
            "published_file_name": entry["file_name"],
            "published_sha256": entry["sha256"],
            "file_name": file_name,
            "sha256": sha256,
            "sha256_matches_published": bool(sha256_matches),
            "downloaded_from": downloaded_from,
        },
        "licence": entry["licence"],
        "copyright": entry["copyright"],
        "licence_text": f"MIT License\n\n{entry['copyright']}\n\n{pretrained.MIT_PERMISSION_NOTICE}",
        "citation": entry["citation"],
        "citations": _citations(arch),
        "training": {
            "dataset": "So2Sat LCZ42 (real Sentinel-1/2 patches of 42 cities and 10 more)",
            "by": "the So2Sat authors",
        },
    }
    score = entry.get("published_score")
    if score:
        extra["published_score"] = dict(score)
        extra["scores"] = {"oa": score["oa"], "kappa": score["kappa"]}
        extra["scores_source"] = (
            f"published: {score['dataset']}, {score['n_patches']:,} patches of 10 held-out "
            "cities (not measured by this plugin)"
        )
    if not sha256_matches:
        extra["notes"] = (
            "the imported file's sha256 differs from the published file's: not the authors' "
            "exact weights; the licence, citations and score above describe the published file"
        )
    return new_manifest(arch, Framework.KERAS, sensor, list(range(n_in)), **extra)


def _s1_step(stats: dict) -> dict:
    return {
        "type": "so2sat_s1_features",
        "mean": [float(v) for v in stats["mean"]],
        "std": [float(v) for v in stats["std"]],
        "statistics": "scene",
        "scene": dict(stats["scene"], pixels=int(stats["pixels"])),
        # the classifier computes these features on the whole scene (s1_scene_features)
        "scene_features": SCENE_FEATURES_MARK,
    }


def check_sentinel1_scene(sentinel1) -> None:
    """Fail early unless ``sentinel1`` is a classifiable raster of the 8 So2Sat channels."""
    from ..common.bands import SEN1_CHANNELS
    from ..raster.io import open_raster

    _, info = open_raster(sentinel1)
    if info.count != len(SEN1_CHANNELS):
        raise LczError(
            f"Sentinel-1 raster '{Path(info.path).name}' has {info.count} bands; the So2Sat "
            f"Sentinel-1 ResNet-20 needs the 8 So2Sat sen1 channels in order "
            f"({', '.join(SEN1_CHANNELS)}): complex VH/VV from SLC data plus Lee-filtered "
            "intensities and covariance"
        )
    info.check_for_classification("Sentinel-1 raster")


def scene_statistics_step(sentinel1, feedback: Optional[Feedback] = None) -> dict:
    """The ``so2sat_s1_features`` step with the statistics of a Sentinel-1 scene."""
    check_sentinel1_scene(sentinel1)
    return _s1_step(pretrained.so2sat_s1_scene_stats(sentinel1, feedback))


def with_scene_statistics(model, sentinel1, feedback: Optional[Feedback] = None):
    """A copy of a loaded model whose Sentinel-1 features are standardised with the
    statistics of ``sentinel1`` (the authors' per-scene standardisation). Models
    without a ``so2sat_s1_features`` step are returned unchanged."""
    steps = model.manifest.get("preprocessing") or []
    if not any(s.get("type") == "so2sat_s1_features" for s in steps):
        return model
    new_step = scene_statistics_step(sentinel1, feedback)
    clone = copy.copy(model)
    clone.manifest = copy.deepcopy(model.manifest)
    clone.manifest["preprocessing"] = [
        new_step if s.get("type") == "so2sat_s1_features" else s for s in steps
    ]
    return clone


def _self_check_patches(sensor: str, n: int = 8) -> np.ndarray:
    """Fixed So2Sat-scale patches for the post-write check."""
    rng = np.random.default_rng(20200424)
    if sensor == Sensor.SEN2:
        return rng.uniform(0.0, 0.5, (n, PATCH_SIZE, PATCH_SIZE, 10)).astype(np.float32)
    return np.concatenate(
        [
            rng.normal(0.0, 0.3, (n, PATCH_SIZE, PATCH_SIZE, 4)),
            rng.gamma(1.0, 0.05, (n, PATCH_SIZE, PATCH_SIZE, 2)),
            rng.normal(0.0, 0.02, (n, PATCH_SIZE, PATCH_SIZE, 2)),
        ],
        axis=-1,
    ).astype(np.float32)


def _check_saved(path: Path, keras_model, manifest: dict) -> float:
    """Load the written file and compare its probabilities with the network's (both
    through ``LczModel.predict_proba``, the network in memory through its engine)."""
    from .engines import engine_class
    from .model import LczModel
    from .modelfile import load_model

    loaded = load_model(path)
    x = _self_check_patches(manifest["sensor"])
    in_memory = LczModel(manifest, engine_class(Framework.KERAS)(keras_model))
    want = in_memory.predict_proba(x)
    got = loaded.predict_proba(x)
    diff = float(np.max(np.abs(got - want)))
    if not diff <= SELF_CHECK_TOLERANCE:
        raise LczError(
            f"the written model file does not reproduce the network (max difference {diff:g}); "
            "nothing was written. Please report this."
        )
    return diff


# -- the workflow ---------------------------------------------------------------------
def _check_output(output) -> Path:
    out = check_output_path(output)
    if out.suffix.lower() != ".lczmodel":
        raise LczError(
            f"the output '{out.name}' must be an .lczmodel file (it holds the network and a "
            "manifest with provenance, licence and preprocessing)"
        )
    return out


def _need_sentinel1(arch: Optional[str], sentinel1) -> None:
    if arch is not None and pretrained.PUBLISHED[arch]["sensor"] == Sensor.SEN1 and not sentinel1:
        raise LczError(
            "the So2Sat Sentinel-1 ResNet-20 standardises its 7 features with the mean and "
            "standard deviation of the scene being classified (as the authors do); give the "
            "Sentinel-1 raster of the scene you will classify (8 So2Sat sen1 channels) as "
            f"{param('SENTINEL1')}"
        )


def import_pretrained(
    output,
    weights=None,
    architecture: Optional[str] = None,
    download: bool = False,
    sentinel1=None,
    fetch: Optional[Fetch] = None,
    feedback: Optional[Feedback] = None,
) -> ImportResult:
    """Import published So2Sat weights into the model file ``output`` (.lczmodel).

    ``weights``: a local weights-only HDF5 file, or a URL (http(s)/ftp/file) whose
    download must match a published sha256. ``download``: fetch the published file of
    ``architecture`` from the authors' repository instead. ``architecture``: a
    PUBLISHED id, or None/"auto" to detect it from the layer shapes. ``sentinel1``: for
    the Sentinel-1 ResNet-20, the scene whose feature statistics are stored. ``fetch``:
    the download function (default :func:`urllib_fetch`).
    """
    feedback = feedback or Feedback()
    arch = normalise_architecture(architecture)
    out = _check_output(output)
    if download and weights:
        raise LczError(
            f"give either {param('WEIGHTS')} (a file or URL) or {param('DOWNLOAD')}, not both"
        )
    if not download and not weights:
        raise LczError(
            f"give {param('WEIGHTS')} (a weights file or its URL), or {param('DOWNLOAD')} "
            f"with an {param('ARCHITECTURE')} to fetch the published file "
            f"({', '.join(ARCHITECTURES)})"
        )
    if download and arch is None:
        raise LczError(
            f"{param('DOWNLOAD')} needs an {param('ARCHITECTURE')} to know which published "
            "file to fetch: one of "
            f"{', '.join(ARCHITECTURES)}"
        )
    local = None if download or is_url(weights) else weights
    check_distinct_paths({"WEIGHTS": local, "SENTINEL1": sentinel1}, {"OUTPUT": out})
    _need_sentinel1(arch, sentinel1)
    if sentinel1 and arch == "so2sat_resnet20_s1":
        check_sentinel1_scene(sentinel1)
    with tempfile.TemporaryDirectory(prefix="lcz_pretrained_") as tmp:
        url = None
        if download or is_url(weights):
            url = pretrained.PUBLISHED[arch]["source_url"] if download else str(weights)
            path, arch = download_weights(url, Path(tmp), arch, fetch, feedback.scaled(0, 30))
            _need_sentinel1(arch, sentinel1)
        else:
            path = Path(weights)
        return _import_file(path, arch, out, sentinel1, url, feedback.scaled(30 if url else 0, 100))


def _resolve_architecture(path: Path, layers, arch, feedback: Feedback) -> tuple[str, object]:
    """The architecture to import ``layers`` as, and the one their shapes fit.

    Args:
        path: The weights file (for messages).
        layers: Its layers, from ``pretrained.read_weight_file``.
        arch: The architecture asked for, or None to detect it.
        feedback: Says which architecture was detected.

    Returns:
        (architecture, detected architecture or None when the shapes fit none).

    Raises:
        LczError: ``arch`` is None and the shapes fit no published architecture.
    """
    try:
        detected = pretrained.detect_architecture(layers)
    except LczError:
        if arch is None:
            raise
        detected = None
    if arch is None:
        arch = detected
        feedback.info(f"'{path.name}' holds {arch} weights (detected from its layer shapes)")
    return arch, detected


def _compare_sha256(path: Path, entry: dict, feedback: Feedback) -> tuple[str, bool]:
    """(sha256 of ``path``, whether it is the published file's); a warning when not."""
    sha = pretrained.sha256_of(path)
    matches = sha == entry["sha256"]
    if matches:
        feedback.info(f"sha256 {sha}: the published {entry['file_name']}")
    else:
        feedback.warning(
            f"'{path.name}' is not byte-identical to the published {entry['file_name']} "
            f"(sha256 {sha}, published {entry['sha256']}): it may be a modified or damaged "
            f"copy. Importing it anyway; the published one is at {entry['source_url']}"
        )
    return sha, matches


def _build_network(path: Path, layers, arch: str, detected, entry: dict) -> tuple[object, dict]:
    """Build ``arch`` and assign every tensor of ``layers``; (model, build arguments).

    Raises:
        LczError: The tensors do not fit ``arch`` (naming ``detected`` when it differs),
            or the network is not the published input shape and 17 classes.
    """
    try:
        model, _, build_args = pretrained.build_for_weights(layers, arch)
    except LczError as exc:
        hint = ""
        if detected and detected != arch:
            hint = (
                f". Its layer shapes fit '{detected}': choose that {param('ARCHITECTURE')} or "
                "leave it on auto"
            )
        raise LczError(f"'{path.name}': {exc}{hint}") from None
    if (
        tuple(model.input_shape[1:]) != tuple(entry["input_shape"])
        or model.output_shape[-1] != N_CLASSES
    ):
        raise LczError(
            f"'{path.name}' is a {arch} network for input {tuple(model.input_shape[1:])} and "
            f"{model.output_shape[-1]} classes; the plugin imports the published configuration "
            f"({tuple(entry['input_shape'])}, {N_CLASSES} LCZ classes)"
        )
    return model, build_args


def _preprocessing_steps(entry: dict, sentinel1, feedback: Feedback) -> list:
    """The published preprocessing; for Sentinel-1, with the statistics of ``sentinel1``.

    ``feedback`` gets progress 40-70 % while the scene statistics are computed.
    """
    steps = copy.deepcopy(entry["preprocessing"])
    if entry["sensor"] == Sensor.SEN1:
        feedback.info(f"computing the Sentinel-1 feature statistics of '{Path(sentinel1).name}'")
        step = scene_statistics_step(sentinel1, feedback.scaled(40, 70))
        steps = [step if s.get("type") == "so2sat_s1_features" else s for s in steps]
        feedback.info(
            "feature means "
            + ", ".join(f"{n} {m:.3g}" for n, m in zip(pretrained.SO2SAT_S1_FEATURES, step["mean"]))
        )
    return steps


def _write_checked(out: Path, model, manifest: dict, feedback: Feedback) -> float:
    """Write the model file atomically, after it loads back and reproduces ``model``.

    Returns:
        The largest probability difference of the reloaded file.
    """
    from .modelfile import save_keras_model

    feedback.check_cancelled()
    with atomic_output(out) as tmp:
        save_keras_model(tmp, model, manifest)
        feedback.progress(90)
        diff = _check_saved(tmp, model, manifest)
    feedback.info(
        f"wrote {out.name}; reloaded, it gives the network's probabilities (max diff {diff:.1e})"
    )
    return diff


def _import_file(path: Path, arch, out: Path, sentinel1, url, feedback: Feedback) -> ImportResult:
    """Import the local weights file ``path`` into ``out``.

    Steps: read the layers, settle the architecture, compare the sha256 with the
    published one, build the network with every tensor, set the preprocessing
    (Sentinel-1: the scene statistics), write the model file and check it reloads.

    Args:
        path: The weights-only HDF5 file.
        arch: A PUBLISHED id, or None to detect it from the layer shapes.
        out: The ``.lczmodel`` to write (already checked).
        sentinel1: For the Sentinel-1 ResNet-20, the scene whose statistics are stored.
        url: Where ``path`` was downloaded from (None for a local file).
        feedback: Progress, messages and cancel.

    Returns:
        The ``ImportResult``.

    Raises:
        LczError: The file does not fit the architecture, or the written file does not
            reproduce the network (nothing is written).
        Cancelled: ``feedback`` cancelled (nothing is written).
    """
    layers = pretrained.read_weight_file(path)
    arch, detected = _resolve_architecture(path, layers, arch, feedback)
    _need_sentinel1(arch, sentinel1)
    entry = pretrained.PUBLISHED[arch]
    if sentinel1 and entry["sensor"] != Sensor.SEN1:
        feedback.warning(
            f"{param('SENTINEL1')} is ignored: {arch} takes Sentinel-2 only (no scene statistics)"
        )
    feedback.check_cancelled()
    sha, matches = _compare_sha256(path, entry, feedback)
    feedback.progress(10)
    model, build_args = _build_network(path, layers, arch, detected, entry)
    tensors = pretrained.n_tensors(layers)
    feedback.info(
        f"{entry['name']}: all {tensors} weight tensors assigned by order and shape "
        f"({model.count_params():,} parameters)"
    )
    feedback.progress(40)
    feedback.check_cancelled()
    steps = _preprocessing_steps(entry, sentinel1, feedback)
    feedback.progress(70)
    manifest = pretrained_manifest(
        arch,
        file_name=path.name,
        sha256=sha,
        sha256_matches=matches,
        downloaded_from=url,
        build_args=build_args,
        n_params=model.count_params(),
        tensors=tensors,
        preprocessing=steps,
    )
    diff = _write_checked(out, model, manifest, feedback)
    feedback.progress(100)
    return ImportResult(out, arch, manifest, sha, matches, tensors, url, diff)
