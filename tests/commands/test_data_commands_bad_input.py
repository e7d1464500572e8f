"""Bad and suspicious input to the data commands: train, evaluate, summary, sample-data.

What a user sees: the exit code, a one-line message (never a traceback), warnings naming
what was found, and files that stay byte for byte as they were.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np
import pytest

from lcz_qgis.cli import main
from lcz_qgis.common.errors import Cancelled, LczError
from lcz_qgis.common.feedback import Feedback
from lcz_qgis.sample_data import write_sample_data, write_so2sat_file


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    """train.h5 (340 patches), val.h5 (340), an rf model trained on train.h5."""
    d = tmp_path_factory.mktemp("bad_input")
    write_so2sat_file(d / "train.h5", 340, seed=5)
    write_so2sat_file(d / "val.h5", 340, seed=6)
    assert main(["train", "--train", str(d / "train.h5"), "--output", str(d / "rf.lczmodel")]) == 0
    return d


def _copy_h5(src: Path, dst: Path, sen2=None, label=None, rows=None) -> Path:
    with h5py.File(src, "r") as f:
        rows = slice(None) if rows is None else rows
        s1, s2, lab = f["sen1"][rows], f["sen2"][rows], f["label"][rows]
    with h5py.File(dst, "w") as g:
        g["sen1"] = s1
        g["sen2"] = s2 if sen2 is None else sen2(s2)
        g["label"] = lab if label is None else label
    return dst


def _run(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def _one_line_error(err: str, *needles: str) -> str:
    assert "Traceback" not in err
    lines = [x for x in err.splitlines() if "error:" in x]
    assert len(lines) == 1, err
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


# -- 1. an output must not overwrite an input or another output -----------------------------


@pytest.mark.parametrize(
    "flags, needle",
    [
        (["--output", "{train}"], "--output '{train}' is the input --train"),
        (["--validation", "{val}", "--output", "{val}"], "is the input --validation"),
        (["--output", "{tmp}/m.lczmodel", "--report", "{train}"], "is the input --train"),
        (
            ["--validation", "{val}", "--output", "{tmp}/m.lczmodel", "--report", "{val}"],
            "--validation",
        ),
    ],
)
def test_train_refuses_to_overwrite_its_inputs(data, tmp_path, capsys, flags, needle):
    work = tmp_path / "w"
    work.mkdir()
    train, val = work / "train.h5", work / "val.h5"
    train.write_bytes((data / "train.h5").read_bytes())
    val.write_bytes((data / "val.h5").read_bytes())
    before = {p: p.read_bytes() for p in (train, val)}
    subst = {"train": train, "val": val, "tmp": work}
    argv = ["train", "--train", train, *[f.format(**subst) for f in flags]]
    rc, _, err = _run(capsys, *argv)
    assert rc == 2
    _one_line_error(err, needle.format(**subst))
    assert {p: p.read_bytes() for p in (train, val)} == before
    assert not (work / "m.lczmodel").exists()


def test_train_report_equal_to_output_keeps_the_old_model(data, tmp_path, capsys):
    model = tmp_path / "m.lczmodel"
    model.write_bytes((data / "rf.lczmodel").read_bytes())
    before = model.read_bytes()
    rc, _, err = _run(
        capsys, "train", "--train", data / "train.h5", "--output", model, "--report", model
    )
    assert rc == 2
    _one_line_error(err, "--output", "--report", "would write the same file")
    assert model.read_bytes() == before


@pytest.mark.parametrize(
    "flags, needle",
    [
        (["--output-json", "{dataset}"], "--output-json '{dataset}' is the input --dataset"),
        (["--csv", "{model}"], "--output-csv '{model}' is the input --model"),
        (["--report", "{dataset}"], "is the input --dataset"),
        (["--confusion-png", "{model}"], "is the input --model"),
        (["--report", "{tmp}/x.out", "--confusion-png", "{tmp}/x.out"], "would write the same"),
        (["--output-json", "{tmp}/x.out", "--csv", "{tmp}/x.out"], "would write the same"),
    ],
)
def test_evaluate_refuses_to_overwrite_inputs_or_share_outputs(
    data, tmp_path, capsys, flags, needle
):
    model, dataset = tmp_path / "m.lczmodel", tmp_path / "test.h5"
    model.write_bytes((data / "rf.lczmodel").read_bytes())
    dataset.write_bytes((data / "val.h5").read_bytes())
    before = {p: p.read_bytes() for p in (model, dataset)}
    subst = {"model": model, "dataset": dataset, "tmp": tmp_path}
    argv = ["evaluate", "--model", model, "--dataset", dataset]
    rc, _, err = _run(capsys, *argv, *[f.format(**subst) for f in flags])
    assert rc == 2
    _one_line_error(err, needle.format(**subst))
    assert {p: p.read_bytes() for p in (model, dataset)} == before
    assert not (tmp_path / "x.out").exists()


def test_evaluate_core_entry_point_checks_paths_too(data, tmp_path):
    from lcz_qgis.evaluation.evaluate import evaluate_to_files, write_outputs

    with pytest.raises(LczError, match="is the input model"):
        evaluate_to_files(data / "rf.lczmodel", data / "val.h5", output_json=data / "rf.lczmodel")
    with pytest.raises(LczError, match="would write the same file"):
        write_outputs({}, output_json=tmp_path / "a", report=tmp_path / "a")
    assert not (tmp_path / "a").exists()


def test_summary_refuses_to_overwrite_its_input_or_share_outputs(data, tmp_path, capsys):
    h5 = tmp_path / "in.h5"
    h5.write_bytes((data / "val.h5").read_bytes())
    before = h5.read_bytes()
    rc, _, err = _run(capsys, "summary", "--input", h5, "--output-html", h5)
    assert rc == 2
    _one_line_error(err, f"--output-html '{h5}' is the input --input")
    rc, _, err = _run(capsys, "summary", "--input", h5, "--output-png", h5)
    assert rc == 2 and "is the input --input" in err
    out = tmp_path / "same.x"
    rc, _, err = _run(capsys, "summary", "--input", h5, "--output-html", out, "--output-png", out)
    assert rc == 2
    _one_line_error(err, "--output-html", "--output-png", "would write the same file")
    assert h5.read_bytes() == before and not out.exists()


# -- 2. clear errors instead of tracebacks ----------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["summary", "--input", "{train}", "--seed", "-1"],
        ["train", "--train", "{train}", "--output", "{tmp}/m.lczmodel", "--seed", "-3"],
        ["train", "--model-type", "mlp", "--train", "{train}", "--output", "{tmp}/m.lczmodel",
         "--seed", "-3"],
        ["sample-data", "--output-folder", "{tmp}", "--seed", "-1"],
    ],
)  # fmt: skip
def test_negative_seed_is_a_clear_error(data, tmp_path, capsys, argv):
    argv = [a.format(train=data / "train.h5", tmp=tmp_path) for a in argv]
    rc, _, err = _run(capsys, *argv)
    assert rc == 2  # the CLI refuses it by the declared range, before any work
    _one_line_error(err, f"--seed {argv[-1]} is out of range; give a whole number of at least 0")
    assert list(tmp_path.iterdir()) == []


def test_negative_seed_is_refused_by_the_core_too(data, tmp_path):
    from lcz_qgis.so2sat.summary import summarize
    from lcz_qgis.training.train import train_model

    with pytest.raises(LczError, match="random seed must be a whole number from 0"):
        summarize(data / "train.h5", seed=-1)
    with pytest.raises(LczError, match="random seed must be a whole number from 0"):
        train_model(data / "train.h5", tmp_path / "m.lczmodel", seed=-3)
    assert list(tmp_path.iterdir()) == []


def test_negative_max_samples_is_a_clear_error(data, tmp_path, capsys):
    out = tmp_path / "m.lczmodel"
    rc, _, err = _run(
        capsys, "train", "--train", data / "train.h5", "--output", out, "--max-samples", "-5"
    )
    assert rc == 2
    _one_line_error(err, "--max-samples -5 is out of range; give a whole number of at least 0")
    assert not out.exists()
    from lcz_qgis.training.train import train_model

    with pytest.raises(LczError, match="maximum number of training patches.*-5"):
        train_model(data / "train.h5", out, max_samples=-5)  # the core checks again
    assert not out.exists()


def test_rf_on_all_nan_sen2_is_a_clear_error(data, tmp_path, capsys):
    bad = _copy_h5(data / "train.h5", tmp_path / "nan.h5", sen2=lambda x: np.full_like(x, np.nan))
    out = tmp_path / "m.lczmodel"
    rc, _, err = _run(capsys, "train", "--train", bad, "--output", out)
    assert rc == 2
    _one_line_error(err, "NaN or inf", "nan.h5")
    assert not out.exists()


def test_sample_data_huge_size_is_a_clear_error(tmp_path, capsys):
    rc, _, err = _run(
        capsys, "sample-data", "--output-folder", tmp_path, "--train-size", "1000000000000"
    )
    assert rc == 2
    _one_line_error(err, "--train-size 1000000000000 is out of range", "from 340 to 1000000")
    assert list(tmp_path.iterdir()) == []
    from lcz_qgis.sample_data import write_sample_data

    with pytest.raises(LczError, match="at most .*patches"):  # the core checks again
        write_sample_data(tmp_path, n_train=10**12)
    assert list(tmp_path.iterdir()) == []


def test_sen2_group_and_folder_inputs_are_one_line_errors(data, tmp_path, capsys):
    g = tmp_path / "group.h5"
    with h5py.File(g, "w") as f:
        f.create_group("sen2")
        f["sen1"] = np.zeros((2, 32, 32, 8))
        f["label"] = np.eye(17)[[0, 1]]
    rc, _, err = _run(capsys, "summary", "--input", g)
    assert rc == 2
    _one_line_error(err, "'sen2' is a group")
    rc, _, err = _run(capsys, "train", "--train", g, "--output", tmp_path / "m.lczmodel")
    assert rc == 2
    _one_line_error(err, "'sen2' is a group")
    folder = tmp_path / "dir.h5"
    folder.mkdir()
    rc, _, err = _run(capsys, "summary", "--input", folder)
    assert rc == 2
    assert len(err.strip().splitlines()) == 1
    _one_line_error(err, "is a folder, not an HDF5 file")


# -- 3. sample-data: all new files or all old ones ---------------------------------------------


def _snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


class _Interrupt(Feedback):
    """Ctrl-C (KeyboardInterrupt) or cancel once progress passes ``at`` percent."""

    def __init__(self, at: float, exc: type[BaseException]):
        self.at, self.exc = at, exc

    def progress(self, percent: float) -> None:
        if percent > self.at:
            raise self.exc()


@pytest.mark.parametrize("exc", [KeyboardInterrupt, Cancelled])
def test_sample_data_interrupted_rerun_keeps_the_old_set(tmp_path, exc):
    write_sample_data(tmp_path, seed=1, n_train=340, n_test=340)
    before = _snapshot(tmp_path)
    # train.h5 is complete at 75%; interrupt while test.h5 is being written
    with pytest.raises(exc):
        write_sample_data(tmp_path, seed=2, n_train=340, n_test=340, feedback=_Interrupt(80, exc))
    assert _snapshot(tmp_path) == before  # nothing new, nothing left behind


def test_sample_data_interrupted_while_moving_files_keeps_the_old_set(tmp_path, monkeypatch):
    write_sample_data(tmp_path, seed=1, n_train=340, n_test=340)
    before = _snapshot(tmp_path)
    real_replace = os.replace
    interrupted = []

    def replace(src, dst):  # Ctrl-C once, when the new test.h5 is moved into place
        if Path(dst) == tmp_path / "test.h5" and ".lcz-sample-" in str(src) and not interrupted:
            interrupted.append(src)
            raise KeyboardInterrupt
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        write_sample_data(tmp_path, seed=2, n_train=340, n_test=340)
    monkeypatch.undo()
    assert interrupted and _snapshot(tmp_path) == before
    # an uninterrupted rerun replaces every file
    write_sample_data(tmp_path, seed=2, n_train=340, n_test=340)
    after = _snapshot(tmp_path)
    assert after.keys() == before.keys()
    assert after["train.h5"] != before["train.h5"] and after["test.h5"] != before["test.h5"]


def test_sample_data_output_folder_that_is_a_file(tmp_path, capsys):
    f = tmp_path / "notafolder"
    f.write_bytes(b"data")
    rc, _, err = _run(capsys, "sample-data", "--output-folder", f)
    assert rc == 2
    _one_line_error(err, "is a file, not a folder")
    assert f.read_bytes() == b"data"


# -- 4. warnings about suspicious input ----------------------------------------------------------


def test_dn_scaled_sen2_warns_in_summary_train_and_evaluate(data, tmp_path, capsys):
    dn = _copy_h5(data / "val.h5", tmp_path / "dn.h5", sen2=lambda x: x * 10000)
    rc, _, err = _run(capsys, "summary", "--input", dn)
    assert rc == 0 and "warning: 'dn.h5'" in err and "look DN-scaled" in err
    assert "99th percentile" in err
    rc, _, err = _run(capsys, "train", "--train", dn, "--output", tmp_path / "m.lczmodel")
    assert rc == 0 and "look DN-scaled" in err
    rc, _, err = _run(capsys, "evaluate", "--model", data / "rf.lczmodel", "--dataset", dn)
    assert rc == 0 and "look DN-scaled" in err
    # reflectance does not warn
    rc, _, err = _run(capsys, "summary", "--input", data / "val.h5")
    assert rc == 0 and "DN-scaled" not in err


def test_validation_equal_to_train_warns(data, tmp_path, capsys):
    rc, _, err = _run(
        capsys, "train", "--train", data / "train.h5", "--validation", data / "train.h5",
        "--output", tmp_path / "m.lczmodel",
    )  # fmt: skip
    assert rc == 0
    assert "warning: the validation file 'train.h5' is the training file" in err


def test_rf_with_empty_validation_file_warns(data, tmp_path, capsys):
    empty = _copy_h5(data / "val.h5", tmp_path / "empty.h5", rows=slice(0, 0))
    out = tmp_path / "m.lczmodel"
    rc, printed, err = _run(
        capsys, "train", "--train", data / "train.h5", "--validation", empty, "--output", out
    )
    assert rc == 0 and out.exists()
    assert "warning: no validation patches" in err and "empty.h5" in err
    assert "oa" not in json.loads(printed)


# -- 5. the scores JSON is valid JSON ------------------------------------------------------------


def _strict_json(text: str):
    def refuse(name):
        raise ValueError(f"bare {name} in JSON")

    return json.loads(text, parse_constant=refuse)


def test_evaluate_json_writes_null_for_undefined_scores(data, tmp_path, capsys):
    with h5py.File(data / "val.h5", "r") as f:
        natural = np.flatnonzero(f["label"][:].argmax(1) >= 10)  # no urban class: OA_u undefined
    nat = _copy_h5(data / "val.h5", tmp_path / "natural.h5", rows=natural)
    out = tmp_path / "s.json"
    report = tmp_path / "r.html"
    rc, printed, _ = _run(
        capsys, "evaluate", "--model", data / "rf.lczmodel", "--dataset", nat,
        "--output-json", out, "--report", report, "--csv", tmp_path / "s.csv",
    )  # fmt: skip
    assert rc == 0
    saved = _strict_json(out.read_text())
    assert saved["oa_u"] is None and 0 < saved["oa"] <= 1
    assert _strict_json(printed)["oa_u"] is None
    assert "n/a" in report.read_text()
    # the saved scores still make a report
    from lcz_qgis.reports.html import evaluation_report_html

    assert "LCZ model evaluation" in evaluation_report_html(saved)


# -- Processing ----------------------------------------------------------------------------------


def test_processing_refuses_output_equal_to_input_and_negative_seeds(run_alg, data, tmp_path):
    from qgis.core import QgsProcessingException

    train = tmp_path / "train.h5"
    train.write_bytes((data / "train.h5").read_bytes())
    before = train.read_bytes()
    with pytest.raises(QgsProcessingException, match=r'is the input "Training data \(So2Sat'):
        run_alg("lcz:trainmodel", {"TRAIN": str(train), "OUTPUT": str(train)})
    with pytest.raises(QgsProcessingException, match='is the input "So2Sat HDF5 file"'):
        run_alg("lcz:datasetsummary", {"INPUT": str(train), "OUTPUT_HTML": str(train)})
    with pytest.raises(QgsProcessingException, match='is the input "Labelled dataset'):
        run_alg(
            "lcz:evaluatemodel",
            {"MODEL": str(data / "rf.lczmodel"), "DATASET": str(train),
             "OUTPUT_JSON": str(train)},
        )  # fmt: skip
    assert train.read_bytes() == before
    for alg, params in (
        ("lcz:trainmodel", {"TRAIN": str(train), "OUTPUT": str(tmp_path / "m.lczmodel")}),
        ("lcz:datasetsummary", {"INPUT": str(train), "OUTPUT_HTML": str(tmp_path / "s.html")}),
        ("lcz:sampledata", {"OUTPUT_FOLDER": str(tmp_path / "sd")}),
    ):
        with pytest.raises(QgsProcessingException):
            run_alg(alg, {**params, "SEED": -1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train.h5"]


def test_sample_data_makes_its_new_folder_and_removes_it_on_failure(tmp_path, capsys):
    from lcz_qgis.cli import main as lcz

    new = tmp_path / "sd"
    assert lcz(["sample-data", "--output-folder", str(new), "--train-size", "100"]) == 2
    assert "340" in capsys.readouterr().err and not new.exists()
    args = ["sample-data", "--output-folder", str(new), "--train-size", "340", "--test-size", "340"]
    assert lcz(args) == 0
    assert (new / "train.h5").is_file() and (new / "scene_s2.qml").is_file()
    assert lcz(["sample-data", "--output-folder", str(tmp_path / "no" / "sd")]) == 2
    assert "does not exist" in capsys.readouterr().err
