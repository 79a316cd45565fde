"""Cold start: a fresh process importing `function_app`, and a fresh process answering its first call.

1. Index (the issue's figure): `python -c "import function_app"` against importing the floor set,
   what any Python Functions app answering Twilio must import anyway: azure.functions,
   azure.data.tables, twilio's TwiML builders and its request validator. Goal: <= 1.25x. The
   blueprints import their handlers on first call, so indexing costs less than the floor.
2. First webhook (the figure a caller feels): a fresh process imports `function_app` and answers
   one signed `POST /api/voice/incoming` (the CallLog write goes to a stub, as in
   `bench_voice`), against a fresh process importing the floor set, validating the same
   signature with `RequestValidator` and building the same TwiML with `VoiceResponse`. This one
   includes the imports deferred from indexing; it has no goal of its own and is printed so that
   figure 1 cannot hide them.

Runs alternate (app, floor, app, floor, ...) so machine noise hits both alike; each figure is the
ratio of medians of whole-process wall times.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLOOR = (
    "import azure.functions, azure.data.tables, twilio.twiml.voice_response, "
    "twilio.twiml.messaging_response, twilio.request_validator"
)
APP = "import function_app"
FIRST_CALL_APP = "from bench.first_call import first_call_app; first_call_app()"
FIRST_CALL_FLOOR = "from bench.first_call import first_call_floor; first_call_floor()"
ROUNDS = 15
GOAL = 1.25


def _time(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    return time.perf_counter() - started


def _ratio(app_code: str, floor_code: str) -> tuple[float, float, float]:
    _time(app_code)  # warm the OS file cache and .pyc files once for both
    _time(floor_code)
    app_times, floor_times = [], []
    for _ in range(ROUNDS):
        app_times.append(_time(app_code))
        floor_times.append(_time(floor_code))
    app, floor = statistics.median(app_times), statistics.median(floor_times)
    return app, floor, app / floor


def main() -> dict[str, object]:
    """Measure and print both ratios."""
    app, floor, ratio = _ratio(APP, FLOOR)
    print(
        f"cold start (index): import function_app {app * 1000:.0f} ms, floor {floor * 1000:.0f} ms "
        f"(medians of {ROUNDS}, whole process) -> {ratio:.2f}x (goal <= {GOAL}x)"
    )
    first_app, first_floor, first_ratio = _ratio(FIRST_CALL_APP, FIRST_CALL_FLOOR)
    print(
        f"cold start (first webhook): {first_app * 1000:.0f} ms, floor {first_floor * 1000:.0f} ms "
        f"-> {first_ratio:.2f}x (no goal: the deferred imports, shown)"
    )
    return {
        "app_ms": round(app * 1000),
        "floor_ms": round(floor * 1000),
        "ratio": round(ratio, 2),
        "goal": GOAL,
        "met": ratio <= GOAL,
        "first_webhook_ms": round(first_app * 1000),
        "first_webhook_floor_ms": round(first_floor * 1000),
        "first_webhook_ratio": round(first_ratio, 2),
    }


if __name__ == "__main__":
    main()
