"""What every benchmark reports: figures, each with the goal it is judged by (or none).

A benchmark module's `main()` returns ``{"figures": [Figure.as_dict(), ...], ...details}``;
`python -m bench` prints every figure with its goal, writes them to `bench/latest.json` and exits
1 when a goal is missed. Adding a figure is one more `Figure(...)` in that list; its goal is
declared at the top of its module (``GOALS = goals({...})``), where `python -m bench --goals`
lists it with every other one (the README's Performance section quotes them), so no benchmark
can judge itself by a bound nobody sees.

Figures are counts (storage round trips, entities read) or ratios of two things measured side
by side in the same run: the machines these run on are shared and noisy, so an absolute time
means little from one run to the next, and no figure is ever judged against a constant speed.
"""

from __future__ import annotations

import operator
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "==": operator.eq,
}


@dataclass(frozen=True)
class Goal:
    """A bound a figure must stay within: ``value <op> bound``."""

    op: str
    bound: float
    unit: str = ""

    def met(self, value: float) -> bool:
        """Whether `value` meets the goal."""
        return _OPERATORS[self.op](value, self.bound)

    def __str__(self) -> str:
        symbol = {"<=": "≤", ">=": "≥", "==": "="}[self.op]
        return f"{symbol} {self.bound:g}{self.unit}"


#: Every goal of `make bench`, by figure key, as the benchmark modules declare them (`goals`).
#: A figure whose key has no goal is shown, not judged.
GOALS: dict[str, Goal] = {}


def goals(table: Mapping[str, Goal]) -> dict[str, Goal]:
    """Declare a benchmark's goals, at the top of its module: ``GOALS = goals({key: Goal})``.

    A new benchmark brings its figures and their goals in its own module (`python -m bench`
    finds it by its file name), so adding one never touches the runner or another module; a key
    declared twice with two different goals is an error, not a silent override.
    """
    for key, goal in table.items():
        if GOALS.setdefault(key, goal) != goal:
            raise ValueError(f"goal {key!r} is declared twice: {GOALS[key]} and {goal}")
    return dict(table)


@dataclass(frozen=True)
class Figure:
    """One measured figure: what it is, its value, and how it was obtained."""

    key: str
    label: str
    value: float
    unit: str = ""
    detail: str = ""

    @property
    def goal(self) -> Goal | None:
        """The goal `GOALS` sets for this figure, if any."""
        return GOALS.get(self.key)

    @property
    def met(self) -> bool | None:
        """Whether the goal is met (None: no goal)."""
        goal = self.goal
        return None if goal is None else goal.met(self.value)

    def line(self) -> str:
        """The figure as `python -m bench` prints it."""
        goal = self.goal
        verdict = "" if goal is None else f" (goal {goal}: {'met' if self.met else 'MISSED'})"
        detail = f" [{self.detail}]" if self.detail else ""
        return f"  {self.label}: {self.value:g}{self.unit}{verdict}{detail}"

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with the goal and the verdict."""
        data = asdict(self)
        goal = self.goal
        data["goal"] = str(goal) if goal is not None else None
        data["met"] = self.met
        return data


def side_by_side(rounds: int, **runs: Callable[[], int]) -> dict[str, float]:
    """Median CPU seconds per operation of each run, the runs alternating round by round (so
    that whatever else the machine does hits them alike). Each run does one round and returns
    how many operations it did. Thread CPU time, not wall time: another process holding the
    core for a while counts against neither."""
    samples: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run_round in runs.items():
            started = time.thread_time()
            count = run_round()
            samples[name].append((time.thread_time() - started) / max(1, count))
    return {name: statistics.median(values) for name, values in samples.items()}


class Paired(NamedTuple):
    """What `paired` measured: the median of the pairs' ratios, and each side's median."""

    ratio: float
    first: float
    second: float


def paired(pairs: int, first: Callable[[], int], second: Callable[[], int]) -> Paired:
    """`second`'s CPU seconds per operation ÷ `first`'s as the median of per-pair ratios: each
    pair is one round of each, back to back, the order swapping from pair to pair.

    For a small difference between two nearly equal runs. A busy spell of the machine (another
    process sharing the caches, the core's clock) that lasts a pair slows both its rounds and
    cancels out of its ratio, where a ratio of two medians taken over rounds far apart keeps
    it; and as each side runs first in half the pairs, neither pays more than the other for
    what ran before it. Each run does one round and returns how many operations it did; thread
    CPU time, as `side_by_side`."""
    ratios: list[float] = []
    samples: tuple[list[float], list[float]] = ([], [])
    for index in range(pairs):
        order = (0, 1) if index % 2 == 0 else (1, 0)
        per_operation = [0.0, 0.0]
        for side in order:
            run_round = (first, second)[side]
            started = time.thread_time()
            count = run_round()
            per_operation[side] = (time.thread_time() - started) / max(1, count)
            samples[side].append(per_operation[side])
        ratios.append(per_operation[1] / per_operation[0])
    return Paired(
        statistics.median(ratios), statistics.median(samples[0]), statistics.median(samples[1])
    )
