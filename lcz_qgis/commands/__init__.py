"""Every command, declared once for the ``lcz`` CLI and the Processing algorithms.

``lcz_qgis/commands/<name>.py`` defines ``COMMAND``, a ``spec.Command``: its parameters
(key, kind, label, help, default, choices), its outputs and the one mapping of the
parameter values onto the core call. ``lcz_qgis/cli`` builds the argparse subcommands
from them, ``processing_algorithms/spec_algorithm.py`` the Processing parameters.
No qgis import here.
"""

from __future__ import annotations

import importlib

from .spec import Command

# the modules declaring a COMMAND: every lcz subcommand and Processing algorithm
__all__ = ["MODULES", "all_commands", "command"]

MODULES = ("sample_data", "summary", "patches", "render", "evaluate", "import_pretrained",
           "prepare_s1", "prepare_s2", "train", "classify")  # fmt: skip


def command(module: str) -> Command:
    """The ``COMMAND`` of ``lcz_qgis/commands/<module>.py``."""
    return importlib.import_module(f".{module}", __name__).COMMAND


def all_commands() -> list[Command]:
    """Every declared command, in ``lcz --help`` order."""
    return sorted((command(m) for m in MODULES), key=lambda c: c.order)
