"""Raw So2Sat rows -> a network's input, as training feeds it.

``InputTransform`` selects the bands and standardises with exactly the arithmetic of
``preprocessing.standardize`` (training from scratch, and fine-tuning a model whose
preprocessing is one ``standardize`` step); ``ManifestTransform`` applies a model file's
own preprocessing steps. Both augment with random flips / 90-degree rotations when asked,
and both run in ``so2sat.batches.ShuffledBatches``' reader thread.
"""

from __future__ import annotations

import numpy as np

from ..common.bands import PATCH_SIZE
from ..so2sat.batches import band_routes, copy_bands, dihedral


class InputTransform:
    """Raw So2Sat rows (one array per dataset, e.g. float64 sen1 and sen2) -> model input:
    float32, the selected ``bands``, ``(x - mean) / std`` with exactly the arithmetic of
    ``preprocessing.standardize`` (so training sees what prediction will), then random
    flips/rotations when ``augment``.

    ``convert(raws, out)`` does one piece (``ShuffledBatches`` calls it in its reader
    thread, ``PIECE_ROWS`` rows at a time); calling the object does whole arrays.
    """

    def __init__(self, specs, bands: list[int], mean, std, augment: bool = False):
        self.channels = len(bands)
        self.augment = bool(augment)
        # full (32, 32, C) arrays: numpy then runs one 10,240-element inner loop per
        # patch instead of one per pixel (4x faster than broadcasting a (C,) vector)
        shape = (PATCH_SIZE, PATCH_SIZE, self.channels)
        self._mean = np.ascontiguousarray(np.broadcast_to(np.asarray(mean, np.float32), shape))
        s = np.asarray(std, np.float32)
        self._std = np.ascontiguousarray(
            np.broadcast_to(np.where(s > 0, s, np.float32(1.0)), shape)
        )
        self._routes = band_routes([c for c, _ in specs], bands)

    def convert(self, raws: tuple, out: np.ndarray) -> None:
        """Rows of ``raws`` (one array per dataset) -> standardised float32 ``out``."""
        for raw, (pairs, whole) in zip(raws, self._routes):
            copy_bands(raw, out, pairs, whole)
        self.standardize(out)

    def standardize(self, x: np.ndarray) -> np.ndarray:
        """``preprocessing.standardize``'s arithmetic, in place on float32 model-channel
        patches ``x`` (validation batches use it too, so their scores equal the saved
        model's)."""
        np.subtract(x, self._mean, out=x)
        np.divide(x, self._std, out=x)
        return x

    def __call__(self, xs: tuple, rng: np.random.Generator, piece: int = 32) -> np.ndarray:
        n = len(xs[0])
        out = np.empty((n, PATCH_SIZE, PATCH_SIZE, self.channels), np.float32)
        for a in range(0, n, piece):
            self.convert(tuple(x[a : a + piece] for x in xs), out[a : a + piece])
        return dihedral(out, rng) if self.augment else out


def make_transform(specs, bands: list[int], mean, std, augment: bool) -> InputTransform:
    """The ``InputTransform`` of a training run (``specs``: ``ShuffledBatches.specs``)."""
    return InputTransform(specs, bands, mean, std, augment)


class ManifestTransform:
    """Raw So2Sat rows -> a model's input through its manifest's own preprocessing
    (``preprocessing.apply``: e.g. the So2Sat ResNet-20 scaling), then random
    flips/rotations when ``augment``; the same interface as ``InputTransform``."""

    def __init__(self, specs, manifest: dict, augment: bool = False):
        from ..models import preprocessing

        self._apply = preprocessing.apply
        self.steps = list(manifest.get("preprocessing") or [])
        self.bands = [int(b) for b in manifest["bands"]]
        blank = np.zeros((1, PATCH_SIZE, PATCH_SIZE, len(self.bands)), np.float32)
        self.channels = int(self._apply(blank, self.steps).shape[-1])
        self.augment = bool(augment)
        self._routes = band_routes([c for c, _ in specs], self.bands)

    def convert(self, raws: tuple, out: np.ndarray) -> None:
        """Rows of ``raws`` (one array per dataset) -> preprocessed float32 ``out``."""
        x = np.empty((len(out), PATCH_SIZE, PATCH_SIZE, len(self.bands)), np.float32)
        for raw, (pairs, whole) in zip(raws, self._routes):
            copy_bands(raw, x, pairs, whole)
        out[...] = self.standardize(x)

    def standardize(self, x: np.ndarray) -> np.ndarray:
        """The manifest's preprocessing of float32 band patches ``x`` (a new array)."""
        return np.asarray(self._apply(x, self.steps), np.float32)


def manifest_transform(specs, manifest: dict, augment: bool):
    """The training transform that feeds a model file's network what it expects: an
    ``InputTransform`` when its preprocessing is none or one ``standardize`` step (the
    same arithmetic, faster), else a ``ManifestTransform``."""
    steps = manifest.get("preprocessing") or []
    bands = [int(b) for b in manifest["bands"]]
    if not steps:
        zeros = np.zeros(len(bands))
        return InputTransform(specs, bands, zeros, np.ones(len(bands)), augment)
    if len(steps) == 1 and steps[0].get("type") == "standardize":
        return InputTransform(specs, bands, steps[0]["mean"], steps[0]["std"], augment)
    return ManifestTransform(specs, manifest, augment)
