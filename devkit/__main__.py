"""`python -m devkit COMMAND ...`: the local tools that run and test everything offline."""

from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "azurite": ("devkit.azurite", "start Azurite on loopback and print its connection string"),
    "twilio": ("devkit.twilio_standin", "a local Twilio REST API stand-in"),
    "host": ("devkit.host", "run function_app.py without Core Tools, like `func start`"),
    "call": ("devkit.simulator", "play an inbound call against the app, as Twilio would"),
    "sms": ("devkit.simulator", "send an inbound SMS to the app, as Twilio would"),
    "answer": ("devkit.simulator", "answer a call the app placed (a phone it rang) and play it"),
    "run": ("devkit.run", "what `make run` starts: Azurite, the Twilio stand-in and the host"),
    "mutation": ("devkit.mutation", "mutation testing of the pure rules by the unit tests"),
}


def usage() -> str:
    """The list of commands."""
    lines = ["usage: python -m devkit COMMAND [options]", "", "commands:"]
    lines += [f"  {name:<8} {text}" for name, (_, text) in COMMANDS.items()]
    lines.append("\n`python -m devkit COMMAND --help` shows a command's options.")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    """Dispatch to the command's module `main(argv)`."""
    if not argv or argv[0] in {"-h", "--help"}:
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    if name in {"call", "sms", "answer"}:
        return int(module.main([name, *rest]))
    return int(module.main(rest))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
