"""`python -m bench [NAME ...]`: run every benchmark module (or the named ones) in turn.

Each `bench/bench_*.py` exposes `main() -> dict` returning ``{"figures": [...], ...details}``
(see `bench.figures`); a module is found by its file name, so one merged in later (`bench_junk`)
runs with the others. A module that returns the older shape (``{"ratio": ..., "met": ...}``) is
read through `LEGACY`, which gives its figure a key and so a goal slot in `bench.figures.GOALS`.

The runner prints every figure with its goal and verdict, writes them to `bench/latest.json`
(with the date, the command and the machine) and exits 1 when a goal is missed or a benchmark
fails.
"""

from __future__ import annotations

import datetime
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

from bench.figures import Figure

HERE = Path(__file__).resolve().parent

#: Modules that return ``{<value field>: ..., "met": ...}`` rather than figures: (figure key,
#: the field holding its value, what it is).
LEGACY: dict[str, tuple[str, str, str]] = {
    "junk": (
        "junk.worst_unsigned_vs_real",
        "ratio",
        "junk: refusing the worst unsigned request ÷ serving a real one",
    ),
}


def figures_of(name: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures a benchmark returned, as JSON-ready dicts with their goals and verdicts."""
    if "figures" in result:
        return [
            Figure(
                f["key"], f["label"], f["value"], f.get("unit", ""), f.get("detail", "")
            ).as_dict()
            for f in result["figures"]
        ]
    if name in LEGACY and LEGACY[name][1] in result:
        key, field, label = LEGACY[name]
        figure = Figure(key, label, float(result[field]), "×").as_dict()
        if result.get("met") is False:  # the module's own verdict stands too
            figure["met"] = False
        return [figure]
    if "met" in result:
        return [{"key": name, "label": name, "value": None, "met": bool(result["met"])}]
    return []


def main(argv: list[str]) -> int:
    """Run the benchmarks; exit 1 if one fails or misses a goal."""
    names = argv or sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))
    results: dict[str, Any] = {}
    figures: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    for name in names:
        print(f"\n=== bench {name} ===", flush=True)
        started = time.monotonic()
        try:
            module = importlib.import_module(f"bench.bench_{name}")
            result = module.main()
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            print(f"bench {name} failed: {type(exc).__name__}: {exc}", flush=True)
            errors[name] = f"{type(exc).__name__}: {exc}"
            results[name] = {"error": errors[name]}
        else:
            results[name] = result
            figures.extend(figures_of(name, result))
        print(f"({name}: {time.monotonic() - started:.1f} s)", flush=True)
    missed = [f["key"] for f in figures if f.get("met") is False]
    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench", *argv]),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        },
        "figures": figures,
        "missed": missed,
        "errors": errors,
        "benchmarks": results,
    }
    (HERE / "latest.json").write_text(
        json.dumps(report, indent=2, default=str, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print("\n=== summary ===")
    for f in figures:
        goal = f.get("goal")
        verdict = "" if f.get("met") is None else (" met" if f["met"] else " MISSED")
        value = f.get("value")
        shown = "-" if value is None else f"{value:g}{f.get('unit', '')}"
        print(
            f"{shown:>10}  {f.get('label', f['key'])}{f' (goal {goal}){verdict}' if goal else verdict}"
        )
    for name, error in errors.items():
        print(f"{'FAILED':>10}  bench {name}: {error}")
    if missed or errors:
        print(
            f"\nmissed goals: {', '.join(missed) or 'none'}; failed: {', '.join(errors) or 'none'}"
        )
        return 1
    print("\nevery goal met")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
