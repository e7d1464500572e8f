"""`make deploy`: install the plugin into a QGIS profile and enable it.

Links (or copies, with --copy) the checkout into PROFILE/python/plugins/NAME, sets
``[PythonPlugins] NAME=true`` in PROFILE/QGIS/QGIS3.ini, and adds the project's .venv
site-packages to QGIS's PYTHONPATH through QGIS's own "custom environment variables"
setting, so QGIS desktop sees TensorFlow and skops from .venv. qgis_process does not
apply that setting: give it PYTHONPATH=<repo>/.venv/lib/python3.X/site-packages.

QGIS's "append" glues the value to the variable as it is, so "append" of ":<site>" to an
empty or unset PYTHONPATH gives ":<site>", whose empty element puts QGIS's working
directory on sys.path. So when PYTHONPATH is empty here, the setting is "undefined"
(set it to <site> unless QGIS starts with a PYTHONPATH); else "append" of ":<site>".
"""

from __future__ import annotations

import argparse
import configparser
import os
import shutil
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def pythonpath_setting(site: Path, current: str | None) -> str:
    """QGIS's customEnvVars entry that adds ``site`` to PYTHONPATH without an empty
    element, given the PYTHONPATH QGIS is expected to start with (``current``).

    QGIS applies "append|NAME=VALUE" as existing + VALUE (no separator of its own) and
    "undefined|NAME=VALUE" only when NAME is not set.
    """
    if current and any(current.split(os.pathsep)):
        return f"append|PYTHONPATH={os.pathsep}{site}"
    return f"undefined|PYTHONPATH={site}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument(
        "--profile-dir", required=True, help="e.g. ~/.local/share/QGIS/QGIS3/profiles/default"
    )
    ap.add_argument("--name", default="lcz_mapping")
    ap.add_argument("--venv", default=str(REPO / ".venv"))
    ap.add_argument("--copy", action="store_true", help="copy instead of linking")
    args = ap.parse_args()
    profile = Path(args.profile_dir).expanduser()
    plugins = profile / "python" / "plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    target = plugins / args.name
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.is_dir():
        shutil.rmtree(target)
    if args.copy:
        shutil.copytree(
            REPO,
            target,
            ignore=shutil.ignore_patterns(
                ".venv",
                ".git",
                "tests",
                "build",
                "dist",
                "demo_output",
                "bench_output",
                "__pycache__",
                "*.pyc",
            ),
        )
    else:
        target.symlink_to(REPO, target_is_directory=True)

    ini = profile / "QGIS" / "QGIS3.ini"
    ini.parent.mkdir(parents=True, exist_ok=True)
    cfg = configparser.RawConfigParser()
    cfg.optionxform = str  # keep key case
    if ini.exists():
        cfg.read(ini)
    if not cfg.has_section("PythonPlugins"):
        cfg.add_section("PythonPlugins")
    cfg.set("PythonPlugins", args.name, "true")
    venv_site = (
        Path(args.venv).resolve()  # QGIS starts from anywhere: the path must be absolute
        / "lib"
        / f"python{sys.version_info[0]}.{sys.version_info[1]}"
        / "site-packages"
    )
    if venv_site.exists():
        if not cfg.has_section("qgis"):
            cfg.add_section("qgis")
        cfg.set("qgis", "customEnvVarsUse", "true")
        cfg.set(
            "qgis", "customEnvVars", pythonpath_setting(venv_site, os.environ.get("PYTHONPATH"))
        )
    with open(ini, "w") as fh:
        cfg.write(fh, space_around_delimiters=False)
    print(f"installed {target} -> {REPO if not args.copy else 'copy'}; enabled in {ini}")
    if venv_site.exists():
        print(
            f"QGIS will add {venv_site} to PYTHONPATH (Settings > Options > System > Environment)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
