"""The ``lcz`` command line as a user meets it: the command list, each command's help, bad
options and bad input (one line, no traceback), ``python -m lcz_qgis``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import lcz_qgis.cli as cli
from lcz_qgis import __version__
from lcz_qgis.cli import main
from lcz_qgis.commands import all_commands

REPO = Path(__file__).resolve().parents[2]
DECLARED = sorted(c.name for c in all_commands())
COMMANDS = DECLARED


def lcz(*args: str) -> subprocess.CompletedProcess:
    """``python -m lcz_qgis ARGS`` in a fresh process (what a shell runs for ``lcz``)."""
    return subprocess.run([sys.executable, "-m", "lcz_qgis", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def _listed(help_text: str) -> list[str]:
    """The subcommands ``lcz --help`` lists (the indented names under COMMAND)."""
    block = help_text.split("COMMAND\n", 2)[-1].split("\noptions:")[0]
    return sorted(re.findall(r"^ {4}([a-z0-9][a-z0-9-]*)", block, re.M))


def test_python_m_lcz_qgis_lists_every_command():
    done = lcz("--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: lcz ")
    assert _listed(done.stdout) == COMMANDS
    assert len(COMMANDS) >= 15 and {"classify", "train", "evaluate", "render"} <= set(COMMANDS)


def test_version_and_no_command(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip() == f"lcz {__version__}"
    assert main([]) == 2  # no command: the list of commands, and a failure status
    assert _listed(capsys.readouterr().out) == COMMANDS


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_has_a_help_page(name, capsys):
    with pytest.raises(SystemExit) as done:
        main([name, "--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: lcz {name} ")
    declared = next((c for c in all_commands() if c.name == name), None)
    if declared is not None:  # every option of the declaration is documented
        for p in declared.params:
            if p.in_cli:
                assert p.flag in out, f"{name}: {p.flag}"


def test_an_unknown_option_is_one_message_and_a_failure():
    done = lcz("classify", "--model", "m.lczmodel", "--output", "o.tif", "--no-such-option", "1")
    assert done.returncode == 2
    assert done.stderr.startswith("usage: lcz ")
    assert "error: unrecognized arguments: --no-such-option 1" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_an_unknown_command_and_a_bad_choice_say_what_is_allowed():
    done = lcz("clasify")
    assert done.returncode == 2 and "invalid choice: 'clasify'" in done.stderr
    assert "Traceback" not in done.stderr
    done = lcz("classify", "--model", "m.lczmodel", "--output", "o.tif", "--filter", "mode")
    assert done.returncode == 2 and "--filter: invalid choice: 'mode'" in done.stderr
    assert "majority" in done.stderr and "Traceback" not in done.stderr


def test_bad_input_is_one_line_naming_the_flag(tmp_path):
    missing = tmp_path / "none.tif"
    done = lcz("classify", "--model", str(tmp_path / "m.lczmodel"), "--sentinel2",
               str(missing), "--output", str(tmp_path / "o.tif"))  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lcz classify: error: "), done.stderr
    assert "--sentinel2" in lines[0] and str(missing) in lines[0]
    assert not (tmp_path / "o.tif").exists()


def test_the_cli_tells_run_which_flags_were_typed():
    from lcz_qgis.cli.spec_cli import cli_values
    from lcz_qgis.commands import command

    train = command("train")
    argv = ["train", "--train", "t.h5", "--output", "m.lczmodel", "--epochs", "5", "--seed", "0"]
    values, given = cli_values(train, cli.build_parser().parse_args(argv))
    # a flag typed with its default value counts as typed; the others get their defaults
    assert given == {"TRAIN", "OUTPUT", "EPOCHS", "SEED"}
    assert values["EPOCHS"] == 5 and values["SEED"] == 0 and values["MODEL_TYPE"] == "rf"
    assert values["AUGMENT"] is False and values["VALIDATION"] is None
    prepare = command("prepare_s2")
    argv = ["prepare-s2", "--input", "p.zip", "--output", "o.tif", "--no-cloud-mask"]
    values, given = cli_values(prepare, cli.build_parser().parse_args(argv))
    assert values["CLOUD_MASK"] is False and "CLOUD_MASK" in given
    values, given = cli_values(prepare, cli.build_parser().parse_args(argv[:-1]))
    assert values["CLOUD_MASK"] is True and "CLOUD_MASK" not in given
