"""lcz prepare-s2: declared in ``lcz_qgis/commands/prepare_s2.py`` (kept for scripts that
build its arguments into their own parser)."""

from __future__ import annotations

from ..commands.prepare_s2 import COMMAND
from .spec_cli import add_command_arguments

NAME = COMMAND.name


def add_arguments(parser) -> None:
    """Add the ``lcz prepare-s2`` arguments to ``parser``."""
    add_command_arguments(parser, COMMAND)
