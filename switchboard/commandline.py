"""What every command module of `python -m switchboard` shares (click; not deployed).

Each capability keeps its own commands (`switchboard/<capability>/commands.py`) and
`switchboard.cli` only assembles them. They share: where settings come from (the environment
over `local.settings.json`, or `--settings FILE`), how a failure is printed (one line, exit
status 1; 2 for usage errors), what a command reads and how input it cannot take ends (every
problem printed, one a line, a JSON pointer first for a document, exit status 2, never a
traceback: `InvalidInput`, `read_json_file`, `parse_json_text`, `read_text_file`, and the
group, which also turns an `ApiError`, input nested too deeply for Python's recursion or bytes
that are not text escaping a command into that), JSON and tables on stdout, and one more thing
a new user needs:
when a command fails because the local services are not running (Azurite, the Twilio stand-in),
the message says so and says to start `make run`, instead of "Table Storage is not available".
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

import click

from switchboard.http import ApiError, json_bytes, loads_json
from switchboard.settings import Settings, SettingsError, is_loopback_host, load_settings

LOCAL_SETTINGS = "local.settings.json"
#: Azurite's table and queue ports when the connection string is `UseDevelopmentStorage=true`.
DEVELOPMENT_STORAGE = {"table": 10002, "queue": 10001, "blob": 10000}
START_HINT = "start `make run` (in another terminal), then run this again"


# --------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------


def read_local_settings(path: Path) -> dict[str, str]:
    """The `Values` of a local.settings.json ({} when the file does not exist)."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{path}: cannot read it as JSON ({exc})") from None
    values = data.get("Values", {}) if isinstance(data, dict) else None
    if not isinstance(values, dict):
        raise click.ClickException(f"{path}: 'Values' must be an object of strings")
    result: dict[str, str] = {}
    for key, value in values.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        if isinstance(value, str | int | float):
            result[str(key)] = str(value)
    return result


def settings_environment(
    settings_file: Path | None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """local.settings.json `Values` overlaid by the environment (the environment wins)."""
    source = dict(os.environ if environ is None else environ)
    path = settings_file or Path.cwd() / LOCAL_SETTINGS
    if settings_file is not None and not settings_file.exists():
        raise click.ClickException(f"{settings_file}: no such file")
    return {**read_local_settings(path), **source}


@dataclass
class Context:
    """What every command needs: where settings come from, loaded once on first use."""

    settings_file: Path | None = None
    _settings: Settings | None = None

    @property
    def settings(self) -> Settings:
        """The validated settings (a clear error naming the setting otherwise)."""
        if self._settings is None:
            try:
                self._settings = load_settings(settings_environment(self.settings_file))
            except SettingsError as exc:
                raise click.ClickException(str(exc)) from None
        return self._settings

    @property
    def loaded(self) -> Settings | None:
        """The settings when a command already loaded them (no error otherwise)."""
        return self._settings


pass_context = click.make_pass_decorator(Context)


# --------------------------------------------------------------------------------------------
# Output and failures
# --------------------------------------------------------------------------------------------


class Unavailable(click.ClickException):
    """A dependency (storage, Twilio) did not answer: the one failure `make run` may fix."""


class InvalidInput(click.ClickException):
    """Input a command cannot take: each problem on its own line, exit status 2."""

    exit_code = 2

    def __init__(self, problems: Sequence[str], heading: str | None = None) -> None:
        self.problems = [str(p) for p in problems] or ["invalid input"]
        self.heading = heading
        super().__init__(self.format_message())

    def format_message(self) -> str:
        """The heading (when given) and every problem, indented under it."""
        if self.heading is None and len(self.problems) == 1:
            return self.problems[0]
        lines = [self.heading or "invalid input:"]
        lines += [f"  {problem}" for problem in self.problems]
        return "\n".join(lines)


def failure(error: ApiError) -> click.ClickException:
    """The API's error as a one-line failure (exit status 1; `Unavailable` for a 503)."""
    detail = error.message
    if error.retry_after is not None:
        detail += f" (retry in {error.retry_after} s)"
    code = error.code if error.code[:1].isdigit() else None
    if error.status == 503:
        return Unavailable(detail)
    return click.ClickException(f"Twilio error {code}: {detail}" if code else detail)


def fail(error: ApiError) -> NoReturn:
    """Leave with the API's error as a one-line message (exit status 1)."""
    raise failure(error)


def api_problems(error: ApiError) -> list[str]:
    """Every problem an API error names: its `errors` (pointer: message) when it lists them,
    else its message."""
    errors = error.extra.get("errors") if error.extra else None
    if isinstance(errors, list) and errors:
        return [
            f"{e.get('field') or '/'}: {e.get('message')}" for e in errors if isinstance(e, dict)
        ]
    return [error.message]


def api_failure(error: ApiError, heading: str | None = None) -> click.ClickException:
    """The command line's error for an `ApiError`: `InvalidInput` (exit 2, every problem) for a
    request error, what was given is wrong; else `failure` (exit 1)."""
    if 400 <= error.status < 500 and not error.code[:1].isdigit():
        return InvalidInput(api_problems(error), heading)
    return failure(error)


def parse_json_text(text: str, name: str) -> Any:
    """JSON text given as `name` (a file, an option), or `InvalidInput` saying why not."""
    try:
        return loads_json(text)
    except json.JSONDecodeError as exc:
        raise InvalidInput(
            [f"{name}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})"]
        ) from None
    except RecursionError:
        raise InvalidInput([f"{name}: nested too deeply to be read"]) from None
    except ValueError as exc:  # a number too long to convert, ...
        raise InvalidInput([f"{name}: not valid JSON ({exc})"]) from None


def read_text_file(path: Path, what: str = "a text file") -> str:
    """A file's text: UTF-8 (a byte-order mark allowed), or `InvalidInput` saying why not."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InvalidInput([f"{path}: cannot be read ({reason})"]) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            [f"{path}: not UTF-8 text (byte {exc.start + 1}): save it as UTF-8 ({what})"]
        ) from None


def read_json_file(path: Path) -> Any:
    """A JSON file's content, or `InvalidInput` saying why it cannot be read."""
    return parse_json_text(read_text_file(path, "a JSON file"), str(path))


def storage_failed(what: str, exc: BaseException, after: str = "") -> NoReturn:
    """Leave because storage failed while doing `what` (the exception's type only: messages
    may hold account names)."""
    raise Unavailable(f"{what} ({type(exc).__name__}){after}")


def usage_error(error: ApiError) -> NoReturn:
    """Leave with the API's 400 as a usage error naming the field (exit status 2)."""
    raise click.UsageError(error.message) from None


@contextmanager
def writing(path: Path) -> Iterator[None]:
    """Around a command's writes to `path`: a file system's refusal (no such folder, no space
    left, not allowed, a folder where the file goes) ends the command with one line naming the
    file and why (exit status 1), never a traceback."""
    try:
        yield
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise click.ClickException(f"cannot write {exc.filename or path}: {why}") from None


def echo_json(data: Any, *, sort_keys: bool = True) -> None:
    """Pretty JSON on stdout (whatever a stored string holds: see `json_bytes`)."""
    click.echo(json_bytes(data, indent=2, sort_keys=sort_keys).decode("utf-8"))


def table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """Rows under headers, in columns as wide as their widest cell."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True))]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join(line.rstrip() for line in lines)


def yes_no(value: bool | None) -> str:
    """`yes`, `no`, or `?` when unknown."""
    return "?" if value is None else ("yes" if value else "no")


# --------------------------------------------------------------------------------------------
# "start `make run`": local services that do not answer
# --------------------------------------------------------------------------------------------


def _connection_endpoints(connection: str) -> list[tuple[str, str, int]]:
    parts = dict(
        item.split("=", 1) for item in connection.replace(" ", "").split(";") if "=" in item
    )
    lowered = {k.lower(): v for k, v in parts.items()}
    if lowered.get("usedevelopmentstorage", "").lower() == "true":
        return [
            (f"Azurite's {kind}s", "127.0.0.1", port)
            for kind, port in DEVELOPMENT_STORAGE.items()
            if kind != "blob"
        ]
    found = []
    for kind in ("table", "queue"):
        url = lowered.get(f"{kind}endpoint")
        if url:
            found.append((f"Azurite's {kind}s", *_host_port(url)))
    return [f for f in found if f[1]]


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return "", 0
    return parts.hostname or "", port


def local_endpoints(settings: Settings) -> list[tuple[str, str, int]]:
    """(what, host, port) of every service on this machine the settings name."""
    found: list[tuple[str, str, int]] = []
    if settings.azure_web_jobs_storage:
        found += _connection_endpoints(settings.azure_web_jobs_storage)
    else:
        for kind, url in (
            ("table", settings.storage_table_service_uri),
            ("queue", settings.storage_queue_service_uri),
        ):
            if url:
                found.append((f"Azurite's {kind}s", *_host_port(url)))
    found.append(("the Twilio stand-in", *_host_port(settings.twilio_api_base_url)))
    return [(what, host, port) for what, host, port in found if is_loopback_host(host)]


def answers(host: str, port: int, timeout: float = 0.3) -> bool:
    """Whether something accepts a TCP connection at host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def silent_services(settings: Settings) -> list[str]:
    """`host:port (what)` of each local service that does not answer."""
    return [
        f"{host}:{port} ({what})"
        for what, host, port in local_endpoints(settings)
        if not answers(host, port)
    ]


def not_running_message(silent: Sequence[str]) -> str:
    """The message of a command that failed because local services are not running."""
    return f"nothing answers at {', '.join(silent)}: {START_HINT}"


class SwitchboardGroup(click.Group):
    """The command group: a command that fails because storage or Twilio did not answer,
    while local services the settings name are not running, says which do not answer and to
    start `make run` (not a retry-later message); input that escapes a command (an `ApiError`,
    nesting too deep for Python's recursion, bytes that are not text) ends as `InvalidInput`
    (or a failure, for an `ApiError` that is not about the input), never as a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return self._invoke_input_checked(ctx)
        except Unavailable:
            context = ctx.find_object(Context)
            settings = context.loaded if context is not None else None
            silent = silent_services(settings) if settings is not None else []
            if silent:
                raise click.ClickException(not_running_message(silent)) from None
            raise

    def _invoke_input_checked(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ApiError as exc:
            raise api_failure(exc) from None
        except RecursionError:
            raise InvalidInput(["the input is nested too deeply to be read"]) from None
        except UnicodeError as exc:
            raise InvalidInput([f"the input is not valid text ({type(exc).__name__})"]) from None
