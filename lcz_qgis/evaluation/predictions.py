"""A model's probabilities on a labelled So2Sat HDF5 file, streamed batch by batch.

``iter_predictions`` is the one prediction loop of evaluation and calibration: it checks
the file holds the model's sensor (warning about DN-scaled Sentinel-2), announces the
patch count to the model (``LczModel.prepare_many``), streams the file in file order
(``so2sat.batches.SequentialBatches``), predicts each batch with the model's own
preprocessing, reports progress and honours cancel. Patches holding NaN or inf, or
values beyond the sensor's physical range (``bands.patches_in_range``), are skipped and
counted; a file with none left is an error, one with some skipped a warning.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..common.bands import INVALID_VALUES, range_note
from ..common.enums import Sensor
from ..common.errors import LczError, param
from ..common.feedback import Feedback
from ..models.model import DEFAULT_BATCH

# what the predictions are for -> (the error's end when none is left, the warning's end)
PURPOSES = {
    "score": ("there is nothing to score", "; they are not scored"),
    "calibrate": ("there is nothing to calibrate on", ""),
}


def open_model(model, sensor: str | None, runtime: str = "auto"):
    """``model`` (a path or a loaded ``LczModel``) loaded, and of ``sensor`` when given
    (the override only applies to plain files without a manifest); a path is run by
    ``runtime`` (``modelfile.RUNTIMES``).

    Raises:
        LczError: an unreadable model, or one of another sensor.
    """
    from ..models.modelfile import LczModel, load_model

    if isinstance(model, LczModel):
        if sensor and sensor != model.sensor:
            raise LczError(
                f"the model is a {model.sensor} model; it cannot be evaluated as {sensor}"
            )
        return model
    m = load_model(model, sensor=sensor or None, runtime=runtime)
    if sensor and m.sensor != sensor:
        raise LczError(
            f"'{Path(model).name}' is a {m.sensor} model (its manifest says so); the sensor "
            f"override '{sensor}' applies only to plain .keras/.h5 files without a manifest"
        )
    return m


def dataset_size(m, dataset: Path, feedback: Feedback) -> int:
    """The patch count of ``dataset`` after checking it holds the model's sensor (and
    warning about DN-scaled Sentinel-2).

    Raises:
        LczError: the file lacks the model's sensor, or holds no patches.
    """
    from ..so2sat.file import So2SatFile

    with So2SatFile(dataset) as f:
        if not f.has(m.sensor):
            need = " and ".join(Sensor.FUSION.inputs) if m.sensor == Sensor.FUSION else m.sensor
            raise LczError(
                f"the model is a {m.sensor} model ({m.input_channels} channels) but "
                f"'{dataset.name}' has no '{need}' data; evaluate it on a file with {need} "
                f"patches (or give the right {param('SENSOR')} for a plain Keras model)"
            )
        n = f.n
        if m.sensor in (Sensor.SEN2, Sensor.FUSION):
            from ..so2sat.file import check_sen2_scale

            check_sen2_scale(f, feedback)
    if n == 0:
        raise LczError(f"'{dataset.name}' holds no patches")
    return n


class Predictions:
    """The probabilities of a labelled file's patches: iterate for ``(proba (n, 17),
    codes (n,))`` per batch of scored patches (``iter_predictions``); ``n`` is the
    file's patch count and ``n_skipped`` the patches skipped so far."""

    def __init__(self, m, dataset, feedback, batch_size, calibrated, purpose):
        if purpose not in PURPOSES:
            raise ValueError(f"purpose must be one of {', '.join(PURPOSES)}")
        self.model, self.dataset, self.feedback = m, Path(dataset), feedback
        self.batch_size, self.calibrated, self.purpose = batch_size, calibrated, purpose
        self.n = dataset_size(m, self.dataset, feedback)
        self.n_skipped = 0

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        from ..so2sat.batches import SequentialBatches

        m, feedback = self.model, self.feedback
        m.prepare_many(self.n)
        batches = SequentialBatches(
            self.dataset, m.sensor, m.bands, batch_size=self.batch_size, reuse=True
        )
        done = scored = 0
        for x, codes, rows in batches:
            feedback.check_cancelled()
            if len(x):
                p = m.predict_proba(x, batch_size=self.batch_size, calibrated=self.calibrated)
                scored += len(x)
                yield p, np.asarray(codes, np.int64)
            done += len(rows)
            self.n_skipped = int(batches.n_skipped)
            feedback.progress(100.0 * (done + self.n_skipped) / self.n)
        self.n_skipped = int(batches.n_skipped)
        self._report(scored)

    def _report(self, scored: int) -> None:
        """The error when every patch was skipped, the warning when some were."""
        nothing, note = PURPOSES[self.purpose]
        held = f"{INVALID_VALUES} ({range_note(self.model.sensor)})"
        if not scored:
            raise LczError(
                f"all {self.n_skipped} patches of '{self.dataset.name}' hold {held}: {nothing}"
            )
        if self.n_skipped:
            self.feedback.warning(
                f"skipped {self.n_skipped} of {self.n} patches holding {held}{note}"
            )


def iter_predictions(
    m,
    dataset,
    feedback: Feedback,
    batch_size: int = DEFAULT_BATCH,
    calibrated: bool = True,
    purpose: str = "score",
) -> Predictions:
    """The probabilities of the loaded model ``m`` on the labelled ``dataset``, streamed:
    iterate for ``(proba, codes)`` per batch (``Predictions``; the file is checked now,
    read while iterating). ``calibrated``: with the manifest's temperature; ``purpose``
    (``score``, ``calibrate``) words the error when every patch is skipped.

    Raises:
        LczError: the file lacks the model's sensor or holds no patches (now); every
            patch was skipped (at the end of the iteration).
    """
    return Predictions(m, dataset, feedback, batch_size, calibrated, purpose)
