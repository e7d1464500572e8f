"""A number outside its declared range is refused by both front ends, before any work.

Every ``INT``/``FLOAT`` parameter with a ``minimum`` or ``maximum`` (``commands/spec.py``):
the CLI refuses a value below the minimum (and above the maximum) with one line naming
the flag and the range, exit 2, with no input read and no output touched; Processing's
parameter refuses the same value (``checkValueIsAcceptable``). NaN and infinity are
refused by the CLI for every float.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from lcz_qgis.cli import main
from lcz_qgis.commands import all_commands, spec

REPO = Path(__file__).resolve().parents[2]
COMMANDS = all_commands()
EARLIER = b"an earlier output, to be kept byte for byte"


def _ranged():
    """(command, param, bad value, which side) for every declared bound."""
    cases = []
    for c in COMMANDS:
        for p in c.params:
            if p.kind not in (spec.INT, spec.FLOAT):
                continue
            if p.minimum is not None:
                cases.append((c, p, _typed(p, p.minimum - 1), "below"))
            if p.maximum is not None:
                cases.append((c, p, _typed(p, p.maximum + 1), "above"))
    return cases


def _typed(p: spec.Param, value):
    return int(value) if p.kind == spec.INT else float(value)


RANGED = _ranged()
RANGED_IDS = [f"{c.name}{p.flag}-{side}" for c, p, _, side in RANGED]
FLOATS = [(c, p) for c in COMMANDS for p in c.params if p.kind == spec.FLOAT and p.in_cli]


def test_the_ranges_the_issue_names_are_declared():
    declared = {(c.name, p.flag): (p.minimum, p.maximum) for c, p, _, _ in RANGED}
    assert declared[("map-from-areas", "--trees")][0] == 1
    assert declared[("map-from-areas", "--seed")][0] == 0
    assert declared[("map-from-areas", "--resolution")][0] == 10
    for name in ("classify", "classify-dates", "classify-many"):
        assert declared[(name, "--stride")] == (1, 32)
        assert declared[(name, "--batch-size")][0] == 1
    assert {c.name for c, *_ in RANGED} >= {"train", "evaluate", "calibrate", "patches"}


def _required_argv(command: spec.Command, folder: Path) -> list[str]:
    """The required flags with values that would fail if read: missing inputs, outputs
    that already exist (``EARLIER``) or do not."""
    argv = [command.name]
    for p in command.params:
        if not p.in_cli or p.optional or p.default is not None:
            continue
        path = folder / f"{p.key.lower()}.{'tif' if 'RASTER' in p.kind.upper() else 'dat'}"
        if p.kind in (spec.FILE_DEST, spec.RASTER_DEST):
            path.write_bytes(EARLIER)
        elif p.kind == spec.ENUM:
            argv += [p.flag, p.codes[0]]
            continue
        argv += [p.flag, str(path)]
    return argv


def _one_error_line(err: str, command: spec.Command) -> str:
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith(f"lcz {command.name}: error: "), lines[0]
    return lines[0]


def _untouched(folder: Path, before: dict) -> None:
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


@pytest.mark.parametrize("command, p, value, side", RANGED, ids=RANGED_IDS)
def test_cli_refuses_a_value_out_of_range_before_any_work(
    tmp_path, capsys, command, p, value, side
):
    argv = _required_argv(command, tmp_path)
    before = {f.name: f.read_bytes() for f in tmp_path.iterdir()}
    rc = main([*argv, p.flag, str(value)])
    line = _one_error_line(capsys.readouterr().err, command)
    assert rc == 2
    bound = p.minimum if side == "below" else p.maximum
    shown = spec._shown_number(bound)
    assert f"{p.flag} {spec._shown_number(value)} is out of range; give " in line, line
    assert shown in line and line.endswith(p.range_text()), line
    _untouched(tmp_path, before)
    # the bound itself is inside: no range error (another one may follow, e.g. a missing input)
    assert p.range_problem(bound) is None and command.param(p.key).range_problem(value)


@pytest.mark.parametrize("command, p", FLOATS, ids=[f"{c.name}{p.flag}" for c, p in FLOATS])
@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_cli_refuses_nan_and_infinity_for_every_float(tmp_path, capsys, command, p, value):
    argv = _required_argv(command, tmp_path)
    before = {f.name: f.read_bytes() for f in tmp_path.iterdir()}
    rc = main([*argv, f"{p.flag}={value}"])  # "--flag -inf" would read as an option
    line = _one_error_line(capsys.readouterr().err, command)
    assert rc == 2 and f"{p.flag} {value} is not a finite number; give " in line, line
    _untouched(tmp_path, before)


def test_lcz_exits_2_with_one_line_in_a_shell(tmp_path):
    command = next(c for c in COMMANDS if c.name == "map-from-areas")
    argv = _required_argv(command, tmp_path)
    done = subprocess.run([sys.executable, "-m", "lcz_qgis", *argv, "--trees", "0"], cwd=REPO,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip() == (
        "lcz map-from-areas: error: --trees 0 is out of range; give a whole number from 1 to 2000"
    )
    assert done.stdout == "" and (tmp_path / "output.tif").read_bytes() == EARLIER


def test_values_in_range_and_empty_optional_values_pass():
    for c in COMMANDS:
        c.check_ranges(c.defaults())  # every default is inside its own range
    classify = next(c for c in COMMANDS if c.name == "classify")
    classify.check_ranges({"STRIDE": 32, "RESOLUTION": None, "BATCH_SIZE": 1})


@pytest.mark.qgis
@pytest.mark.parametrize("command, p, value, side", RANGED, ids=RANGED_IDS)
def test_processing_refuses_the_same_value(qgis_app, command, p, value, side):
    from qgis.core import QgsApplication

    if not p.in_qgis:
        pytest.skip(f"{p.key} is CLI-only")
    alg = QgsApplication.processingRegistry().algorithmById(f"lcz:{command.algorithm}")
    d = alg.parameterDefinition(p.key)
    assert not d.checkValueIsAcceptable(value), (p.key, value)
    bound = p.minimum if side == "below" else p.maximum
    assert d.checkValueIsAcceptable(_typed(p, bound)), (p.key, bound)


@pytest.mark.qgis
def test_processing_refuses_nan_like_the_cli(qgis_app):
    """QGIS's own number check lets NaN through; the algorithm's parameter check refuses
    it with the same rule as the CLI, naming the dialog's label."""
    from qgis.core import QgsApplication, QgsProcessingContext

    alg = QgsApplication.processingRegistry().algorithmById("lcz:mapfromtrainingareas")
    p = next(p for p in alg.COMMAND.params if p.key == "RESOLUTION")
    assert alg.parameterDefinition("RESOLUTION").checkValueIsAcceptable(float("nan"))
    ok, message = alg.checkParameterValues({"RESOLUTION": float("nan")}, QgsProcessingContext())
    assert not ok and "is not a finite number" in message and p.label in message
    ok, message = alg.checkParameterValues({"RESOLUTION": "nan"}, QgsProcessingContext())
    assert not ok and "is not a finite number" in message
