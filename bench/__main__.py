"""Run every benchmark module in this folder (``python -m bench [NAME ...]``); each exposes ``main() -> None``."""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time
from pathlib import Path


def main(selected: list[str]) -> int:
    names = sorted(m.name for m in pkgutil.iter_modules([str(Path(__file__).parent)]) if m.name.startswith("bench_"))
    if selected:
        unknown = set(selected) - set(names)
        if unknown:
            print(f"unknown benchmark(s) {sorted(unknown)}; available: {names}", file=sys.stderr)
            return 2
        names = [name for name in names if name in selected]
    for name in names:
        print(f"\n=== {name} ===", flush=True)
        started = time.monotonic()
        importlib.import_module(f"bench.{name}").main()
        print(f"--- {name} done in {time.monotonic() - started:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
