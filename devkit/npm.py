"""The devkit's Node.js tools (Azurite, Prism), installed from the npm registry into the project.

`package.json` and `package-lock.json` at the top level pin them, and Twilio's OpenAPI description
(the npm package `@twilio-alpha/mcp`, published by Twilio, ships it); `ensure_npm_packages()` runs
`npm ci` once when `node_modules/` lacks any of them, so a fresh clone needs only Node.js and npm.
"""

from __future__ import annotations

import fcntl
import shutil
import subprocess
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NODE_BIN = PROJECT_ROOT / "node_modules" / ".bin"
REQUIRED_BINARIES = ("azurite", "prism")
#: Twilio's OpenAPI description of the 2010-04-01 REST API, as the pinned npm package lays it out.
TWILIO_OAI_SPEC = (
    PROJECT_ROOT
    / "node_modules"
    / "@twilio-alpha"
    / "mcp"
    / "twilio-oai"
    / "spec"
    / "json"
    / "twilio_api_v2010.json"
)


class NodeMissingError(RuntimeError):
    """Node.js, npm or a package is missing; the message says what to install."""


def node_bin(name: str) -> Path:
    """Path of an installed npm binary of the project."""
    path = NODE_BIN / name
    if not path.exists():
        raise NodeMissingError(f"{name} is not installed: run `npm ci` in {PROJECT_ROOT}")
    return path


def _installed() -> bool:
    return TWILIO_OAI_SPEC.is_file() and all(
        (NODE_BIN / name).exists() for name in REQUIRED_BINARIES
    )


def ensure_npm_packages() -> None:
    """Install the project's npm packages when any is missing (idempotent, safe in parallel)."""
    if _installed():
        return
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise NodeMissingError(
            "Node.js 20+ and npm are needed for Azurite and Prism: install them "
            "(Debian/Ubuntu: `apt-get install nodejs npm`, or from nodejs.org) and try again"
        )
    lock_path = PROJECT_ROOT / "node_modules.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test workers install once
        try:
            if _installed():
                return
            command = ["npm", "ci", "--no-audit", "--no-fund"]
            if not (PROJECT_ROOT / "package-lock.json").exists():
                command[1] = "install"
            result = subprocess.run(
                command, cwd=PROJECT_ROOT, capture_output=True, text=True, check=False
            )
            if result.returncode != 0:
                raise NodeMissingError(
                    f"`{' '.join(command)}` failed ({result.returncode}):\n{result.stderr[-2000:]}"
                )
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
