"""Core messages name parameters through the command declarations: the same bad input reads
``--per-class`` in the CLI, "Patches per class (0 = off)" in Processing and ``per_class``
in the Python API; core message strings name no front end's flag, menu or make target."""

from __future__ import annotations

import ast
import importlib
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import BrightnessModel, write_raster

from lcz_qgis.classify.pipeline import classify_raster
from lcz_qgis.cli import main as lcz_main
from lcz_qgis.commands import command
from lcz_qgis.common.errors import LczError, MissingDependency, param, render, require, tool
from lcz_qgis.common.feedback import ConsoleFeedback, RecordingFeedback
from lcz_qgis.patches.load import load_patches

REPO = Path(__file__).resolve().parents[2]
PATCHES = command("patches")
CLASSIFY = command("classify")


def label(cmd, key: str) -> str:
    """The dialog label of ``key``, in the quotes Processing messages put around it."""
    return f'"{cmd.param(key).label}"'


@pytest.fixture()
def coarse(tmp_path) -> Path:
    """A Sentinel-2 raster with 20 m pixels: classify refuses it unless told to resample."""
    arr = np.random.default_rng(0).uniform(0.02, 0.3, (64, 64, 10)).astype(np.float32)
    return write_raster(tmp_path / "s2_20m.tif", arr, gt=(690000.0, 20, 0, 5340000.0, 0, -20))


@pytest.fixture()
def dn_scaled(tmp_path) -> Path:
    """A Sentinel-2 raster in DN (values in the thousands) at 10 m."""
    arr = np.random.default_rng(1).uniform(200, 3000, (96, 96, 10)).astype(np.float32)
    return write_raster(tmp_path / "s2_dn.tif", arr)


# -- the mechanism ---------------------------------------------------------------------------


def test_a_placeholder_reads_as_the_keyword_unless_a_front_end_names_it():
    exc = LczError(f"give either {param('INDICES')} or {param('INPUT', 'input_path')}")
    assert str(exc) == "give either indices or input_path"
    cli = PATCHES.message_names("cli")
    assert exc.message(cli) == "give either --indices or --input"
    assert exc.message(PATCHES.message_names("qgis")) == (
        f"give either {label(PATCHES, 'INDICES')} or {label(PATCHES, 'INPUT')}"
    )
    # a parameter the command does not have, and a tool: the neutral text
    assert render(f"{param('EPOCHS')} ({tool('warp')})", cli) == "epochs (gdalwarp)"


def test_feedback_shows_placeholders_the_way_its_front_end_names_them(capsys):
    fb = RecordingFeedback()
    fb.warning(f"{param('SCALE')} is 'dn'")
    assert fb.warnings == ["scale is 'dn'"]
    console = ConsoleFeedback(names=CLASSIFY.message_names("cli"))
    console.scaled(0, 50).warning(f"{param('SCALE')} is 'dn'")
    assert capsys.readouterr().err == "warning: --scale is 'dn'\n"


# -- patches: INDICES and PER_CLASS ---------------------------------------------------------


def test_patches_both_selections_name_the_parameters_per_front_end(sample_dir, tmp_path, capsys):
    h5 = sample_dir / "train.h5"
    with pytest.raises(LczError) as err:
        load_patches(h5, tmp_path / "o", indices="1", per_class=2)
    assert str(err.value) == "give either indices or per_class, not both"
    rc = lcz_main(["patches", "--input", str(h5), "--output-folder", str(tmp_path / "o"),
                   "--indices", "1", "--per-class", "2"])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2
    assert err.strip() == "lcz patches: error: give either --indices or --per-class, not both"
    assert not (tmp_path / "o").exists()


@pytest.mark.qgis
def test_patches_both_selections_name_the_dialog_labels(run_alg, sample_dir, tmp_path):
    from qgis.core import QgsProcessingException

    params = {"INPUT": str(sample_dir / "train.h5"), "OUTPUT_FOLDER": str(tmp_path / "o"),
              "INDICES": "1", "PER_CLASS": 2}  # fmt: skip
    with pytest.raises(QgsProcessingException) as err:
        run_alg("lcz:loadpatches", params)
    indices, per_class = label(PATCHES, "INDICES"), label(PATCHES, "PER_CLASS")
    assert str(err.value) == f"give either {indices} or {per_class}, not both"
    assert "INDICES" not in str(err.value) and "--" not in str(err.value)


# -- classify: RESAMPLE, and a warning naming SCALE ------------------------------------------


def test_classify_20m_raster_names_resample_per_front_end(rf_model, coarse, tmp_path, capsys):
    with pytest.raises(LczError) as err:
        classify_raster(BrightnessModel(), tmp_path / "m.tif", sentinel2=coarse)
    assert "or turn on resample to resample it on the fly" in str(err.value)
    rc = lcz_main(["classify", "--model", str(rf_model), "--sentinel2", str(coarse),
                   "--output", str(tmp_path / "m.tif")])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("lcz classify: error: ")
    assert "or turn on --resample to resample it on the fly" in err
    assert "RESAMPLE" not in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "m.tif").exists()


@pytest.mark.qgis
def test_classify_20m_raster_names_the_resample_checkbox(run_alg, rf_model, coarse, tmp_path):
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException) as err:
        run_alg("lcz:classifyraster", {"MODEL": str(rf_model), "SENTINEL2": str(coarse),
                                       "OUTPUT": str(tmp_path / "m.tif")})  # fmt: skip
    text = str(err.value)
    assert f"or turn on {label(CLASSIFY, 'RESAMPLE')} to resample it on the fly" in text
    assert "RESAMPLE" not in text and "--resample" not in text


def test_a_raster_without_crs_points_to_gdal_in_the_cli(rf_model, tmp_path, capsys):
    arr = np.full((64, 64, 10), 0.1, np.float32)
    bare = write_raster(tmp_path / "no_crs.tif", arr, epsg=None)
    rc = lcz_main(["classify", "--model", str(rf_model), "--sentinel2", str(bare),
                   "--output", str(tmp_path / "m.tif")])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 2 and "has no coordinate reference system; assign one (gdal_edit.py" in err


@pytest.mark.qgis
def test_a_raster_without_crs_points_to_the_qgis_menu(run_alg, rf_model, tmp_path):
    from qgis.core import QgsProcessingException

    arr = np.full((64, 64, 10), 0.1, np.float32)
    bare = write_raster(tmp_path / "no_crs.tif", arr, epsg=None)
    with pytest.raises(QgsProcessingException) as err:
        run_alg("lcz:classifyraster", {"MODEL": str(rf_model), "SENTINEL2": str(bare),
                                       "OUTPUT": str(tmp_path / "m.tif")})  # fmt: skip
    assert "assign one (Raster > Projections > Assign Projection)" in str(err.value)
    assert "gdal_edit" not in str(err.value)


def test_scale_warning_names_scale_per_front_end(rf_model, dn_scaled, tmp_path, capsys):
    fb = RecordingFeedback()
    classify_raster(BrightnessModel(), tmp_path / "a.tif", sentinel2=dn_scaled,
                    scale="reflectance", feedback=fb)  # fmt: skip
    assert any("but scale is 'reflectance'" in w for w in fb.warnings), fb.warnings
    rc = lcz_main(["classify", "--model", str(rf_model), "--sentinel2", str(dn_scaled),
                   "--scale", "reflectance", "--output", str(tmp_path / "b.tif")])  # fmt: skip
    err = capsys.readouterr().err
    assert rc == 0 and "but --scale is 'reflectance'" in err and "Set --scale to 'dn'" in err


@pytest.mark.qgis
def test_scale_warning_names_the_scale_label_in_the_log(run_alg, rf_model, dn_scaled, tmp_path):
    from qgis.core import QgsProcessingFeedback

    class Feedback(QgsProcessingFeedback):
        def __init__(self):
            super().__init__()
            self.warnings = []

        def pushWarning(self, warning):  # noqa: N802 - QGIS API
            self.warnings.append(warning)

    fb = Feedback()
    run_alg("lcz:classifyraster", {"MODEL": str(rf_model), "SENTINEL2": str(dn_scaled),
                                   "SCALE": "reflectance", "OUTPUT": str(tmp_path / "m.tif")},
            feedback=fb)  # fmt: skip
    scale = label(CLASSIFY, "SCALE")
    assert any(f"but {scale} is 'reflectance'" in w for w in fb.warnings), fb.warnings


# -- a missing package: install into this Python; QGIS adds its own advice -------------------


def test_missing_dependency_says_how_to_install_into_this_python(monkeypatch):
    monkeypatch.setitem(sys.modules, "skops", None)
    with pytest.raises(MissingDependency) as err:
        require("skops", "skops", "Loading a scikit-learn model")
    text = str(err.value)
    assert text.startswith("Loading a scikit-learn model needs the Python package 'skops'")
    assert f"`{sys.executable} -m pip install skops`" in text
    assert "QGIS" not in text and "make deploy" not in text


def test_missing_rasterio_points_to_the_distribution_not_to_pip(monkeypatch):
    monkeypatch.setitem(sys.modules, "rasterio", None)
    with pytest.raises(MissingDependency) as err:
        require("rasterio", "rasterio", "Reading and writing rasters")
    text = str(err.value)
    assert "python3-rasterio" in text and "conda-forge" in text
    assert "-m pip install rasterio" not in text
    assert "make deploy" not in text


@pytest.mark.qgis
def test_processing_adds_the_qgis_advice_to_a_missing_dependency(qgis_app):
    from qgis.core import QgsApplication

    alg = QgsApplication.processingRegistry().algorithmById("lcz:loadpatches")
    plugin_errors = importlib.import_module("lcz_mapping.lcz_qgis.common.errors")
    text = alg.error_text(plugin_errors.MissingDependency("skops", "Loading a model"))
    assert f"`{sys.executable} -m pip install skops`" in text
    assert "restart QGIS" in text and "make deploy" in text


# -- no front end's spelling in core message strings -----------------------------------------


def _core_strings():
    """(file, line, text) of every string constant in the core outside commands/ and cli/,
    except docstrings and the arguments of argparse ``add_argument`` calls (a module's own
    command line)."""
    for path in sorted((REPO / "lcz_qgis").rglob("*.py")):
        rel = path.relative_to(REPO / "lcz_qgis")
        if rel.parts[0] in ("commands", "cli"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = set()
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                if (
                    body
                    and isinstance(body[0], ast.Expr)
                    and isinstance(body[0].value, ast.Constant)
                ):
                    skip.add(id(body[0].value))
            if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "add_argument":
                skip |= {id(n) for n in ast.walk(node)}
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in skip
            ):
                yield rel, node.lineno, node.value


def _front_end_spelling():
    """Patterns of what only one front end understands: a make target of the Makefile, a
    QGIS menu path, a CLI flag."""
    targets = re.findall(r"^([a-z][\w-]*):", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert "deploy" in targets
    return [
        re.compile(rf"\bmake ({'|'.join(map(re.escape, targets))})\b"),
        re.compile(r"Settings\s*>|Processing\s*>"),
        re.compile(r"\b[A-Z][a-z]+ > [A-Z]"),  # any menu path (Raster > Projections > Warp)
        re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*"),  # a CLI flag
    ]


def test_the_scan_finds_a_flag_a_menu_and_a_make_target():
    forbidden = _front_end_spelling()
    for text in ("set RESAMPLE (--resample)", "Raster > Projections > Warp", "`make deploy`",
                 "Settings > Options"):  # fmt: skip
        assert any(p.search(text) for p in forbidden), text
    for text in ("make it visible", "a 10 m grid > 5 cells", "(e.g. 0-9,15,20-25)"):
        assert not any(p.search(text) for p in forbidden), text


def test_core_message_strings_name_no_flag_menu_or_make_target():
    forbidden = _front_end_spelling()
    found = [f"{f}:{line}: {text!r}" for f, line, text in _core_strings()
             if any(p.search(text) for p in forbidden)]  # fmt: skip
    assert found == []
