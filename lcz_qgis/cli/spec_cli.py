"""argparse subcommands built from the command declarations (``lcz_qgis/commands``).

Each ``Param`` gets one flag, derived from its key (``OUTPUT_CSV`` -> ``--output-csv``),
plus its former names (``cli_aliases``); default, choices and help come from the
declaration; numbers outside their declared range are refused before any work
(``Command.check_ranges``). ``run_command`` resolves the parsed values by key, calls
``Command.run`` and prints the command's report on stdout.
"""

from __future__ import annotations

import argparse
import sys
import textwrap

from ..commands import spec
from ..common.errors import LczError


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """Keeps the description's paragraphs; wraps each argument's help as usual."""


def _escape(text: str) -> str:
    return text.replace("%", "%%")


def description(command: spec.Command, width: int = 88) -> str:
    """The command's help as plain, wrapped paragraphs."""
    paras = spec.plain_text(command.help)
    return "\n\n".join(textwrap.fill(p, width) for p in paras)


def _shown_default(p: spec.Param):
    if p.default is None or p.default == "" or p.kind == spec.BOOL:
        return None
    return p.default


def argument_help(p: spec.Param) -> str:
    """The ``--help`` text of a parameter: its help, its default and its former flags."""
    text = p.help
    default = _shown_default(p)
    notes = []
    if default is not None and "default" not in text.lower():
        notes.append(f"default: {default}")
    if p.front_end_only:
        notes.append(p.front_end_only[1])
    if notes:  # inside the sentence: "Patches per call (default: 256)."
        end = "." if text.endswith(".") else ""
        text = f"{text[: len(text) - len(end)]} ({'; '.join(notes)}){end}"
    if p.cli_aliases:
        text = f"{text} Also {', '.join(p.cli_aliases)} (its former name)."
    return _escape(text)


class _FlagWithValue(argparse.Action):
    """``--flag`` (True) or ``--flag VALUE`` (True, and VALUE for another parameter)."""

    def __init__(self, *args, codes=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.codes = list(codes)

    def __call__(self, parser, namespace, value, option_string=None):
        if value is not None and value not in self.codes:
            parser.error(
                f"argument {option_string}: invalid choice: '{value}' "
                f"(choose from {', '.join(self.codes)})"
            )
        setattr(namespace, self.dest, True)
        setattr(namespace, f"_{self.dest}_value", value)


def untyped_value(p: spec.Param):
    """The value of a flag the user did not type: its default (False for a flag without
    one; None for several values, which ``run`` gets as an empty list)."""
    if p.kind == spec.BOOL:
        return bool(p.default)
    if p.kind == spec.MULTI_RASTER or p.cli_multiple:
        return None
    return p.default


def add_command_arguments(parser: argparse.ArgumentParser, command: spec.Command) -> None:
    """One argparse argument per CLI parameter of ``command``.

    No argument has an argparse default (``argparse.SUPPRESS``): a flag is in the parsed
    namespace only when the user typed it, which is how ``cli_values`` tells what was
    typed; the declared default is filled in there."""
    for p in command.params:
        if not p.in_cli:
            continue
        flags = [p.flag, *p.cli_aliases]
        kw: dict = {"dest": p.dest, "help": argument_help(p), "default": argparse.SUPPRESS}
        if p.metavar:
            kw["metavar"] = p.metavar
        if p.kind == spec.BOOL and p.cli_value_for:
            target = command.param(p.cli_value_for)
            kw.update(action=_FlagWithValue, nargs="?", codes=target.codes)
            kw.setdefault("metavar", target.key)
            parser.add_argument(*flags, **kw)
            continue
        if p.kind == spec.BOOL:
            if p.default:  # --flag / --no-flag; the help says the default, as argparse did
                kw["action"] = argparse.BooleanOptionalAction
                kw["help"] += " (default: True)"
            else:
                kw["action"] = "store_true"
            parser.add_argument(*flags, **kw)
            continue
        if p.kind == spec.INT:
            kw["type"] = int
        elif p.kind == spec.FLOAT:
            kw["type"] = float
        elif p.kind == spec.ENUM:
            kw["choices"] = p.codes
        if p.kind == spec.MULTI_RASTER or p.cli_multiple:
            kw["nargs"] = "+"
        kw["required"] = not p.optional and p.default is None
        parser.add_argument(*flags, **kw)


def parse_extent(text, flag: str = "--extent"):
    """``"xmin,ymin,xmax,ymax"`` -> a tuple of 4 floats; ``None`` for an empty value."""
    if text is None or text == "":
        return None
    if not isinstance(text, str):
        return tuple(float(v) for v in text)
    try:
        v = [float(x) for x in text.replace(";", ",").split(",") if x.strip()]
    except ValueError:
        v = []
    if len(v) != 4:
        raise LczError(f"{flag} '{text}': give xmin,ymin,xmax,ymax")
    return tuple(v)


def cli_values(command: spec.Command, args: argparse.Namespace) -> tuple[dict, set]:
    """The parsed arguments by parameter key, as ``Command.run`` takes them, and the keys
    whose flags were typed (a command may refuse options that do not apply, e.g.
    ``--epochs`` for a random forest).

    Raises:
        LczError: a number outside its declared range, NaN or infinite
            (``Command.check_ranges``, as Processing's minimum and maximum): one line
            naming the flag and the range, before any work.
    """
    values, typed = {}, set()
    for p in command.params:
        if not p.in_cli:
            continue
        if hasattr(args, p.dest):
            value = getattr(args, p.dest)
            typed.add(p.key)
        else:
            value = untyped_value(p)
        if p.kind == spec.EXTENT and not p.cli_multiple:
            value = parse_extent(value, p.flag)
        values[p.key] = value
    for p in command.params:  # --download ARCHITECTURE
        value = getattr(args, f"_{p.dest}_value", None) if p.cli_value_for else None
        if value is not None:
            target = command.param(p.cli_value_for)
            if values[target.key] not in (target.default, value):
                raise LczError(f"{p.flag} {value} and {target.flag} {values[target.key]} disagree")
            values[target.key] = value
            typed.add(target.key)
    command.check_ranges(values)
    return values, typed


def run_command(command: spec.Command, args: argparse.Namespace, feedback) -> int:
    """Run ``command`` with the parsed ``args``; print its report on stdout."""
    values, typed = cli_values(command, args)
    outputs = command.execute(values, feedback, typed)
    if command.report is None:
        return 0
    try:
        print(command.report(values, outputs))
    except KeyboardInterrupt:  # the outputs are complete: do not say "no output was written"
        print(f"lcz {command.name}: interrupted after the outputs were written", file=sys.stderr)
        return 130
    return 0


def add_subcommand(sub, command: spec.Command) -> argparse.ArgumentParser:
    """The ``lcz <command>`` subparser of ``command``."""
    p = sub.add_parser(
        command.name,
        help=_escape(command.summary),
        description=description(command),  # not %-formatted (argparse: only "%(prog)")
        formatter_class=_Formatter,
    )
    add_command_arguments(p, command)
    p.set_defaults(_run=lambda args, feedback: run_command(command, args, feedback))
    p.set_defaults(_name=command.name)
    return p
