"""`local.settings.json`, read the way Azure Functions Core Tools reads it.

Its `Values` become environment variables of the app (a variable already set in the environment
wins, so a shell or a test can override one value); `Host.LocalHttpPort` is the default port.
`development_defaults()` are the `Values` of `local.settings.sample.json`, the one place the
development credentials live: `make run` copies that file, and the Twilio stand-in falls back to
the same values when there is no `local.settings.json`.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
#: The one set of development defaults: every setting with safe local values (fake credentials).
SAMPLE_FILE = PROJECT_ROOT / "local.settings.sample.json"


class LocalSettingsError(ValueError):
    """local.settings.json (or host.json) is malformed; the message names the file and the key."""


def read_json_file(path: Path) -> dict[str, Any]:
    """Parse a JSON object file; errors name the file and the line."""
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as exc:
        raise LocalSettingsError(
            f"{path.name}: not valid JSON (line {exc.lineno}, column {exc.colno}): {exc.msg}"
        ) from exc
    if not isinstance(data, dict):
        raise LocalSettingsError(f"{path.name}: the top level must be a JSON object")
    return data


def load_local_settings(app_dir: Path) -> dict[str, str]:
    """The `Values` of `app_dir/local.settings.json` ({} when the file is absent)."""
    path = app_dir / "local.settings.json"
    if not path.exists():
        return {}
    data = read_json_file(path)
    values = data.get("Values", {})
    if not isinstance(values, dict):
        raise LocalSettingsError(f"{path.name}: 'Values' must be an object of strings")
    result: dict[str, str] = {}
    for key, value in values.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, str | int | float):
            raise LocalSettingsError(f"{path.name}: 'Values.{key}' must be a string")
        result[str(key)] = str(value)
    return result


def local_http_port(app_dir: Path) -> int | None:
    """`Host.LocalHttpPort` of local.settings.json, if set."""
    path = app_dir / "local.settings.json"
    if not path.exists():
        return None
    host = read_json_file(path).get("Host", {})
    port = host.get("LocalHttpPort") if isinstance(host, dict) else None
    if port is None:
        return None
    if not isinstance(port, int) or not 0 < port < 65536:
        raise LocalSettingsError(f"{path.name}: 'Host.LocalHttpPort' must be a port number")
    return port


def apply_local_settings(
    app_dir: Path, environ: MutableMapping[str, str] | None = None
) -> dict[str, str]:
    """Copy `Values` into the environment without overriding variables already set."""
    target = os.environ if environ is None else environ
    values = load_local_settings(app_dir)
    for key, value in values.items():
        target.setdefault(key, value)
    return values


@functools.cache
def development_defaults() -> dict[str, str]:
    """The `Values` of local.settings.sample.json (what `make run` copies to local.settings.json)."""
    values = read_json_file(SAMPLE_FILE).get("Values", {})
    if not isinstance(values, dict):
        raise LocalSettingsError(f"{SAMPLE_FILE.name}: 'Values' must be an object of strings")
    return {str(k): str(v) for k, v in values.items()}
