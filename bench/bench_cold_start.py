"""Cold start: a fresh process importing `function_app`, and a fresh process answering its first call.

1. Index: `python -c "import function_app"` against importing the floor set, what any Python
   Functions app answering Twilio must import anyway: azure.functions, azure.data.tables,
   twilio's TwiML builders and its request validator. Goal: <= 1.25x. The blueprints import
   their handlers on first call, so indexing costs less than the floor.
2. First webhook (the figure a caller feels): a fresh process imports `function_app` and answers
   one signed `POST /api/voice/incoming` (the CallLog write goes to a stub and the line is the
   default one, as in `bench_voice`), against a fresh process importing the floor set,
   validating the same signature with `RequestValidator` and building the same TwiML with
   `VoiceResponse`. This one includes the imports deferred from indexing. Goal: <= 1.1x.
3. Shown beside it: where the app's own CPU goes in that first call, after the floor's imports
   (medians of fresh processes: indexing, the call's imports, the answer), and the share of
   indexing that is azure-functions building the HTTP routes' bindings (as many routes as the
   app has, in a scratch Blueprint): what the app cannot make cheaper but with fewer functions.

Bytecode is compiled once (a cache folder of the run, for both sides) and reused, as by a warm
worker. Each run is a process of its own; 31 runs of each side in ABBA order (app, floor, floor,
app, ...), so that a machine growing busier or quieter hits both alike; each figure is the ratio
of the medians of the child processes' CPU time (user + system, from `getrusage`: a core taken
by another process for a while counts against neither). Wall times are shown beside, and the
number of modules each side loads (a count, free of noise).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.figures import Figure, Goal, goals

GOALS = goals(
    {
        "cold_start.index_vs_floor": Goal("<=", 1.25, "×"),
        "cold_start.first_webhook_vs_floor": Goal("<=", 1.1, "×"),
    }
)
ROOT = Path(__file__).resolve().parent.parent
FLOOR = (
    "import azure.functions, azure.data.tables, twilio.twiml.voice_response, "
    "twilio.twiml.messaging_response, twilio.request_validator"
)
APP = "import function_app"
FIRST_CALL_APP = "from bench.first_call import first_call_app; first_call_app()"
FIRST_CALL_FLOOR = "from bench.first_call import first_call_floor; first_call_floor()"
PHASES = "from bench.first_call import first_call_phases; first_call_phases()"
BINDINGS = "from bench.first_call import route_bindings; route_bindings()"
ROUNDS = 31
PHASE_ROUNDS = 15


def _environment(pycache: str) -> dict[str, str]:
    # Compiled bytecode kept (in a folder of this run, for both sides alike), as a warm worker
    # or a package that ships it has: the figure is the cost of importing and answering, not
    # of compiling sources (PYTHONDONTWRITEBYTECODE, which some shells set, would make every
    # run compile the app's own modules again).
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = pycache
    return env


def _run(code: str, env: dict[str, str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of a fresh `python -c code`."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall


def _side_by_side(app_code: str, floor_code: str, env: dict[str, str]) -> dict[str, float]:
    _run(app_code, env)  # warm the OS file cache and the bytecode once for both
    _run(floor_code, env)
    samples: dict[str, list[float]] = {"app": [], "floor": [], "app_wall": [], "floor_wall": []}
    for round_number in range(ROUNDS):
        # ABBA order: a machine growing busier or quieter during the run hits both sides alike.
        sides = (("app", app_code), ("floor", floor_code))
        for side, code in sides if round_number % 2 == 0 else sides[::-1]:
            cpu, wall = _run(code, env)
            samples[side].append(cpu)
            samples[side + "_wall"].append(wall)
    return {name: statistics.median(values) for name, values in samples.items()}


def _printed(code: str, env: dict[str, str]) -> dict[str, float]:
    """The JSON object a fresh `python -c code` prints last."""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    )
    return dict(json.loads(done.stdout.splitlines()[-1]))


def _modules(code: str, env: dict[str, str]) -> int:
    """How many modules a fresh process running `code` has loaded (a count: no noise)."""
    counted = _printed(
        f"{code}; import json, sys; print(json.dumps({{'n': len(sys.modules)}}))", env
    )
    return int(counted["n"])


def _phases(env: dict[str, str]) -> dict[str, float]:
    """Medians, over fresh processes, of the app's phases after the floor's imports (ms)."""
    runs = [_printed(PHASES, env) for _ in range(PHASE_ROUNDS)]
    return {phase: statistics.median(run[phase] for run in runs) for phase in runs[0]}


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def main() -> dict[str, object]:
    """Measure and print both ratios."""
    with tempfile.TemporaryDirectory(prefix="bench-pycache-") as pycache:
        env = _environment(pycache)
        index = _side_by_side(APP, FLOOR, env)
        first = _side_by_side(FIRST_CALL_APP, FIRST_CALL_FLOOR, env)
        modules = {
            "index_app": _modules(APP, env),
            "index_floor": _modules(FLOOR, env),
            "first_app": _modules(FIRST_CALL_APP, env),
            "first_floor": _modules(FIRST_CALL_FLOOR, env),
        }
        phases = _phases(env)
        bindings = _printed(BINDINGS, env)
    how = f"child CPU time, medians of {ROUNDS} runs of each in ABBA order"
    figures = [
        Figure(
            "cold_start.index_vs_floor",
            "cold start, index: fresh `import function_app` ÷ importing the floor set",
            round(index["app"] / index["floor"], 2),
            "×",
            f"{_ms(index['app'])} vs {_ms(index['floor'])} ({how}; wall "
            f"{_ms(index['app_wall'])} vs {_ms(index['floor_wall'])}); modules loaded "
            f"{modules['index_app']} vs {modules['index_floor']}",
        ),
        Figure(
            "cold_start.first_webhook_vs_floor",
            "cold start, first webhook: fresh process indexing the app and answering one signed "
            "incoming call ÷ floor imports + validate + the same TwiML",
            round(first["app"] / first["floor"], 2),
            "×",
            f"{_ms(first['app'])} vs {_ms(first['floor'])} ({how}; wall "
            f"{_ms(first['app_wall'])} vs {_ms(first['floor_wall'])}); modules loaded "
            f"{modules['first_app']} vs {modules['first_floor']}",
        ),
        Figure(
            "cold_start.app_cpu_after_floor_ms",
            "cold start, first webhook: the app's own CPU after the floor's imports (shown)",
            round(sum(phases.values()), 1),
            " ms",
            f"indexing {phases['index']:.1f} ms, of which azure-functions building "
            f"{bindings['routes']:.0f} HTTP routes' bindings {bindings['ms']:.1f} ms "
            f"({bindings['ms'] * 1000 / bindings['routes']:.0f} µs each); the call's imports "
            f"{phases['imports']:.1f} ms; stubs, the signed request and the answer "
            f"{phases['answer']:.1f} ms (process CPU time, medians of {PHASE_ROUNDS} fresh "
            "processes)",
        ),
    ]
    for figure in figures:
        print(figure.line())
    return {
        "figures": [f.as_dict() for f in figures],
        "index": {k: round(v * 1000, 1) for k, v in index.items()},
        "first_webhook": {k: round(v * 1000, 1) for k, v in first.items()},
        "modules_loaded": modules,
        "first_webhook_phases_ms": {k: round(v, 1) for k, v in phases.items()},
        "route_bindings": bindings,
    }


if __name__ == "__main__":
    main()
