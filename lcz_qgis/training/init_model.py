"""A Keras model file to fine-tune (``lcz train --init-model``), opened safely.

``open_init_model`` reads it like any model file (``models.modelfile.load_model``: nothing
in it runs) and refuses a random forest; ``check_init_inputs`` holds the rule that a
network is fine-tuned on the sensor and bands it was built for.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..common.bands import sensor_channels
from ..common.enums import Framework
from ..common.errors import LczError, param


@dataclass
class InitModel:
    """A Keras model file to fine-tune, loaded safely, with what its manifest records.

    Attributes:
        path: The model file.
        keras_model: Its network (uncompiled; training changes it in place).
        manifest: Its manifest (or the one made for a plain Keras file).
        sha256: The file's sha256 (hex).
    """

    path: Path
    keras_model: object
    manifest: dict
    sha256: str

    @property
    def model_type(self) -> str:
        """The init model's model type (its manifest's)."""
        return self.manifest["model_type"]

    @property
    def sensor(self) -> str:
        """The sensor the init model takes."""
        return self.manifest["sensor"]

    @property
    def bands(self) -> list[int]:
        """The sensor channels the init model takes, 0-based."""
        return [int(b) for b in self.manifest["bands"]]


def _sha256(path: Path) -> str:
    """The file's sha256 (hex), read in 1 MiB chunks."""
    import hashlib

    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def band_text(sensor: str, bands: list[int]) -> str:
    """``sensor`` and the names of its channels ``bands`` (0-based), for messages."""
    names = sensor_channels(sensor)
    return f"{sensor} {', '.join(names[b] for b in bands)}"


def open_init_model(path, sensor: str | None = None, bands: list[int] | None = None) -> InitModel:
    """The Keras model file ``path`` to fine-tune, checked like any model file
    (``models.modelfile.load_model``: nothing in it runs, docs/security.md).

    Args:
        path: A ``.lczmodel`` (Keras), ``.keras`` or ``.h5`` file.
        sensor: The sensor asked for (None: the model's; a plain Keras file's override).
        bands: The bands asked for, 0-based (None: the model's).

    Raises:
        LczError: A missing or damaged file, a random forest, or a sensor or bands that
            are not the model's.
    """
    from ..models.modelfile import SUFFIX, load_model, read_manifest

    p = Path(path)
    what = f"{param('INIT_MODEL')} '{p.name}'"
    if not p.is_file():
        raise LczError(f"{what} does not exist")
    lczmodel = p.suffix.lower() == SUFFIX
    if lczmodel and read_manifest(p).get("framework") == Framework.SKLEARN:
        raise LczError(
            f"{what} is a random forest: fine-tuning continues training a Keras network; "
            f"train a new forest ({param('MODEL_TYPE')} rf) on the new patches instead"
        )
    try:
        m = load_model(p, sensor=None if lczmodel else sensor)
    except LczError as exc:
        raise LczError(f"cannot fine-tune {what}: {exc}") from None
    if m.framework != Framework.KERAS:  # pragma: no cover - the manifest said so above
        raise LczError(f"{what} is a {m.engine.label} model, not a Keras network")
    init = InitModel(p, m.network, m.manifest, _sha256(p))
    check_init_inputs(init, sensor, bands)
    return init


def check_init_inputs(init: InitModel, sensor: str | None, bands: list[int] | None) -> None:
    """Raise LczError unless ``sensor`` and ``bands`` (None: not asked for) are the init
    model's: fine-tuning feeds a network the inputs it was built for."""
    what = f"{param('INIT_MODEL')} '{init.path.name}'"
    if sensor and sensor != init.sensor:
        raise LczError(
            f"{what} is a {init.sensor} model; it cannot be fine-tuned on {sensor} patches "
            f"(set {param('SENSOR')} to {init.sensor})"
        )
    if bands is not None and list(bands) != init.bands:
        raise LczError(
            f"{what} takes {band_text(init.sensor, init.bands)}; {param('BANDS')} asks for "
            f"{band_text(init.sensor, list(bands))}: leave it empty to use the model's bands"
        )
