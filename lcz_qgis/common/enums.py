"""The domain's small vocabularies as string enums: sensors, input scales, output formats,
post-classification filters, model frameworks.

Each member *is* its string (``Sensor.SEN2 == "sen2"``), so manifests, HDF5 keys, CLI
values and saved Processing models keep the codes they always had; code compares and
spells members instead of literals, and each vocabulary is listed once.
"""

from __future__ import annotations

from enum import Enum


class StrEnum(str, Enum):
    """A string enum (``enum.StrEnum`` is Python 3.11+; QGIS builds ship 3.9 and up)."""

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


class Sensor(StrEnum):
    """What a model or a patch file holds: Sentinel-2, Sentinel-1, or both (fusion)."""

    SEN2 = "sen2"
    SEN1 = "sen1"
    FUSION = "fusion"

    @property
    def inputs(self) -> tuple[Sensor, ...]:
        """The single-sensor inputs, in So2Sat channel order (Sentinel-1 first)."""
        return (Sensor.SEN1, Sensor.SEN2) if self is Sensor.FUSION else (self,)

    @property
    def label(self) -> str:
        """The sensor as a user reads it."""
        return SENSOR_LABELS[self]


SENSOR_LABELS = {
    Sensor.SEN2: "Sentinel-2",
    Sensor.SEN1: "Sentinel-1",
    Sensor.FUSION: "Fusion (Sentinel-1 + Sentinel-2)",
}


class Scale(StrEnum):
    """How a Sentinel-2 raster's values are given: detected, reflectance 0-1, or DN.

    SCALE also takes the factor itself (0.001 for reflectance x 1000), which is not a
    member: ``classify.inputs.parse_scale`` reads both."""

    AUTO = "auto"
    REFLECTANCE = "reflectance"
    DN = "dn"


class Format(StrEnum):
    """How confidence and probability rasters are stored: float 0-1 or byte percent."""

    FLOAT = "float"
    BYTE = "byte"


class Filter(StrEnum):
    """The filter applied to the class probabilities or the map after classification."""

    NONE = "none"
    MAJORITY = "majority"
    GAUSSIAN = "gaussian"


class Framework(StrEnum):
    """What runs a model (a manifest's ``framework``): scikit-learn, Keras, ONNX Runtime."""

    SKLEARN = "sklearn"
    KERAS = "keras"
    ONNX = "onnx"


def codes(enum: type[StrEnum]) -> tuple[str, ...]:
    """The members' codes in declaration order (the order of the Processing enums)."""
    return tuple(m.value for m in enum)
