"""The installed ``lcz`` script: its help, one-line errors, a train-and-classify run, the
sample-data size checks, and TensorFlow's INFO lines hidden."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _lcz(*args):
    lcz = Path(sys.executable).parent / "lcz"
    return subprocess.run([str(lcz), *args], capture_output=True, text=True, timeout=300)


def test_cli_help_lists_the_subcommands():
    r = _lcz("--help")
    assert r.returncode == 0
    for cmd in ("sample-data", "train", "classify"):
        assert cmd in r.stdout
    assert "--model-type" in _lcz("train", "--help").stdout
    assert "--sentinel2" in _lcz("classify", "--help").stdout


def test_cli_bad_input_is_one_line_and_nonzero(tmp_path):
    r = _lcz("train", "--train", str(tmp_path / "missing.h5"), "--output", str(tmp_path / "m"))
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0
    assert "does not exist" in r.stderr
    r = _lcz("sample-data", "--output-folder", str(tmp_path / "no" / "nope"))
    assert r.returncode == 2 and "does not exist" in r.stderr


def test_cli_train_and_classify_end_to_end(tmp_path, sample_dir, rf_model):
    out = tmp_path / "map.tif"
    r = _lcz(
        "classify",
        "--model",
        str(rf_model),
        "--sentinel2",
        str(sample_dir / "scene_s2.tif"),
        "--output",
        str(out),
    )
    assert r.returncode == 0, r.stderr
    assert out.exists() and out.with_suffix(".qml").exists()


def test_cli_sample_data_checks_sizes_before_writing(tmp_path):
    help_text = " ".join(_lcz("sample-data", "--help").stdout.split())
    assert "default 2400; at least 340" in help_text and "default 600; at least 340" in help_text
    r = _lcz("sample-data", "--output-folder", str(tmp_path), "--train-size", "600",
             "--test-size", "300")  # fmt: skip
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0
    # the CLI applies the declared minimum before any work, as the dialog does
    assert "--test-size 300 is out of range; give a whole number from 340" in r.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written, not even train.h5
    # an existing train.h5 is left as it was
    (tmp_path / "train.h5").write_bytes(b"an earlier train.h5")
    r = _lcz("sample-data", "--output-folder", str(tmp_path), "--train-size", "339")
    assert r.returncode == 2 and "--train-size 339 is out of range" in r.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["train.h5"]
    assert (tmp_path / "train.h5").read_bytes() == b"an earlier train.h5"


def test_cli_hides_tensorflow_info_lines_unless_the_user_chose(tmp_path):
    """``lcz`` sets TF_CPP_MIN_LOG_LEVEL=2 (no oneDNN / cpu_feature_guard INFO lines)
    before any command imports TensorFlow; a value the user set is kept."""
    import os

    code = (
        "import os, sys; from lcz_qgis.cli import main; "
        f"rc = main(['sample-data', '--output-folder', {str(tmp_path / 'no' / 'nope')!r}]); "
        "print(rc, os.environ.get('TF_CPP_MIN_LOG_LEVEL'), 'tensorflow' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    run = dict(capture_output=True, text=True, timeout=300, cwd=REPO)
    r = subprocess.run([sys.executable, "-c", code], env=env, **run)
    assert r.stdout.split() == ["2", "2", "False"], r.stderr
    r = subprocess.run(
        [sys.executable, "-c", code], env={**env, "TF_CPP_MIN_LOG_LEVEL": "0"}, **run
    )
    assert r.stdout.split() == ["2", "0", "False"], r.stderr
