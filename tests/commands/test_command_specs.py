"""One declaration per parameter: the ``lcz`` CLI and the Processing algorithms are built
from ``lcz_qgis/commands`` and expose the same parameters, defaults and choices, and hand
the core the same values."""

from __future__ import annotations

import argparse
import re

import numpy as np
import pytest

from lcz_qgis.cli import build_parser, main
from lcz_qgis.cli.spec_cli import untyped_value
from lcz_qgis.commands import all_commands, spec

COMMANDS = all_commands()
IDS = [c.name for c in COMMANDS]


def _subparser(name: str) -> argparse.ArgumentParser:
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices[name]


def _actions(name: str) -> list:
    return [a for a in _subparser(name)._actions if a.dest != "help"]


def _missing_reason(p: spec.Param) -> str:
    return p.front_end_only[1] if p.front_end_only else ""


# -- the declarations themselves ---------------------------------------------------------------
@pytest.mark.parametrize("command", COMMANDS, ids=IDS)
def test_declarations_are_whole_sentences_with_sound_keys(command):
    assert spec.is_sentence(command.help), command.name
    assert command.summary and command.display_name
    for p in command.params:
        assert spec.is_sentence(p.help), f"{command.name} {p.key}: {p.help!r}"
        assert p.label and p.label[0].isupper(), p.key
        assert re.fullmatch(r"[A-Z][A-Z0-9]*(_[A-Z][A-Z0-9]*)*", p.key), p.key
        assert not re.search(r"_\d+$", p.key), p.key  # no BOOL_2
        if p.front_end_only:
            front, reason = p.front_end_only
            # a clause the other front end's help shows in brackets
            assert front in (spec.CLI, spec.QGIS) and len(reason.split()) >= 3
            assert spec.is_sentence(reason[0].upper() + reason[1:] + "."), reason
        if p.kind == spec.ENUM:
            assert len(set(p.codes)) == len(p.codes) and all(p.labels)
            assert all(lab[0].isupper() for lab in p.labels), p.labels


def test_sentence_check_rejects_fragments():
    assert spec.is_sentence("Patches per model call (default: 256).")
    assert not spec.is_sentence("patches per model call")
    assert not spec.is_sentence("Patches per model call")


# -- the CLI -------------------------------------------------------------------------------
@pytest.mark.parametrize("command", COMMANDS, ids=IDS)
def test_cli_has_one_flag_per_parameter_with_its_default_and_choices(command):
    actions = _actions(command.name)
    declared = [p for p in command.params if p.in_cli]
    assert sorted(a.dest for a in actions) == sorted(p.dest for p in declared)
    for p in command.params:
        if not p.in_cli:
            assert _missing_reason(p), f"{p.key} has no CLI flag and no reason"
            continue
        (a,) = [a for a in actions if a.dest == p.dest]
        assert a.option_strings[0] == p.flag == "--" + p.key.lower().replace("_", "-")
        assert set(a.option_strings) - {p.flag, f"--no-{p.flag[2:]}"} == set(p.cli_aliases)
        assert a.help and "%" not in a.help.replace("%%", "")
        # no argparse default: a flag is in the namespace only when typed (Command.run's
        # ``given``); cli_values fills in the declared default
        assert a.default is argparse.SUPPRESS, p.key
        if p.kind == spec.BOOL:
            assert untyped_value(p) is bool(p.default)
        elif p.kind == spec.MULTI_RASTER or p.cli_multiple:
            assert a.nargs == "+" and untyped_value(p) is None  # run gets []
        else:
            assert untyped_value(p) == p.default, p.key
        if p.kind == spec.ENUM_NUMBER:  # a code or a number: the core checks it
            assert a.choices is None and all(c in a.metavar for c in p.codes[:3]), p.key
        else:
            assert list(a.choices or []) == p.codes, p.key
        assert a.required == (not p.optional and p.default is None), p.key


def test_former_flags_still_work(tmp_path):
    args = build_parser().parse_args(["evaluate", "--model", "m", "--dataset", "d", "--csv", "x"])
    assert args.output_csv == "x"
    help_text = " ".join(_subparser("evaluate").format_help().split())
    # Python 3.13's argparse names the value once: "--output-csv, --csv OUTPUT_CSV"
    assert re.search(r"--output-csv( OUTPUT_CSV)?, --csv OUTPUT_CSV", help_text), help_text
    assert "Also --csv (its former name)." in help_text


# -- the Processing algorithms ---------------------------------------------------------------
def _alg(command):
    from qgis.core import QgsApplication

    alg = QgsApplication.processingRegistry().algorithmById(f"lcz:{command.algorithm}")
    assert alg is not None, command.algorithm
    return alg


@pytest.mark.qgis
@pytest.mark.parametrize("command", COMMANDS, ids=IDS)
def test_algorithm_has_one_parameter_per_declaration(qgis_app, command):
    from qgis.core import QgsProcessingParameterDefinition as Def

    alg = _alg(command)
    assert alg.displayName() == command.display_name and alg.groupId() == command.group
    assert alg.shortHelpString() == command.help
    defs = {d.name(): d for d in alg.parameterDefinitions()}
    assert sorted(defs) == sorted(p.key for p in command.params if p.in_qgis)
    for p in command.params:
        if not p.in_qgis:
            assert _missing_reason(p), f"{p.key} has no Processing parameter and no reason"
            continue
        d = defs[p.key]
        assert d.description() == p.label and d.help() == p.help
        assert bool(d.flags() & Def.FlagOptional) == p.optional, p.key
        assert bool(d.flags() & Def.FlagAdvanced) == p.advanced, p.key
        if p.kind in (spec.ENUM, spec.ENUM_NUMBER):
            assert d.options() == p.labels and not d.usesStaticStrings()
            default = None if d.defaultValue() is None else p.codes[int(d.defaultValue())]
            assert default == p.default, p.key
        elif p.kind == spec.BOOL:
            assert d.defaultValue() is bool(p.default)
        elif p.kind in (spec.INT, spec.FLOAT):
            assert d.defaultValue() == p.default, p.key
            if p.minimum is not None:
                assert d.minimum() == p.minimum
            if p.maximum is not None:
                assert d.maximum() == p.maximum
        elif not p.is_destination:
            assert d.defaultValue() in (p.default, None if p.default == "" else p.default)
        if p.is_destination:
            assert d.createByDefault() == p.create_by_default, p.key
        if p.file_filter and hasattr(d, "fileFilter"):
            assert d.fileFilter() == p.file_filter, p.key
    outputs = {o.name() for o in alg.outputDefinitions()}
    assert {o.key for o in command.outputs} <= outputs


@pytest.mark.qgis
def test_enums_take_the_index_the_code_and_the_label(qgis_app, tmp_path):
    from qgis.core import QgsProcessingContext

    alg = _alg(next(c for c in COMMANDS if c.name == "evaluate"))
    base = {"MODEL": str(tmp_path / "m.lczmodel"), "DATASET": str(tmp_path / "d.h5")}
    for value in (0, "0", "sen1", "Sentinel-1", None):
        ok, msg = alg.checkParameterValues({**base, "SENSOR": value}, QgsProcessingContext())
        assert ok, (value, msg)
    ok, msg = alg.checkParameterValues({**base, "SENSOR": "sen3"}, QgsProcessingContext())
    assert not ok and "SENSOR" in msg


@pytest.mark.qgis
def test_qgis_process_takes_an_enum_index_or_its_code(qgis_process, tmp_path):
    from osgeo import gdal

    src = _tiny_raster(tmp_path / "s2.tif", bands=10)  # So2Sat order: B3 0.2, B8 0.7, B11 0.9
    # index 5 = ndwi (not the default, ndvi); a code as before
    expected = {"5": (0.2 - 0.7) / (0.2 + 0.7), "ndbi": (0.9 - 0.7) / (0.9 + 0.7)}
    for value, index in expected.items():
        out = tmp_path / f"{value}.tif"
        r = qgis_process("run", "lcz:render", "--", f"INPUT={src}", f"PRODUCT={value}",
                         f"OUTPUT={out}")  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        assert gdal.Open(str(out)).ReadAsArray()[0, 0] == pytest.approx(index, rel=1e-5)
    r = qgis_process("run", "lcz:render", "--", f"INPUT={src}", "PRODUCT=7",
                     f"OUTPUT={tmp_path / 'x.tif'}")  # fmt: skip
    assert r.returncode != 0 and not (tmp_path / "x.tif").exists()


# -- both front ends hand the core the same values ---------------------------------------------
def _tiny_raster(path, bands: int = 1) -> str:
    from osgeo import gdal, osr

    ds = gdal.GetDriverByName("GTiff").Create(str(path), 40, 40, bands, gdal.GDT_Float32)
    ds.SetGeoTransform((500000, 10, 0, 5000000, 0, -10))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    ds.SetProjection(srs.ExportToWkt())
    for b in range(bands):
        ds.GetRasterBand(b + 1).WriteArray(np.full((40, 40), 0.1 * (b + 1), np.float32))
    ds = None
    return str(path)


def _one_polygon(path) -> str:
    """A GeoPackage holding one 100 m square in EPSG:32632."""
    from osgeo import ogr, osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(32632)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = ds.CreateLayer("zones", srs, ogr.wkbPolygon)
    feature = ogr.Feature(layer.GetLayerDefn())
    feature.SetGeometry(ogr.CreateGeometryFromWkt(
        "POLYGON ((690000 5339900, 690100 5339900, 690100 5340000, 690000 5340000, "
        "690000 5339900))"))  # fmt: skip
    layer.CreateFeature(feature)
    ds = None
    return str(path)


def _required_values(command, tmp_path) -> dict:
    """A value for every parameter the CLI requires (files that exist, outputs in tmp)."""
    values = {}
    for p in command.params:
        if p.optional or p.default is not None:
            continue
        target = tmp_path / p.key.lower()
        ext = re.search(r"\*(\.\w+)", p.file_filter)
        if ext:  # the dialog checks the extension
            target = target.with_suffix(ext.group(1))
        if p.kind in (spec.FILE,):
            target.write_bytes(b"x")
            values[p.key] = str(target)
        elif p.kind == spec.FOLDER:
            target.mkdir()
            values[p.key] = str(target)
        elif p.kind == spec.RASTER:
            values[p.key] = _tiny_raster(target.with_suffix(".tif"))
        elif p.kind in (spec.FILE_DEST, spec.RASTER_DEST, spec.VECTOR_DEST):
            values[p.key] = str(target.with_suffix(".out"))
        elif p.kind == spec.FOLDER_DEST:
            values[p.key] = str(target)
        elif p.kind == spec.VECTOR:
            values[p.key] = _one_polygon(target.with_suffix(".gpkg"))
        else:
            pytest.fail(f"no test value for a required {p.kind} ({p.key})")
    return values


@pytest.mark.qgis
@pytest.mark.parametrize("command", COMMANDS, ids=IDS)
def test_cli_and_processing_pass_the_same_values_to_run(
    qgis_app, run_alg, command, tmp_path, monkeypatch
):
    seen = []

    def capture(values, feedback, given=None):
        seen.append(dict(values))
        return {}

    # the plugin imports the core as lcz_mapping.lcz_qgis: its Command is another object
    alg_command = _alg(command).COMMAND
    assert repr(alg_command.params) == repr(command.params) and alg_command is not command
    for c in (command, alg_command):
        monkeypatch.setattr(c, "run", capture)
        monkeypatch.setattr(c, "report", None)
    monkeypatch.setattr(type(_alg(command)), "post_process", lambda *args: None)
    required = _required_values(command, tmp_path)
    argv = [command.name]
    for key, value in required.items():
        argv += [command.param(key).flag, value]
    assert main(argv) == 0
    run_alg(f"lcz:{command.algorithm}", required)
    # keys starting with "_" are a front end's own helpers (Processing's downloader)
    cli, qgis = ({k: v for k, v in d.items() if not k.startswith("_")} for d in seen)
    assert set(cli) == set(qgis) == {p.key for p in command.params}
    assert cli == qgis
    assert cli == {p.key: p.normalise(required.get(p.key, p.default)) for p in command.params}
