"""``KerasOptions``: one Keras training request, checked once before any patch is read;
``check_applicable``: which options apply to which run, one message for every front end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lcz_qgis.common.errors import LczError
from lcz_qgis.training.options import KerasOptions, check_applicable

OLD_FILES = Path(__file__).resolve().parents[1] / "data" / "old_files"


def test_check_completes_a_new_network_request(sample_dir, tmp_path):
    options = KerasOptions(
        sample_dir / "train.h5", str(tmp_path / "m.lczmodel"), "sen2lcznet", None,
        "B2,B3,B4,B8", epochs=2.0, batch_size=16.0, model_options={"base_filters": 16},
    )  # fmt: skip
    checked = options.check()
    assert checked.output == tmp_path / "m.lczmodel" and isinstance(checked.output, Path)
    assert (checked.sensor, checked.bands) == ("sen2", [0, 1, 2, 6])
    assert (checked.epochs, checked.batch_size) == (2, 16)
    assert type(checked.epochs) is int and type(checked.batch_size) is int
    assert checked.model_options == {"base_filters": 16}  # the builder's, updated
    assert not checked.fine_tuning and checked.train_name == "train.h5"
    assert checked.check() is checked  # a checked request passes at once
    assert options.bands == "B2,B3,B4,B8"  # the request itself is not changed
    assert not list(tmp_path.iterdir())  # nothing written by a check
    # 0-based indices, numpy integers too (the keyword API's form)
    indices = KerasOptions(sample_dir / "train.h5", tmp_path / "m.lczmodel", "mlp", "sen2",
                           np.array([2, 3, 6])).check()  # fmt: skip
    assert indices.bands == [2, 3, 6] and all(type(b) is int for b in indices.bands)
    assert KerasOptions(sample_dir / "train.h5", tmp_path / "f.lczmodel", "fusion_late",
                        "fusion", "5,6,S2_B2,S2_B3").check().model_options == {
        "variant": "late", "s1_channels": 2}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"epochs": 0}, "epochs must be at least 1, got 0"),
        ({"batch_size": 0}, "batch size must be at least 1, got 0"),
        ({"learning_rate": float("nan")}, "the learning rate must be a positive number, got nan"),
        ({"schedule": "linear"}, "unknown schedule 'linear'; use one of constant, exponential"),
        ({"early_stopping": -1}, "early stopping patience must be 0 (off) or more, got -1"),
        ({"freeze": "half"}, "unknown freeze 'half'; use one of none, all-but-head"),
        ({"freeze": "all-but-head"}, "freeze all-but-head applies when fine-tuning an init_model"),
        ({"model_type": "rf"}, "'rf' is not a Keras model type"),
        ({"model_type": "xgboost"}, "unknown model type 'xgboost'; choose one of rf, mlp"),
        ({"model_type": "fusion_late"}, "set the sensor to 'fusion' (it is 'sen2')"),
        ({"bands": "B2,B2"}, "B2"),
        ({"seed": -3}, "the random seed must be a whole number"),
        ({"max_samples": -5}, "the maximum number of training patches must be a positive"),
        ({"output": "TRAIN"}, "is the input train"),
        ({"report": "OUTPUT"}, "would write the same file"),
        ({"report": "nodir/r.html"}, "does not exist"),
    ],
)
def test_each_rule_is_a_clear_error_before_anything_is_read(sample_dir, tmp_path, change, message):
    train = tmp_path / "missing.h5"  # never opened: the request is checked first
    values = {"train": train, "output": tmp_path / "m.lczmodel", "model_type": "mlp"}
    named = {"TRAIN": train, "OUTPUT": values["output"]}
    values |= {k: named.get(v, tmp_path / v) if k in ("output", "report") else v
               for k, v in change.items()}  # fmt: skip
    with pytest.raises(LczError) as info:
        KerasOptions(**values).check()
    assert message in str(info.value)
    assert not list(tmp_path.iterdir())


def test_which_options_apply_is_one_rule_with_one_message_per_front_end():
    def flags(kind, name, neutral):  # what the CLI shows for a parameter
        return f"--{name.lower().replace('_', '-')}"

    cases = [
        ("rf", False, {"EPOCHS": 3, "AUGMENT": True}, "epochs, augment apply to Keras models, not rf",
         "--epochs, --augment apply to Keras models, not rf"),
        (None, False, {"CLASS_WEIGHTS": False}, "class_weights apply to Keras models, not rf",
         "--class-weights apply to Keras models, not rf"),
        ("mlp", False, {"FEATURES": "raw"}, "features applies to rf models only, not mlp",
         "--features applies to rf models only, not mlp"),
        ("rf", True, {"FEATURES": "raw"}, "features applies to rf models, not to fine-tuning",
         "--features applies to rf models, not to fine-tuning"),
        ("mlp", False, {"FREEZE": "all-but-head"},
         "freeze all-but-head applies when fine-tuning an init_model only",
         "--freeze all-but-head applies when fine-tuning an --init-model only"),
        ("lgbm", False, {}, "unknown model type 'lgbm'", "unknown model type 'lgbm'"),
    ]  # fmt: skip
    for model_type, fine_tuning, given, python, cli in cases:
        with pytest.raises(LczError) as info:
            check_applicable(model_type, fine_tuning, given)
        assert python in str(info.value)
        assert cli in info.value.message(flags)
    # what does apply, or was not given (None, FREEZE none), passes
    check_applicable("rf", False, {"FEATURES": "raw", "EPOCHS": None, "FREEZE": "none"})
    check_applicable("mlp", False, {"EPOCHS": 3, "FREEZE": None})
    check_applicable("rf", True, {"EPOCHS": 3, "FREEZE": "all-but-head"})


def test_train_model_refuses_a_keyword_that_is_no_option(sample_dir, tmp_path):
    from lcz_qgis.training.train import train_model

    with pytest.raises(TypeError, match=r"unexpected keyword arguments \['epoch'\]"):
        train_model(sample_dir / "train.h5", tmp_path / "m.lczmodel", "rf", epoch=3)
    assert not list(tmp_path.iterdir())


def test_fine_tuning_takes_the_init_models_type_sensor_and_bands(sample_dir, tmp_path):
    pytest.importorskip("tensorflow")
    from lcz_qgis.training.init_model import InitModel

    init = OLD_FILES / "mlp_keras2.lczmodel"  # mlp_diy on Sentinel-2 band B2
    checked = KerasOptions(sample_dir / "train.h5", tmp_path / "ft.lczmodel", sensor="sen2",
                           init_model=init, freeze="all-but-head").check()  # fmt: skip
    assert checked.fine_tuning and isinstance(checked.init_model, InitModel)
    assert (checked.model_type, checked.sensor, checked.bands) == ("mlp_diy", "sen2", [0])
    assert checked.model_options == {} and checked.freeze == "all-but-head"
    # an opened init model is taken as it is, and checked the same way
    again = KerasOptions(sample_dir / "train.h5", tmp_path / "ft.lczmodel", bands="B2",
                         init_model=checked.init_model).check()  # fmt: skip
    assert again.init_model is checked.init_model and again.bands == [0]
    refused = [
        ({"model_options": {"variant": "simple"}}, "model_options apply to new networks"),
        ({"model_type": "mlp"}, "is a mlp_diy model; model_type mlp does not apply"),
        ({"bands": "B2,B3"}, "takes sen2 B2; bands asks for sen2 B2, B3"),
        ({"sensor": "sen1"}, "is a sen2 model; it cannot be fine-tuned on sen1 patches"),
        ({"init_model": OLD_FILES / "rf_sklearn12.lczmodel"}, "is a random forest"),
        ({"output": init}, "is the input init_model"),
    ]
    for change, message in refused:
        values = {"train": sample_dir / "train.h5", "output": tmp_path / "ft.lczmodel",
                  "init_model": init, **change}  # fmt: skip
        with pytest.raises(LczError) as info:
            KerasOptions(**values).check()
        assert message in str(info.value)
    assert not list(tmp_path.iterdir())
