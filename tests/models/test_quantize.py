"""``lcz quantize-model``: an int8 model file from a small Sen2LCZ-Net trained on the
bundled sample. The manifest's agreement values are recomputed here from the files
themselves; the refusal threshold, the forest refusal, the safety allow-list, the CLI
and classify with the int8 file are exercised on real files.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from lcz_qgis.common.errors import LczError
from lcz_qgis.common.feedback import Feedback
from lcz_qgis.models import onnx_safety
from lcz_qgis.models.modelfile import load_model, read_manifest
from lcz_qgis.models.quantize import quantize_model_file

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
REPO = Path(__file__).resolve().parents[2]
HELD_OUT = 300


class Messages(Feedback):
    def __init__(self):
        super().__init__()
        self.warnings: list[str] = []

    def warning(self, message):
        self.warnings.append(message)


def small_sen2lcznet(sample_dir: Path, out: Path) -> Path:
    """A small Sen2LCZ-Net (depth 5, 4 base filters) trained 3 epochs on the sample."""
    pytest.importorskip("tf2onnx")
    keras = pytest.importorskip("keras")
    if int(keras.__version__.split(".")[0]) < 3:
        pytest.skip("Keras's ONNX export needs Keras 3")
    from lcz_qgis.training.train import train_model

    train_model(sample_dir / "train.h5", out, model_type="sen2lcznet", sensor="sen2", seed=0,
                epochs=3, batch_size=32, early_stopping=0,
                model_options={"depth": 5, "base_filters": 4})  # fmt: skip
    assert onnx_safety.has_graph(read_manifest(out)), read_manifest(out)["onnx"]
    return out


@pytest.fixture(scope="module")
def float_model(sample_dir, tmp_path_factory) -> Path:
    return small_sen2lcznet(sample_dir, tmp_path_factory.mktemp("q") / "s2n.lczmodel")


@pytest.fixture(scope="module")
def int8_model(float_model, sample_dir) -> tuple[Path, dict]:
    out = float_model.with_name("s2n_int8.lczmodel")
    # a lower bar than the default: a 3-epoch model on another platform may sit near 98 %
    result = quantize_model_file(float_model, out, sample_dir / "train.h5",
                                 held_out=HELD_OUT, min_agreement=0.9)  # fmt: skip
    return out, result


def _rows(n: int, held: int) -> tuple[np.ndarray, np.ndarray]:
    """The documented split: rows permuted with seed 0, the first held out, up to 1000
    of the rest calibrate."""
    order = np.random.default_rng(0).permutation(n)
    return np.sort(order[held : held + 1000]), np.sort(order[:held])


def _classes(path, x) -> np.ndarray:
    return load_model(path).predict(x)


def test_the_manifest_agreement_is_what_the_files_give(float_model, int8_model, sample_dir):
    from lcz_qgis.so2sat.file import So2SatFile

    out, result = int8_model
    q = read_manifest(out)["quantization"]
    with So2SatFile(sample_dir / "train.h5") as f:
        cal_rows, held_rows = _rows(f.n, HELD_OUT)
        x_cal, x_held = f.read("sen2", cal_rows), f.read("sen2", held_rows)
        codes = f.labels(held_rows)
    a_cal, b_cal = _classes(float_model, x_cal), _classes(out, x_cal)
    a, b = _classes(float_model, x_held), _classes(out, x_held)
    assert q["held_out_windows"] == HELD_OUT and q["calibration_windows"] == len(cal_rows)
    assert q["held_out_agreement"] == pytest.approx(np.mean(a == b), abs=1e-12)
    assert q["calibration_agreement"] == pytest.approx(np.mean(a_cal == b_cal), abs=1e-12)
    assert q["held_out_oa_float"] == pytest.approx(np.mean(a == codes), abs=1e-12)
    assert q["held_out_oa_int8"] == pytest.approx(np.mean(b == codes), abs=1e-12)
    assert 0.9 <= q["held_out_agreement"] < 1.0  # int8 is not the float model bit for bit
    assert result["held_out_agreement"] == q["held_out_agreement"]
    assert q["min_agreement"] == 0.9 and "warning" not in q


def test_the_file_holds_only_an_int8_graph_and_says_so(float_model, int8_model):
    import onnx

    out, _ = int8_model
    with zipfile.ZipFile(out) as z:
        assert sorted(z.namelist()) == ["manifest.json", "model.onnx"]
        graph = onnx.load_from_string(z.read("model.onnx"))
    m = read_manifest(out)
    assert m["framework"] == "onnx" and m["model_member"] == "model.onnx"
    assert "ONNX Runtime" in m["prediction"] and "not TensorFlow" in m["prediction"]
    assert m["quantized_from"]["file"] == float_model.name
    assert m["quantized_from"]["framework"] == "keras"
    ops = {n.op_type for n in graph.graph.node}
    assert {"QuantizeLinear", "DequantizeLinear", "Conv"} <= ops
    weights = [t for t in graph.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert weights and sum(np.prod(t.dims) for t in weights) > 1000  # the conv kernels
    assert {o.domain for o in graph.opset_import} <= {"", "ai.onnx"}
    assert load_model(out).runtime == "onnx"


def test_tensorflow_runtime_is_one_line_naming_the_int8_file(int8_model):
    out, _ = int8_model
    with pytest.raises(LczError, match=r"'s2n_int8.lczmodel' is an int8 model") as e:
        load_model(out, runtime="tensorflow")
    assert "\n" not in str(e.value)


def test_under_the_threshold_nothing_is_written(float_model, sample_dir, tmp_path):
    out = tmp_path / "int8.lczmodel"
    with pytest.raises(LczError) as e:
        quantize_model_file(float_model, out, sample_dir / "train.h5", held_out=HELD_OUT,
                            min_agreement=1.0)  # fmt: skip
    text = str(e.value)
    assert "agrees with the float model on only" in text and "at least 100.00%" in text
    assert "nothing was written" in text and "\n" not in text
    assert not out.exists() and list(tmp_path.iterdir()) == []
    # an existing output stays byte for byte
    out.write_bytes(b"the previous model")
    with pytest.raises(LczError, match="nothing was written"):
        quantize_model_file(float_model, out, sample_dir / "train.h5", held_out=HELD_OUT,
                            min_agreement=1.0)  # fmt: skip
    assert out.read_bytes() == b"the previous model" and list(tmp_path.iterdir()) == [out]


def test_low_agreement_allowed_is_written_with_a_loud_warning(float_model, sample_dir, tmp_path):
    out, fb = tmp_path / "low.lczmodel", Messages()
    quantize_model_file(float_model, out, sample_dir / "train.h5", held_out=HELD_OUT,
                        min_agreement=1.0, allow_low_agreement=True, feedback=fb)  # fmt: skip
    q = read_manifest(out)["quantization"]
    assert q["warning"].startswith("LOW AGREEMENT") and q["min_agreement"] == 1.0
    assert [w for w in fb.warnings if w.startswith("WARNING: LOW AGREEMENT")]


def test_a_calibration_file_without_labels_records_agreement_only(float_model, sample_dir,
                                                                 tmp_path):  # fmt: skip
    import h5py

    from lcz_qgis.so2sat.file import So2SatFile

    with So2SatFile(sample_dir / "train.h5") as f:
        x = f.read("sen2", np.arange(400))
    x[:5, 3, 3, 0] = np.nan  # dropped, never fed to the calibrator
    windows = tmp_path / "windows.h5"
    with h5py.File(windows, "w") as h5:
        h5.create_dataset("sen2", data=x.astype(np.float64))
    out = tmp_path / "nolabels.lczmodel"
    quantize_model_file(float_model, out, windows, held_out=100, min_agreement=0.9)
    q = read_manifest(out)["quantization"]
    assert q["calibration_file"] == "windows.h5" and not any("oa" in k for k in q)
    held = np.sort(np.random.default_rng(0).permutation(400)[:100])
    valid = held[held >= 5]
    assert q["held_out_windows"] == len(valid)
    a, b = _classes(float_model, x[valid]), _classes(out, x[valid])
    assert q["held_out_agreement"] == pytest.approx(np.mean(a == b), abs=1e-12)


def test_a_forest_and_an_int8_file_are_refused(rf_model, int8_model, sample_dir, tmp_path):
    with pytest.raises(LczError, match="is a random forest: its ONNX graph is a tree"):
        quantize_model_file(rf_model, tmp_path / "rf8.lczmodel", sample_dir / "train.h5")
    with pytest.raises(LczError, match="is already an int8 model"):
        quantize_model_file(int8_model[0], tmp_path / "x.lczmodel", sample_dir / "train.h5")
    assert list(tmp_path.iterdir()) == []
    # a network's file written where the converters were missing: no graph to quantise
    bare = tmp_path / "bare.lczmodel"
    with (
        zipfile.ZipFile(int8_model[0].with_name("s2n.lczmodel")) as z,
        zipfile.ZipFile(bare, "w") as w,
    ):
        manifest = json.loads(z.read("manifest.json"))
        manifest["onnx"] = {"note": "no ONNX graph (onnx not installed)"}
        w.writestr("manifest.json", json.dumps(manifest))
        w.writestr("model.keras", z.read("model.keras"))
    with pytest.raises(LczError, match="'bare.lczmodel' has no ONNX graph; `lcz upgrade-model`"):
        quantize_model_file(bare, tmp_path / "y.lczmodel", sample_dir / "train.h5")
    assert list(tmp_path.iterdir()) == [bare]


def test_bad_requests_name_the_parameter(float_model, sample_dir, tmp_path):
    h5 = sample_dir / "train.h5"
    cases = [
        (dict(dst=tmp_path / "m.onnx"), "^output: .*give a .lczmodel name, not 'm.onnx'"),
        (dict(dst=float_model), "input.*output|output.*input"),
        (dict(calibration=tmp_path / "none.h5"), "calibration"),
        (dict(held_out=1200), "^held_out is 1200; .*hold out 1 to 1199"),
        (dict(min_agreement=1.5), "^min_agreement is 1.5"),
        (dict(activations="int4"), "^activations is 'int4'"),
    ]
    for change, pattern in cases:
        args = {"src": float_model, "dst": tmp_path / "q.lczmodel", "calibration": h5, **change}
        with pytest.raises(LczError, match=pattern):
            quantize_model_file(**args)
    assert list(tmp_path.iterdir()) == []


def test_a_graph_with_an_operator_off_the_list_is_still_refused(int8_model):
    import onnx

    out, _ = int8_model
    entry = read_manifest(out)["onnx"]
    with zipfile.ZipFile(out) as z:
        good = z.read("model.onnx")
    assert onnx_safety.QUANT_OPS == {"QuantizeLinear", "DequantizeLinear"}
    assert onnx_safety.check_graph(good, entry, "'q'")  # the quantisation operators pass
    for op in ("QLinearConv", "ConvInteger", "MatMulInteger", "DynamicQuantizeLinear"):
        proto = onnx.load_from_string(good)
        node = next(n for n in proto.graph.node if n.op_type == "DequantizeLinear")
        node.op_type = op
        with pytest.raises(LczError, match=f"uses the operator '{op}', which no model"):
            onnx_safety.check_graph(proto.SerializeToString(), entry, "'q'")


def test_classify_with_the_int8_file_agrees_with_the_float_map(float_model, int8_model,
                                                               sample_dir, tmp_path):  # fmt: skip
    import rasterio

    from lcz_qgis.classify.pipeline import classify_raster

    maps = {}
    for name, path in (("float", float_model), ("int8", int8_model[0])):
        classify_raster(load_model(path), tmp_path / f"{name}.tif",
                        sentinel2=str(sample_dir / "scene_s2.tif"))  # fmt: skip
        with rasterio.open(tmp_path / f"{name}.tif") as r:
            maps[name] = r.read(1)
    valid = maps["float"] > 0
    assert valid.sum() > 100 and np.array_equal(valid, maps["int8"] > 0)
    agreement = float(np.mean(maps["float"][valid] == maps["int8"][valid]))
    assert 0.9 <= agreement <= 1.0, agreement


def test_the_cli_writes_and_refuses_in_one_line(float_model, sample_dir, tmp_path):
    def lcz(*args):
        return subprocess.run(
            [sys.executable, "-m", "lcz_qgis", "quantize-model", "--input", str(float_model),
             "--calibration", str(sample_dir / "train.h5"), "--held-out", str(HELD_OUT), *args],
            cwd=REPO, capture_output=True, text=True, timeout=600,
        )  # fmt: skip

    out = tmp_path / "cli8.lczmodel"
    done = lcz("--output", str(out), "--min-agreement", "0.9")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout[done.stdout.index("{") :])
    assert report["held_out_agreement"] == read_manifest(out)["quantization"]["held_out_agreement"]
    bad = lcz("--output", str(tmp_path / "no.lczmodel"), "--min-agreement", "1.0")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1, bad.stderr
    assert "nothing was written" in bad.stderr and not (tmp_path / "no.lczmodel").exists()
