"""lcz:quantizemodel through processing.run: the algorithm in the Models group, an int8
model file written with its agreement as outputs, and a refusal under the minimum
agreement that is one QgsProcessingException with nothing written."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.qgis, pytest.mark.tf]
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def float_model(sample_dir, tmp_path_factory):
    """A small Sen2LCZ-Net (depth 5, 4 base filters) trained 3 epochs on the sample."""
    pytest.importorskip("tf2onnx")
    keras = pytest.importorskip("keras")
    if int(keras.__version__.split(".")[0]) < 3:
        pytest.skip("Keras's ONNX export needs Keras 3")
    from lcz_qgis.training.train import train_model

    out = tmp_path_factory.mktemp("qalg") / "s2n.lczmodel"
    train_model(sample_dir / "train.h5", out, model_type="sen2lcznet", sensor="sen2", seed=0,
                epochs=3, batch_size=32, early_stopping=0,
                model_options={"depth": 5, "base_filters": 4})  # fmt: skip
    return out


def test_the_algorithm_is_in_the_models_group(qgis_app):
    from qgis.core import QgsApplication

    alg = QgsApplication.processingRegistry().algorithmById("lcz:quantizemodel")
    assert alg is not None and alg.displayName() == "Quantize model"
    assert alg.group() == "Models"
    for key in ("INPUT", "CALIBRATION", "HELD_OUT", "MIN_AGREEMENT", "ALLOW_LOW_AGREEMENT",
                "ACTIVATIONS", "OUTPUT"):  # fmt: skip
        assert alg.parameterDefinition(key) is not None, key
    assert alg.parameterDefinition("MIN_AGREEMENT").defaultValue() == 0.98
    assert alg.outputDefinition("HELD_OUT_AGREEMENT").type() == "outputNumber"


def test_processing_run_writes_the_int8_model(run_alg, float_model, sample_dir, tmp_path):
    from lcz_qgis.models.modelfile import load_model, read_manifest

    out = tmp_path / "s2n_int8.lczmodel"
    res = run_alg("lcz:quantizemodel", {
        "INPUT": str(float_model), "CALIBRATION": str(sample_dir / "train.h5"),
        "HELD_OUT": 300, "MIN_AGREEMENT": 0.9, "OUTPUT": str(out),
    })  # fmt: skip
    q = read_manifest(out)["quantization"]
    assert res["OUTPUT"] == str(out)
    assert res["HELD_OUT_AGREEMENT"] == q["held_out_agreement"] >= 0.9
    assert res["CALIBRATION_AGREEMENT"] == q["calibration_agreement"]
    assert q["held_out_windows"] == 300 and q["activations"] == "int8"
    assert load_model(out).runtime == "onnx"


def test_processing_run_refuses_low_agreement_in_one_line(run_alg, float_model, sample_dir,
                                                           tmp_path):  # fmt: skip
    from qgis.core import QgsProcessingException

    out = tmp_path / "refused.lczmodel"
    with pytest.raises(QgsProcessingException) as e:
        run_alg("lcz:quantizemodel", {
            "INPUT": str(float_model), "CALIBRATION": str(sample_dir / "train.h5"),
            "HELD_OUT": 300, "MIN_AGREEMENT": 1.0, "OUTPUT": str(out),
        })  # fmt: skip
    text = str(e.value)
    assert "agrees with the float model on only" in text and "nothing was written" in text
    assert "\n" not in text.strip() and "Traceback" not in text
    assert not out.exists()
