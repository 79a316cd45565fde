"""`python -m bench [NAME ...]`: run every benchmark module (or the named ones) in turn.

Each `bench/bench_*.py` exposes `main() -> dict[str, object]`; it prints its own figures and
returns them. This runner prints a summary at the end and writes it to `bench/latest.json`.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    """Run the benchmarks; exit 1 if one fails."""
    names = argv or sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    results: dict[str, object] = {}
    failed = False
    for name in names:
        print(f"\n=== bench {name} ===", flush=True)
        started = time.monotonic()
        try:
            module = importlib.import_module(f"bench.bench_{name}")
            results[name] = module.main()
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            print(f"bench {name} failed: {type(exc).__name__}: {exc}", flush=True)
            results[name] = {"error": str(exc)}
            failed = True
        print(f"({name}: {time.monotonic() - started:.1f} s)", flush=True)
    (HERE / "latest.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    print("\n=== summary ===")
    print(json.dumps(results, indent=2, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
