"""Training entry point: pick patches, train a model type, score it, write the model file.

``train_model`` is what ``lcz train`` and ``lcz:trainmodel`` call. Random forests are
fitted here on features streamed from HDF5; Keras models are trained by
``keras_training.train_keras`` with batches streamed from HDF5.
"""

from __future__ import annotations

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
from ..common.errors import LczError, check_seed
from ..common.feedback import Feedback
from ..evaluation.metrics import lcz_scores
from ..models import MODEL_TYPES, framework
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
    model_type: str = "rf",
    sensor: str = "sen2",
    bands=None,
    validation: str | Path | None = None,
    seed: int = 0,
    max_samples: int | None = None,
    feedback: Feedback | None = None,
    features: str | None = None,
    report: str | Path | None = None,
    **keras_options,
) -> TrainResult:
    """Train ``model_type`` on ``train`` and write the model file ``output`` (and the
    HTML training ``report`` when given). Every argument is checked first: an output that
    is an input (or the other output) is refused before anything is read or written."""
    feedback = feedback or Feedback()
    check_distinct_paths(
        {"TRAIN": train, "VALIDATION": validation}, {"OUTPUT": output, "REPORT": report}
    )
    output = check_output_path(output)
    if report:
        check_output_path(report)
    seed = check_seed(seed)
    max_samples = check_max_samples(max_samples)
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
        features or "stats",
        report,
    )


def _check_inputs(train, validation, sensor: str, feedback: Feedback) -> None:
    """Warnings about the inputs before training: DN-scaled Sentinel-2 values and a
    validation file that is the training file."""
    if validation and Path(train).exists() and same_file(train, validation):
        feedback.warning(
            f"the validation file '{Path(validation).name}' is the training file: the "
            "validation scores measure the fit to the training patches, not how well the "
            "model generalises; give a separate validation file (or none for a 10% split)"
        )
    if sensor not in ("sen2", "fusion"):
        return
    from ..so2sat.file import check_sen2_scale

    paths = [train]
    if validation and not same_file(train, validation):
        paths.append(validation)
    for path in paths:
        if Path(path).is_file():
            with So2SatFile(path) as f:
                check_sen2_scale(f, feedback)


def _train_rf(
    train, output, sensor, bands, validation, seed, max_samples, feedback, feature_set, report=None
) -> TrainResult:
    from ..models import rf
    from ..models.modelfile import new_manifest, save_sklearn_model

    with So2SatFile(train) as tf:
        tf.check_sensor(sensor)
        codes = tf.labels()
        check_training_labels(codes, Path(train).name)
        if validation:
            tr_idx = np.arange(tf.n)
        else:
            tr_idx, va_idx = split_indices(codes, VALIDATION_FRACTION, seed)
        tr_idx = subsample(tr_idx, max_samples, seed)
        check_training_labels(codes[tr_idx], Path(train).name)
        feedback.info(f"reading features for {len(tr_idx)} training patches ({feature_set})")
        x_tr, keep = stream_features(tf, sensor, bands, tr_idx, feature_set, feedback.scaled(0, 30))
        y_tr = codes[tr_idx][keep]
        dropped = int((~keep).sum())
        if dropped and not len(y_tr):
            raise LczError(
                f"all {dropped} training patches of '{Path(train).name}' hold NaN or inf "
                f"{sensor} values or values beyond the physical range ({range_note(sensor)}): "
                "there is nothing to train on"
            )
        if dropped:
            feedback.warning(
                f"skipped {dropped} of {len(tr_idx)} training patches holding "
                f"{INVALID_VALUES} ({range_note(sensor)})"
            )
            check_training_labels(y_tr, Path(train).name)
        if not validation:
            x_va, keep = stream_features(tf, sensor, bands, va_idx, feature_set, Feedback())
            y_va = codes[va_idx][keep]
        class_counts = np.bincount(y_tr, minlength=18)[1:].tolist()
    if validation:
        with So2SatFile(validation) as vf:
            vf.check_sensor(sensor)
            v_codes = vf.labels()
            va_idx = subsample(np.arange(vf.n), max_samples, seed)
            x_va, keep = stream_features(vf, sensor, bands, va_idx, feature_set, Feedback())
            y_va = v_codes[va_idx][keep]
    va_dropped = int((~keep).sum())
    if va_dropped:
        feedback.warning(
            f"skipped {va_dropped} of {len(va_idx)} validation patches holding "
            f"{INVALID_VALUES} ({range_note(sensor)})"
        )
    if not len(y_va):
        where = f"the validation file '{Path(validation).name}'" if validation else "the split"
        feedback.warning(
            f"no validation patches ({where} has none to score): the model is written "
            "without validation scores"
        )
    feedback.info(f"fitting a random forest of {rf.N_TREES} trees on {x_tr.shape[1]} features")
    est = rf.fit(x_tr, y_tr, seed, feedback.scaled(30, 90))
    scores = {}
    if len(y_va):
        pred = est.predict(x_va)
        scores = lcz_scores(y_va, pred)
        feedback.info(f"validation: OA {scores['oa']:.3f}, kappa {scores['kappa']:.3f}")
    names = [sensor_channels(sensor)[b] for b in bands]
    manifest = new_manifest(
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
            "n_train": int(len(y_tr)),
            "n_validation": int(len(y_va)),
            "class_counts": class_counts,
            "seed": seed,
            "n_trees": rf.N_TREES,
            "features": feature_set,
        },
        scores={k: scores[k] for k in ("oa", "kappa", "macro_f1", "oa_u", "oa_bu", "oa_w")}
        if scores
        else {},
    )
    feedback.check_cancelled()
    from ..common.atomic import staged_outputs

    with staged_outputs(feedback) as st:  # the model file and its report replaced together
        save_sklearn_model(st.temp(output), est, manifest)
        if report:
            from ..reports.html import write_training_report

            write_training_report(st.temp(report), manifest, scores)
    feedback.progress(100)
    return TrainResult(Path(output), manifest, scores)
