"""``lcz train`` refuses options that do not apply to the model type, before any work."""

from __future__ import annotations


def test_cli_train_refuses_rf_options_for_keras_models(tmp_path, capsys):
    from lcz_qgis.cli import main

    out = tmp_path / "m.lczmodel"
    train = tmp_path / "missing.h5"  # never opened: the options are checked first
    for model_type in ("mlp", "resnet50"):
        rc = main(["train", "--train", str(train), "--output", str(out), "--model-type",
                   model_type, "--features", "raw"])  # fmt: skip
        assert rc == 2
        err = capsys.readouterr().err
        assert f"--features applies to rf models only, not {model_type}" in err
    rc = main(["train", "--train", str(train), "--output", str(out), "--epochs", "2"])
    assert rc == 2 and "--epochs apply to Keras models, not rf" in capsys.readouterr().err
    assert not out.exists()
