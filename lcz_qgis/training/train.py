"""Training entry point: pick patches, train a model type, score it, write the model file.

``train_model`` is what ``lcz train`` and ``lcz:trainmodel`` call. Random forests are
fitted here on features streamed from HDF5; Keras models are trained by
``keras_training.train_keras`` with batches streamed from HDF5 (fine-tuned by
``finetune.finetune_keras``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common.atomic import check_distinct_paths, check_output_path, same_file
from ..common.bands import (
    INVALID_VALUES,
    channel_limits,
    parse_bands,
    patches_in_range,
    range_note,
    sensor_channels,
)
from ..common.enums import Sensor
from ..common.errors import LczError, check_seed, param
from ..common.feedback import Feedback
from ..common.legend import N_CLASSES
from ..evaluation.metrics import lcz_scores
from ..models import MODEL_TYPES, framework
from ..models.rf import DEFAULT_FEATURES
from ..so2sat.file import So2SatFile
from .splits import (
    VALIDATION_FRACTION,
    TrainResult,
    check_max_samples,
    check_training_labels,
    split_indices,
    subsample,
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


def train_model(
    train: str | Path,
    output: str | Path,
    model_type: str | None = None,
    sensor: str | None = Sensor.SEN2,
    bands=None,
    validation: str | Path | None = None,
    seed: int = 0,
    max_samples: int | None = None,
    feedback: Feedback | None = None,
    features: str | None = None,
    report: str | Path | None = None,
    init_model: str | Path | None = None,
    freeze: str | None = None,
    **keras_options,
) -> TrainResult:
    """Train ``model_type`` on ``train`` and write the model file ``output`` (and the
    HTML training ``report`` when given; ``model_type`` None: ``rf``, ``sensor`` None:
    ``sen2``). Every argument is checked first: an output that
    is an input (or the other output) is refused before anything is read or written.

    With ``init_model`` (a Keras model file) the model is fine-tuned instead
    (``finetune.finetune_keras``): ``model_type``, ``sensor`` and ``bands`` may be
    None (the init model's) and, when given, must be the init model's; ``freeze`` is
    ``none`` or ``all-but-head``."""
    feedback = feedback or Feedback()
    check_distinct_paths(
        {"TRAIN": train, "VALIDATION": validation, "INIT_MODEL": init_model},
        {"OUTPUT": output, "REPORT": report},
    )
    output = check_output_path(output)
    if report:
        check_output_path(report)
    seed = check_seed(seed)
    max_samples = check_max_samples(max_samples)
    if init_model:
        return _finetune(
            train, output, init_model, model_type, sensor, bands, validation, seed,
            max_samples, feedback, features, report, freeze or "none", keras_options,
        )  # fmt: skip
    model_type = model_type or "rf"
    sensor = sensor or Sensor.SEN2
    if freeze not in (None, "none"):
        raise LczError(
            f"{param('FREEZE')} {freeze} applies when fine-tuning an {param('INIT_MODEL')} only"
        )
    if model_type not in MODEL_TYPES:
        raise LczError(f"unknown model type '{model_type}'; choose one of {', '.join(MODEL_TYPES)}")
    band_idx = parse_bands(bands, sensor)
    _check_inputs(train, validation, sensor, feedback)
    if framework(model_type) == "keras":
        from .keras_training import train_keras

        return train_keras(
            train=train,
            output=output,
            model_type=model_type,
            sensor=sensor,
            bands=band_idx,
            validation=validation,
            seed=seed,
            max_samples=max_samples,
            feedback=feedback,
            report=report,
            **keras_options,
        )
    if keras_options:
        raise LczError(f"options {sorted(keras_options)} apply to Keras models, not rf")
    return _train_rf(
        train,
        output,
        sensor,
        band_idx,
        validation,
        seed,
        max_samples,
        feedback,
        features or DEFAULT_FEATURES,
        report,
    )


def _finetune(
    train, output, init_model, model_type, sensor, bands, validation, seed, max_samples,
    feedback, features, report, freeze, keras_options,
) -> TrainResult:  # fmt: skip
    """Fine-tune the Keras model file ``init_model`` (``finetune.finetune_keras``)."""
    from .finetune import check_init_inputs, finetune_keras, open_init_model

    if features:
        raise LczError(f"{param('FEATURES')} applies to rf models, not to fine-tuning")
    init = open_init_model(init_model, sensor)
    if bands not in (None, "", []):
        check_init_inputs(init, None, parse_bands(bands, init.sensor))
    _check_inputs(train, validation, init.sensor, feedback)
    return finetune_keras(
        train, output, init, model_type=model_type, validation=validation, seed=seed,
        max_samples=max_samples, feedback=feedback, report=report, freeze=freeze,
        **keras_options,
    )  # fmt: skip


def _check_inputs(train, validation, sensor: str, feedback: Feedback) -> None:
    """Warnings about the inputs before training: DN-scaled Sentinel-2 values and a
    validation file that is the training file."""
    if validation and Path(train).exists() and same_file(train, validation):
        feedback.warning(
            f"the validation file '{Path(validation).name}' is the training file: the "
            "validation scores measure the fit to the training patches, not how well the "
            "model generalises; give a separate validation file (or none for a 10% split)"
        )
    if sensor not in (Sensor.SEN2, Sensor.FUSION):
        return
    from ..so2sat.file import check_sen2_scale

    paths = [train]
    if validation and not same_file(train, validation):
        paths.append(validation)
    for path in paths:
        if Path(path).is_file():
            with So2SatFile(path) as f:
                check_sen2_scale(f, feedback)


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
        "sklearn",
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


def _train_rf(
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
        save_sklearn_model(st.temp(output), est, manifest)
        if report:
            from ..reports.html import write_training_report

            write_training_report(st.temp(report), manifest, scores)
    feedback.progress(100)
    return TrainResult(Path(output), manifest, scores)
