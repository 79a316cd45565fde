"""`python -m devkit mutation` (`make mutation`): how many broken rules the unit tests catch.

Mutation testing with mutmut: each target below is copied into `mutants/`, every function in it
is broken in many small ways (a `<` made `<=`, a constant changed, a branch dropped, a string
altered), one mutant at a time, and the unit tests that cover it (`tests/unit` only: the rules
must be pinned by tests of their own, not only by end-to-end ones) run against each. A mutant
the tests fail on is killed; one they pass on survived. The score is killed ÷ all mutants of the
targets; goal: at least 90 %.

`TARGETS` is the one list of what is mutated: the pure rules (a module, or one function of a
module as ``path::function``). Surviving mutants that cannot be killed because they change
nothing a caller can observe (equivalent mutants) are listed in `docs/MUTATION.md`, each with
the reason; the run fails when the score misses the goal or a survivor is not listed there.
The rest of the configuration (what is copied, how pytest runs) is `[tool.mutmut]` in
pyproject.toml. It takes a while (~30 min on two cores); results stay in `mutants/`.

``python -m devkit mutation [--report | --survivors | --only NAME ...] [--max-children N]``:
``--report`` scores the last run without running anything; ``--survivors`` runs again only the
mutants that survived the last run (after new tests: minutes, not half an hour); ``--only``
runs the mutants of one module or function (mutmut names, globs allowed:
``'switchboard.contacts.rules.*'``), the others keeping their last results.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: What is mutated, and only that (a new capability's pure rules are added here).
TARGETS = (
    "switchboard/*/rules.py",
    "switchboard/lines/hours.py",
    "switchboard/lines/document.py",
    "switchboard/calls/idempotency.py",
    "switchboard/contacts/importing.py",
    "switchboard/contacts/refs.py::ref_from_summary",
    "switchboard/conversations/relay.py",
    "switchboard/outbound/budget.py",
    "switchboard/outbound/destinations.py",
    "switchboard/outbound/windows.py",
    "switchboard/outbound/problems.py",
    "switchboard/schedules/replies.py",
    "switchboard/twilio/webhook.py::junk_refusal",
)
GOAL = 0.90
EQUIVALENTS = ROOT / "docs" / "MUTATION.md"
#: mutmut's exit codes of a mutant's test run, as mutmut reads them (`mutmut.stats`).
KILLED = {1, 3, 37}
SURVIVED = {0}
NO_TESTS = {5, 33}


def targets(root: Path = ROOT) -> list[tuple[Path, str | None]]:
    """(file, function or None for the whole module) of every target, globs expanded."""
    found: list[tuple[Path, str | None]] = []
    for target in TARGETS:
        pattern, _, function = target.partition("::")
        paths = sorted(root.glob(pattern))
        if not paths:
            raise SystemExit(f"mutation target {target!r} matches no file")
        found += [(path.relative_to(root), function or None) for path in paths]
    return found


def mutant_glob(path: Path, function: str | None) -> str:
    """The mutmut names of a target's mutants (`switchboard.lines.hours.x_clock__mutmut_3`)."""
    module = ".".join(path.with_suffix("").parts)
    return f"{module}.x_{function}__mutmut_*" if function else f"{module}.*"


def results(root: Path = ROOT) -> dict[str, int | None]:
    """Every mutant of the targets with its exit code (None: not run yet)."""
    globs = [mutant_glob(path, function) for path, function in targets(root)]
    found: dict[str, int | None] = {}
    for path, _ in targets(root):
        meta = root / "mutants" / f"{path}.meta"
        if not meta.exists():
            continue
        codes = json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
        found |= {
            name: code
            for name, code in codes.items()
            if any(fnmatch.fnmatchcase(name, pattern) for pattern in globs)
        }
    return found


def listed_equivalents(path: Path = EQUIVALENTS) -> set[str]:
    """The mutant names `docs/MUTATION.md` explains as equivalent (each in backquotes at the
    start of a list item of its "Equivalent mutants" section)."""
    if not path.exists():
        return set()
    text = path.read_text(encoding="utf-8")
    # Only the section of equivalent mutants counts (a list of survivors still to kill does not).
    section = text.partition("\n## Equivalent mutants")[2].split("\n## ", 1)[0]
    return set(re.findall(r"^\s*[-*] `(switchboard\.[^`]+)`", section, flags=re.MULTILINE))


def report(codes: dict[str, int | None]) -> int:
    """Print the score per module and in all, and the survivors not explained; 0 when met."""
    per_module: dict[str, Counter[str]] = {}
    for name, code in codes.items():
        module = name.split(".x_")[0].split(".xǁ")[0]
        kind = (
            "killed"
            if code in KILLED
            else "survived"
            if code in SURVIVED
            else "no tests"
            if code in NO_TESTS
            else "not run"
            if code is None
            else "timeout"
            if code in {24, -24, 36, 152, 255}
            else "other"
        )
        per_module.setdefault(module, Counter())[kind] += 1
    total: Counter[str] = Counter()
    for module, counts in sorted(per_module.items()):
        total += counts
        all_ = sum(counts.values())
        print(
            f"{module:40} {counts['killed']:5} of {all_:5} killed ({counts['killed'] / all_:.1%})"
            + "".join(f", {n} {k}" for k, n in sorted(counts.items()) if k != "killed")
        )
    all_ = sum(total.values())
    score = total["killed"] / all_ if all_ else 0.0
    # A mutant that hangs the tests (timeout) is caught too: the tests do not pass on it.
    caught = (total["killed"] + total["timeout"]) / all_ if all_ else 0.0
    print(
        f"{'all targets':40} {total['killed']:5} of {all_:5} killed ({score:.1%}); "
        f"with timeouts {caught:.1%}; goal {GOAL:.0%}"
    )
    explained = listed_equivalents()
    unexplained = sorted(n for n, c in codes.items() if c in SURVIVED and n not in explained)
    stale = sorted(n for n in explained if codes.get(n) not in SURVIVED)
    for name in unexplained:
        print(f"survived, not listed in docs/MUTATION.md: {name}")
    if stale:
        print(f"listed in docs/MUTATION.md but not surviving (drop them): {', '.join(stale)}")
    (ROOT / "mutants").mkdir(exist_ok=True)
    (ROOT / "mutants" / "score.json").write_text(
        json.dumps(
            {
                "score": score,
                "with_timeouts": caught,
                "counts": dict(total),
                "unexplained": unexplained,
            },
            indent=2,
        ),
        encoding="utf-8",
    )
    return 0 if caught >= GOAL and not unexplained and total["not run"] == 0 else 1


def run(max_children: int | None, names: list[str] | None = None) -> None:
    """Run mutmut over the targets (its configuration from pyproject, `only_mutate` from here),
    or over the mutants `names` only. Named mutants are always tested again."""
    from mutmut import configuration
    from mutmut.__main__ import cli

    # Property tests run once per mutant: the tests that read this take fewer examples.
    os.environ.setdefault("HYPOTHESIS_PROFILE", "mutation")

    configuration.config().only_mutate[:] = sorted({str(path) for path, _ in targets()})
    if names is None:
        names = [mutant_glob(path, function) for path, function in targets()]
    arguments = ["run", *names]
    if max_children:
        arguments += ["--max-children", str(max_children)]
    cli.main(arguments, standalone_mode=False)


def main(argv: list[str]) -> int:
    """`python -m devkit mutation [--report] [--max-children N]`."""
    parser = argparse.ArgumentParser(prog="python -m devkit mutation", description=__doc__)
    parser.add_argument("--report", action="store_true", help="score the last run only")
    parser.add_argument(
        "--survivors", action="store_true", help="test again what survived the last run"
    )
    parser.add_argument(
        "--only", nargs="+", metavar="NAME", help="only these mutants (mutmut names or globs)"
    )
    parser.add_argument("--max-children", type=int, default=None, help="parallel test runs")
    args = parser.parse_args(argv)
    if args.only:
        run(args.max_children, args.only)
    elif args.survivors:
        again = sorted(
            n for n, code in results().items() if code in SURVIVED | NO_TESTS or code is None
        )
        if again:
            run(args.max_children, again)
    elif not args.report:
        run(args.max_children)
    return report(results())


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
