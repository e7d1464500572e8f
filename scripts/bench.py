"""`make bench`: run every benchmarks/bench_*.py and print one table each.

Usage: python scripts/bench.py [--only NAME ...] [--workdir DIR]
Each child measurement runs in its own process, so peak-RSS figures do not mix. A
benchmark that fails prints its traceback and the others still run; the exit status is
then 1.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import platform
import sys
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.common import print_table  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--only", nargs="*", help="benchmark module names (without bench_)")
    ap.add_argument("--workdir", default=str(REPO / "bench_output"))
    args = ap.parse_args()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    import os

    print(
        f"# lcz benchmarks ({platform.node()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')})"
    )
    import benchmarks

    failed = []
    for info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda m: m.name):
        if not info.name.startswith("bench_"):
            continue
        short = info.name[len("bench_") :]
        if args.only and short not in args.only:
            continue
        t0 = time.monotonic()
        try:  # one failing benchmark does not cost the others' numbers
            mod = importlib.import_module(f"benchmarks.{info.name}")
            rows = mod.run(work)
        except Exception:  # noqa: BLE001 - reported below and in the exit status
            failed.append(short)
            print(f"\n## {short}: FAILED after {time.monotonic() - t0:.0f} s\n", flush=True)
            traceback.print_exc()
            continue
        print_table(f"{getattr(mod, 'TITLE', short)} ({time.monotonic() - t0:.0f} s)", rows)
        sys.stdout.flush()
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
