"""Cold start: a fresh `python -c "import function_app"` against importing the floor set.

The floor is what any Python Functions app answering Twilio must import anyway: azure.functions,
azure.data.tables, twilio's TwiML builders and its request validator. Heavy clients
(twilio.rest, azure.storage.queue) load on first use, so the app should cost little more than
the floor. Runs alternate (app, floor, app, floor, ...) so machine noise hits both alike; the
figure is the ratio of medians. Goal: <= 1.25.
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
ROUNDS = 15
GOAL = 1.25


def _time(code: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    return time.perf_counter() - started


def main() -> dict[str, object]:
    """Measure and print the ratio of the app's cold import to the floor's."""
    _time(APP)  # warm the OS file cache and .pyc files once for both
    _time(FLOOR)
    app_times, floor_times = [], []
    for _ in range(ROUNDS):
        app_times.append(_time(APP))
        floor_times.append(_time(FLOOR))
    app, floor = statistics.median(app_times), statistics.median(floor_times)
    ratio = app / floor
    print(
        f"cold start: import function_app {app * 1000:.0f} ms, floor {floor * 1000:.0f} ms "
        f"(medians of {ROUNDS}, whole process) -> {ratio:.2f}x (goal <= {GOAL}x)"
    )
    return {
        "app_ms": round(app * 1000),
        "floor_ms": round(floor * 1000),
        "ratio": round(ratio, 2),
        "goal": GOAL,
        "met": ratio <= GOAL,
    }


if __name__ == "__main__":
    main()
