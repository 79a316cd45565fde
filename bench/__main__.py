"""`python -m bench [--goals] [NAME ...]`: run every benchmark module (or the named ones) in turn.

A benchmark is a module `bench/bench_<name>.py` with, at its top, ``GOALS = goals({...})`` (its
figures' goals, `bench.figures.goals`) and a `main() -> dict` returning
``{"figures": [Figure.as_dict(), ...], ...details}``. Modules are found by their file name, so a
capability adds its figures and their goals in a module of its own (outbound policy round trips,
conversations read per page, the inbox's first load, ...) without touching this runner or any
other benchmark; shared set-ups (the Twilio stand-in in its own process, ...) are in
`bench.services`. A module that returns only ``{"met": bool}`` is shown by its name.

The runner prints every figure with its goal and verdict, writes them to `bench/latest.json`
(with the date, the command, the machine and its load) and exits 1 when a goal is missed or a
benchmark fails; one failing benchmark does not hide the others' figures. ``--goals`` lists
every benchmark and its goals without running anything.
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
from types import ModuleType
from typing import Any

from bench.figures import Figure

HERE = Path(__file__).resolve().parent


def benchmark_names() -> list[str]:
    """Every benchmark in `bench/`, by name (`bench_timer.py` is `timer`)."""
    return sorted(p.stem.removeprefix("bench_") for p in HERE.glob("bench_*.py"))


def load(name: str) -> ModuleType:
    """The benchmark module `name` (its goals are declared on import)."""
    if name not in benchmark_names():
        raise SystemExit(f"no benchmark {name!r}: choose from {', '.join(benchmark_names())}")
    return importlib.import_module(f"bench.bench_{name}")


def figures_of(name: str, result: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures a benchmark returned, as JSON-ready dicts with their goals and verdicts."""
    if "figures" in result:
        return [
            Figure(
                f["key"], f["label"], f["value"], f.get("unit", ""), f.get("detail", "")
            ).as_dict()
            for f in result["figures"]
        ]
    if "met" in result:
        return [{"key": name, "label": name, "value": None, "met": bool(result["met"])}]
    return []


def list_goals(names: list[str]) -> int:
    """Print each benchmark's first docstring line and its goals."""
    for name in names:
        module = load(name)
        summary = (module.__doc__ or "").strip().splitlines()[0:1]
        print(f"{name}: {summary[0] if summary else ''}")
        for key, goal in getattr(module, "GOALS", {}).items():
            print(f"  {key}: {goal}")
    return 0


def main(argv: list[str]) -> int:
    """Run the benchmarks; exit 1 if one fails or misses a goal."""
    if "--goals" in argv:
        return list_goals([a for a in argv if a != "--goals"] or benchmark_names())
    names = argv or benchmark_names()
    modules = {name: load(name) for name in names}  # a wrong name fails before any run
    results: dict[str, Any] = {}
    figures: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    timings: dict[str, float] = {}
    for name, module in modules.items():
        print(f"\n=== bench {name} ===", flush=True)
        started = time.monotonic()
        try:
            result = module.main()
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            print(f"bench {name} failed: {type(exc).__name__}: {exc}", flush=True)
            errors[name] = f"{type(exc).__name__}: {exc}"
            results[name] = {"error": errors[name]}
        else:
            results[name] = result
            figures.extend(figures_of(name, result))
        timings[name] = round(time.monotonic() - started, 1)
        print(f"({name}: {timings[name]:.1f} s)", flush=True)
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
        "seconds": timings,
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
