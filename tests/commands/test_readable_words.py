"""Words instead of codes where a person reads (issue 24, finding 6): every enum choice's
label, the model in the log, the training report's settings."""

from __future__ import annotations

import importlib
import pkgutil
import re

import lcz_qgis.commands as commands
from lcz_qgis.commands import spec
from lcz_qgis.commands.choices import FORMER_LABELS, model_words
from lcz_qgis.reports.html import training_report_html


def _enum_params():
    for info in pkgutil.iter_modules(commands.__path__):
        command = getattr(
            importlib.import_module(f"lcz_qgis.commands.{info.name}"), "COMMAND", None
        )
        for p in getattr(command, "params", ()):
            if p.kind in (spec.ENUM, spec.ENUM_NUMBER):
                yield command.name, p


def _is_code(code: str, label: str) -> bool:
    """A label that only spells its code: the same letters (case, spaces, dashes and
    underscores aside), or an acronym alone ("NDVI")."""
    squash = re.sub(r"[\s_\-]", "", label).lower()
    return squash == re.sub(r"[\s_\-]", "", code).lower() or label.isupper()


def test_every_enum_label_is_words_not_its_code():
    codes_shown = [
        f"{name} {p.key}: {code!r} shown as {label!r}"
        for name, p in _enum_params()
        for code, label in zip(p.codes, p.labels)
        if _is_code(code, label)
    ]
    assert codes_shown == []
    # the check itself tells a code from words
    assert _is_code("gaussian", "Gaussian") and _is_code("ndvi", "NDVI")
    assert not _is_code("none", "No filter")


def test_the_filter_reads_as_words():
    [filter_param] = [p for name, p in _enum_params() if name == "classify" and p.key == "FILTER"]
    assert dict(zip(filter_param.codes, filter_param.labels))["gaussian"] == (
        "Gaussian smoothing of probabilities (as the LCZ Generator)"
    )


def test_former_labels_name_a_code_of_their_enum():
    """A graphical model saved with an old label ("Majority (3 x 3)") still finds its code."""
    by_code = {}
    for _, p in _enum_params():
        for code in p.codes:
            by_code.setdefault(code, set()).update(p.labels)
    for old, code in FORMER_LABELS.items():
        assert code in by_code, old
        assert old not in by_code[code], f"{old!r} is still a label: not a former one"


def test_models_are_named_in_words():
    assert model_words("rf", "sen2") == "random forest (Sentinel-2)"
    assert model_words("sen2lcznet", "sen2") == "Sen2LCZ-Net (Sentinel-2)"
    assert model_words("fusion", "fusion") == "ResNet50 fusion (Fusion (Sentinel-1 + Sentinel-2))"
    assert model_words("custom_net", "sen9") == "custom_net (sen9)"  # unknown: as it is


def test_the_training_report_says_its_settings_in_words():
    manifest = {"model_type": "rf", "sensor": "sen2", "band_names": ["B2"],
                "training": {"file": "/t/train.h5", "n_train": 10, "features": "stats",
                             "schedule": "exponential", "augment": True,
                             "stopped_early": False}}  # fmt: skip
    page = training_report_html(manifest, {})
    cells = re.findall(r'<th class="l">([^<]*)</th><td class="l">([^<]*)</td>', page)
    table = dict(cells)
    assert table["Model type"] == "Random forest on per-patch features (scikit-learn)"
    assert table["Sensor"] == "Sentinel-2"
    assert table["Features"] == "per-patch statistics"
    assert table["Schedule"] == "exponential decay"
    assert (table["Augmentation"], table["Stopped early"]) == ("yes", "no")
    assert "<title>LCZ model training: Random forest on per-patch features" in page
