"""Random forest training (``lcz train --model-type rf``): features streamed from HDF5.

``train_forest`` checks the request, picks the training and validation rows, reads their
``models.features`` in chunks (patches with NaN/inf or values beyond the physical range
dropped), fits ``models.rf``, scores it on the validation rows and writes the model file
(and the HTML report) together.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common.bands import (
    INVALID_VALUES,
    channel_limits,
    parse_bands,
    patches_in_range,
    range_note,
    sensor_channels,
)
from ..common.enums import Framework, Sensor
from ..common.errors import LczError
from ..common.feedback import Feedback
from ..common.legend import N_CLASSES
from ..evaluation.metrics import lcz_scores
from ..models.rf import DEFAULT_FEATURES
from ..so2sat.file import So2SatFile
from .options import check_run_files
from .splits import (
    VALIDATION_FRACTION,
    TrainResult,
    check_training_labels,
    split_indices,
    subsample,
    warn_about_inputs,
)

FEATURE_CHUNK = 512


def stream_features(
    f: So2SatFile,
    sensor: str,
    bands: list[int],
    idx: np.ndarray,
    feature_set: str,
    feedback: Feedback,
) -> tuple[np.ndarray, np.ndarray]:
    """Features for rows ``idx`` read in chunks; rows with NaN/inf or values beyond the
    physical range (``bands.patches_in_range``) are dropped.

    Returns (features (k, F), keep mask over ``idx``).
    """
    from ..models.features import patch_features

    names = [sensor_channels(sensor)[b] for b in bands]
    limits = channel_limits(sensor, bands)
    out, keep = [], []
    for i, start in enumerate(range(0, len(idx), FEATURE_CHUNK)):
        feedback.check_cancelled()
        rows = idx[start : start + FEATURE_CHUNK]
        with np.errstate(over="ignore", invalid="ignore"):  # float64 beyond float32: inf
            x = f.read(sensor, rows, bands)
        ok = patches_in_range(x, limits)
        keep.append(ok)
        out.append(patch_features(x[ok], names, feature_set))
        feedback.progress(100.0 * min(len(idx), (i + 1) * FEATURE_CHUNK) / max(len(idx), 1))
    keep_mask = np.concatenate(keep) if keep else np.zeros(0, bool)
    feats = np.concatenate(out) if out else np.zeros((0, 0), np.float32)
    return feats, keep_mask


@dataclass
class _Labelled:
    """Features of some So2Sat rows and their LCZ codes.

    Attributes:
        x: Features (k, F) of the rows kept.
        y: LCZ codes (1-17) of the rows kept.
        n_rows: Rows read, kept or not (those with NaN/inf or values beyond the
            physical range are dropped).
    """

    x: np.ndarray
    y: np.ndarray
    n_rows: int

    @property
    def dropped(self) -> int:
        return self.n_rows - len(self.y)


def _read_labelled(f, codes, idx, sensor, bands, feature_set, feedback) -> _Labelled:
    """Stream the features of rows ``idx`` of ``f``; keep the codes of the rows kept."""
    x, keep = stream_features(f, sensor, bands, idx, feature_set, feedback)
    return _Labelled(x, codes[idx][keep], len(idx))


def _check_rf_training_rows(tr: _Labelled, name: str, sensor: str, feedback: Feedback) -> None:
    """Warn about dropped training patches; fail when none or one class is left.

    Raises:
        LczError: Every training patch was dropped, or the ones left hold one class.
    """
    if tr.dropped and not len(tr.y):
        raise LczError(
            f"all {tr.dropped} training patches of '{name}' hold NaN or inf "
            f"{sensor} values or values beyond the physical range ({range_note(sensor)}): "
            "there is nothing to train on"
        )
    if tr.dropped:
        feedback.warning(
            f"skipped {tr.dropped} of {tr.n_rows} training patches holding "
            f"{INVALID_VALUES} ({range_note(sensor)})"
        )
        check_training_labels(tr.y, name)


def _rf_data(
    train, validation, sensor, bands, seed, max_samples, feature_set, feedback
) -> tuple[_Labelled, _Labelled]:
    """Pick the rows and read the training and validation features (progress 0-30 %).

    The validation rows are the VALIDATION file's (at most ``max_samples``) or a seeded
    stratified ``VALIDATION_FRACTION`` of the training file; the training rows are then
    subsampled to ``max_samples``. Dropped patches and an empty validation set are
    warned about.

    Returns:
        (training features, validation features).

    Raises:
        LczError: A file without the sensor's data, or training rows of fewer than two
            classes.
    """
    name = Path(train).name
    with So2SatFile(train) as tf:
        tf.check_sensor(sensor)
        codes = tf.labels()
        check_training_labels(codes, name)
        if validation:
            tr_idx = np.arange(tf.n)
        else:
            tr_idx, va_idx = split_indices(codes, VALIDATION_FRACTION, seed)
        tr_idx = subsample(tr_idx, max_samples, seed)
        check_training_labels(codes[tr_idx], name)
        feedback.info(f"reading features for {len(tr_idx)} training patches ({feature_set})")
        tr = _read_labelled(tf, codes, tr_idx, sensor, bands, feature_set, feedback.scaled(0, 30))
        _check_rf_training_rows(tr, name, sensor, feedback)
        if not validation:
            va = _read_labelled(tf, codes, va_idx, sensor, bands, feature_set, Feedback())
    if validation:
        with So2SatFile(validation) as vf:
            vf.check_sensor(sensor)
            va_idx = subsample(np.arange(vf.n), max_samples, seed)
            va = _read_labelled(vf, vf.labels(), va_idx, sensor, bands, feature_set, Feedback())
    if va.dropped:
        feedback.warning(
            f"skipped {va.dropped} of {va.n_rows} validation patches holding "
            f"{INVALID_VALUES} ({range_note(sensor)})"
        )
    if not len(va.y):
        where = f"the validation file '{Path(validation).name}'" if validation else "the split"
        feedback.warning(
            f"no validation patches ({where} has none to score): the model is written "
            "without validation scores"
        )
    return tr, va


def _rf_manifest(
    train, validation, sensor, bands, seed, feature_set, tr: _Labelled, va: _Labelled, scores
) -> dict:
    """The random forest's manifest: feature step, training data and options, scores."""
    from ..models import rf
    from ..models.modelfile import new_manifest

    names = [sensor_channels(sensor)[b] for b in bands]
    return new_manifest(
        "rf",
        Framework.SKLEARN,
        sensor,
        bands,
        preprocessing=[{"type": "patch_features", "band_names": names, "set": feature_set}],
        training={
            "file": Path(train).name,
            "validation": Path(validation).name
            if validation
            else f"{VALIDATION_FRACTION:.0%} split",
            "n_train": int(len(tr.y)),
            "n_validation": int(len(va.y)),
            "class_counts": np.bincount(tr.y, minlength=N_CLASSES + 1)[1:].tolist(),
            "seed": seed,
            "n_trees": rf.N_TREES,
            "features": feature_set,
        },
        scores={k: scores[k] for k in ("oa", "kappa", "macro_f1", "oa_u", "oa_bu", "oa_w")}
        if scores
        else {},
    )


def train_forest(
    train,
    output,
    sensor: str | None = Sensor.SEN2,
    bands=None,
    validation=None,
    seed: int = 0,
    max_samples: int | None = None,
    feedback: Feedback | None = None,
    features: str | None = None,
    report=None,
) -> TrainResult:
    """Train a random forest on ``train`` and write the model file ``output`` (and the
    HTML ``report`` when given; ``sensor`` None: ``sen2``, ``features`` None: the
    default set). Every argument is checked first: an output that is an input (or the
    other output) is refused before anything is read or written.

    Raises:
        LczError: Bad options or data.
        Cancelled: ``feedback`` cancelled (nothing is written).
    """
    feedback = feedback or Feedback()
    output, seed, max_samples = check_run_files(
        train, validation, None, output, report, seed, max_samples
    )
    sensor = sensor or Sensor.SEN2
    band_idx = parse_bands(bands, sensor)
    warn_about_inputs(train, validation, sensor, feedback)
    return _fit_forest(
        train, output, sensor, band_idx, validation, seed, max_samples, feedback,
        features or DEFAULT_FEATURES, report,
    )  # fmt: skip


def _fit_forest(
    train, output, sensor, bands, validation, seed, max_samples, feedback, feature_set, report=None
) -> TrainResult:
    """Fit a random forest on streamed patch features, score it, write the model file.

    Steps: pick the rows and read their features, fit the forest, score it on the
    validation features, write the model file (and the HTML ``report``) together.

    Args:
        train: So2Sat HDF5 training file.
        output: The model file to write.
        sensor: ``sen1``, ``sen2`` or ``fusion``.
        bands: 0-based channel indices of ``sensor``.
        validation: A So2Sat validation file; None for a stratified 10 % split.
        seed: Seed of the split, the subsample and the forest.
        max_samples: At most this many training (and validation file) patches.
        feedback: Progress, messages and cancel.
        feature_set: The ``patch_features`` set.
        report: An HTML training report to write next to the model file.

    Returns:
        A ``TrainResult`` with the manifest and the validation scores ({} without
        validation patches).
    """
    from ..common.atomic import staged_outputs
    from ..models import rf
    from ..models.modelfile import save_sklearn_model

    tr, va = _rf_data(train, validation, sensor, bands, seed, max_samples, feature_set, feedback)
    feedback.info(f"fitting a random forest of {rf.N_TREES} trees on {tr.x.shape[1]} features")
    est = rf.fit(tr.x, tr.y, seed, feedback.scaled(30, 90))
    scores = {}
    if len(va.y):
        scores = lcz_scores(va.y, est.predict(va.x))
        feedback.info(f"validation: OA {scores['oa']:.3f}, kappa {scores['kappa']:.3f}")
    manifest = _rf_manifest(train, validation, sensor, bands, seed, feature_set, tr, va, scores)
    feedback.check_cancelled()
    with staged_outputs(feedback) as st:  # the model file and its report replaced together
        save_sklearn_model(st.temp(output), est, manifest, feedback)
        if report:
            from ..reports.html import write_training_report

            write_training_report(st.temp(report), manifest, scores)
    feedback.progress(100)
    return TrainResult(Path(output), manifest, scores)
